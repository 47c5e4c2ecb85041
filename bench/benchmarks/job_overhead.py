"""Benchmark: the per-job overhead of Hydra + W&B + Lightning setup (aim < 5 s), apart from the
job's own training: compose the config, open and finish an offline W&B run, build a Lightning
Trainer and fit one step of a tiny module.

    python -m bench.benchmarks.job_overhead [--repeats 3]

Process start-up and imports are timed once (the first job of a process pays them).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

t_start = time.perf_counter()
import lightning as L  # noqa: E402
import torch  # noqa: E402
from omegaconf import open_dict  # noqa: E402

from bench.config.compose import compose_config  # noqa: E402
from bench.jobs.tracking import run_tracked  # noqa: E402
from lightning_modules.finetune import FineTuneModule  # noqa: E402

IMPORTS_S = time.perf_counter() - t_start


def one_job(tmp: str) -> dict[str, float]:
    t0 = time.perf_counter()
    cfg = compose_config(["profile=smoke", "task=sst2"])
    with open_dict(cfg):
        cfg.logger.dir, cfg.logger.mode, cfg.paths.cache, cfg.rerun = tmp, "offline", tmp, True
    t1 = time.perf_counter()
    timings: dict[str, float] = {}

    def job(cfg, run):
        s0 = time.perf_counter()
        module = FineTuneModule({"vocab_size": 50, "embedding_size": 8, "hidden_size": 8, "num_layers": 1,
                                 "num_heads": 2, "intermediate_size": 16}, "classification", 2, total_steps=1)
        trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, accelerator="cpu")
        batch = {"input_ids": torch.randint(0, 50, (2, 5)), "labels": torch.tensor([0, 1])}
        trainer.fit(module, torch.utils.data.DataLoader([batch], batch_size=None))
        timings["lightning_s"] = time.perf_counter() - s0
        return {}

    t2 = time.perf_counter()
    run_tracked(cfg, "overhead", job, reraise=True)
    t3 = time.perf_counter()
    return {"compose_s": t1 - t0, "wandb_s": (t3 - t2) - timings["lightning_s"], **timings, "total_s": t3 - t0}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_job(tmp) for _ in range(args.repeats)]
    print(f"imports (once per process): {IMPORTS_S:.2f} s")
    for key in rows[0]:
        vals = [r[key] for r in rows]
        print(f"{key:<12} first {vals[0]:.2f} s, median of the rest {statistics.median(vals[1:] or vals):.2f} s")


if __name__ == "__main__":
    main()
