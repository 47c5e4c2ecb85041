"""The jobs of `bench-run`: the Hydra app, W&B tracking, pretraining, fine-tuning, speed."""
