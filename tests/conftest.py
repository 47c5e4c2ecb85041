import os

# Idle OpenMP threads must not spin: on a 2-core machine they starve the other thread (and
# other processes) and make tiny Lightning fits an order of magnitude slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402

from tests.support.world import synthetic_world  # noqa: E402, F401 - one synthetic world per session

# Tests share the machine with nothing heavy; two threads keep timings of nearby tests sane.
torch.set_num_threads(min(2, os.cpu_count() or 1))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test (timings and ONNX Runtime sessions compare like with like), then as before."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_cfg():
    from lightning_modules.encoder import EncoderConfig

    return EncoderConfig(
        vocab_size=97, embedding_size=16, hidden_size=32, num_layers=3, num_heads=4, intermediate_size=48,
        max_position_embeddings=64, dropout=0.0, attention_dropout=0.0,
    )


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache (data, features, tokenizers, store, job dirs) for one test."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def read_settled_runs():
    """read_runs for runs this process has just finished: wandb-core may still be writing a run's
    last blocks (its exit record) when `finish()` returns. Until then the reader rightly calls the
    run crashed, or, when it catches a write midway (CI once saw a file end at byte 8192 inside a
    chunk), truncated. Polls for up to 10 s until no run reads as either; then reads once more and
    lets that answer stand."""
    import time

    from bench.results.runfile import RunFileTruncated
    from bench.results.runs import read_runs

    def read(path, **kwargs):
        for _ in range(50):
            try:
                runs = read_runs(path, **kwargs)
                if "crashed" not in set(runs.state):
                    return runs
            except RunFileTruncated:
                pass
            time.sleep(0.2)
        return read_runs(path, **kwargs)

    return read


@pytest.fixture
def evaluated_weights(monkeypatch) -> list[dict]:
    """The weights each fine-tuning job of the test scores in its final evaluation: a copy of the
    module's state per call of `evaluate` where the job looks it up (`bench.jobs.finetune.job`;
    early stopping's checks, which name their `splits`, are left out)."""
    import bench.jobs.finetune.job as job

    seen: list[dict] = []
    real_evaluate = job.evaluate

    def evaluate(module, *args, **kwargs):
        if kwargs.get("splits") is None:
            seen.append({k: v.clone() for k, v in module.state_dict().items()})
        return real_evaluate(module, *args, **kwargs)

    monkeypatch.setattr(job, "evaluate", evaluate)
    return seen
