"""`bench-run`: the Hydra app. One job = one table cell for one seed = one W&B run.

    bench-run task=mnli model=albert_base                       # one job
    bench-run -m experiment=albert_sharing                      # a paper table's sweep
    bench-run experiment=roberta_masking hydra/launcher=joblib   # the same, jobs in parallel
"""

from __future__ import annotations

import importlib

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bench.io import CONF_DIR
from bench.schema import register_configs
from bench.tracking import run_name, run_tracked

# job_type -> "module:function" taking (cfg, wandb_run) and returning summary entries.
JOBS = {
    "finetune": "bench.finetune_job:finetune",
    "pretrain": "bench.pretrain_job:pretrain",
    "distill": "bench.pretrain_job:distill",
    "speed": "bench.speed:speed_job",
}

register_configs()


def quiet_libraries() -> None:
    """Progress bars and tips of every library would bury the job's own log lines."""
    import logging
    import warnings

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
    quiet_libraries()
    job = job_function(cfg.job_type)
    run_tracked(cfg, run_name(list(hc.overrides.task), cfg.job_type), job, reraise=hc.mode != RunMode.MULTIRUN)


if __name__ == "__main__":
    main()
