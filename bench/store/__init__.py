"""The checkpoint store: pretrained encoders keyed by what produced them."""
