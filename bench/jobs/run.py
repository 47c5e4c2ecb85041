"""`bench-run`: the Hydra app. One job = one table cell for one seed = one W&B run.

    bench-run task=mnli model=albert_base                       # one job
    bench-run -m experiment=albert_sharing                      # a paper table's sweep
    bench-run experiment=roberta_masking hydra/launcher=joblib   # the same, jobs in parallel
    bench-run task=mnli trainer=ddp                             # one job, data parallel (2 processes)
    bench-run -m experiment=albert_sharing trainer=ddp_spawn    # a sweep, each job data parallel

A strategy that re-runs this command per rank (`ddp`, `fsdp`, `deepspeed`) is refused under `-m`
(use `trainer=ddp_spawn`, or SLURM's own ranks); see bench/jobs/strategy.py.
"""

from __future__ import annotations

import importlib
import logging
import warnings

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bench.config.schema import register_configs
from bench.io import CONF_DIR
from bench.jobs.strategy import launch_config
from bench.jobs.tracking import run_name, run_tracked

log = logging.getLogger(__name__)

# job_type -> "module:function" taking (cfg, wandb_run) and returning summary entries.
JOBS = {
    "finetune": "bench.jobs.finetune:finetune",
    "pretrain": "bench.jobs.pretrain:pretrain",
    "distill": "bench.jobs.pretrain:distill",
    "speed": "bench.jobs.speed:speed_job",
}

register_configs()
# conf/hydra/launcher/{joblib,submitit_slurm}.yaml share their names with the plugins' schemas on
# purpose (`hydra/launcher=joblib` stays the command); Hydra still validates them against those
# schemas, and only warns that the matching is deprecated.
warnings.filterwarnings("ignore", message=r"(?s).*is validated against ConfigStore schema with the same name")


def quiet_libraries() -> None:
    """Progress bars and tips of every library would bury the job's own log lines."""
    import datasets

    datasets.disable_progress_bars()
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "lightning.pytorch.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")


def job_function(job_type: str):
    if job_type not in JOBS:
        raise ValueError(f"job_type must be one of {', '.join(JOBS)}, got {job_type!r}")
    module, fn = JOBS[job_type].split(":")
    return getattr(importlib.import_module(module), fn)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    cfg = launch_config(cfg, multirun)
    quiet_libraries()
    import torch

    log.info("torch threads: %d", torch.get_num_threads())  # joblib caps it at cores // n_jobs
    job = job_function(cfg.job_type)
    run_tracked(cfg, run_name(list(hc.overrides.task), cfg.job_type), job, reraise=not multirun)


if __name__ == "__main__":
    main()
