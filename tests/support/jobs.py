"""Running a fine-tuning job in the test's own process, and preparing its job dir by hand."""

from __future__ import annotations

from pathlib import Path

from omegaconf import open_dict

from bench.config.compose import compose_config
from bench.jobs.finetune import finetune
from bench.jobs.tracking import job_dir, run_name, run_tracked


def run_job(overrides: list[str], wandb_dir) -> dict:
    """What `bench-run <overrides>` does, in this process (the same name, job dir and W&B id)."""
    cfg = compose_config(overrides)
    with open_dict(cfg):
        cfg.logger.dir = str(wandb_dir)
    return run_tracked(cfg, run_name(overrides, cfg.job_type), finetune, reraise=True)


def job_dir_with_run_id(overrides: list[str], run_id: str) -> Path:
    """The job dir `bench-run <overrides>` will use, made with a W&B run id in it, as a killed attempt leaves it."""
    jdir = job_dir(compose_config(overrides), run_name(overrides, "finetune"))
    jdir.mkdir(parents=True)
    (jdir / "wandb_id").write_text(run_id)
    return jdir
