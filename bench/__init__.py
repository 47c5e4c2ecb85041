"""Entry points and plumbing of the BERT-family benchmark suite (runs, data, reports)."""

import os

# Idle OpenMP threads must sleep, not spin: on a small machine running several jobs (joblib
# launcher, tests) spinning threads starve each other and make tiny fits ~10x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
