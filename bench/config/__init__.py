"""Composing and validating the Hydra tree: structured schemas, the effective architecture."""
