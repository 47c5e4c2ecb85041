"""Models and LightningModules of the BERT-family benchmark suite."""
