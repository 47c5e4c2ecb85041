"""Entry points and plumbing of the BERT-family benchmark suite (runs, data, reports)."""
