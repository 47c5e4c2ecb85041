"""`bench-run`: the Hydra app. One job = one table cell for one seed = one W&B run.

    bench-run task=mnli model=albert_base                       # one job
    bench-run -m experiment=albert_sharing                      # a paper table's sweep
    bench-run experiment=roberta_masking hydra/launcher=joblib   # the same, jobs in parallel
    bench-run task=mnli trainer=ddp                             # one job, data parallel (2 processes)
    bench-run -m experiment=albert_sharing trainer=ddp_spawn    # a sweep, each job data parallel

Distributed training inside a sweep: Lightning's `ddp` (and `fsdp`, `deepspeed`) start their extra
ranks by re-running `python -m bench.jobs.run <this command line>`; under `-m` every child would run
the whole sweep again. The job refuses that with a message pointing to `trainer=ddp_spawn`
(unless SLURM starts the ranks itself: hydra/launcher=submitit_slurm with tasks_per_node=devices).
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, open_dict

from bench.config.schema import register_configs
from bench.io import CONF_DIR
from bench.jobs.tracking import relaunches_script, run_name, run_tracked

log = logging.getLogger(__name__)

# job_type -> "module:function" taking (cfg, wandb_run) and returning summary entries.
JOBS = {
    "finetune": "bench.jobs.finetune:finetune",
    "pretrain": "bench.jobs.pretrain:pretrain",
    "distill": "bench.jobs.pretrain:distill",
    "speed": "bench.jobs.speed:speed_job",
}
# Job types whose whole work is a pretraining through the checkpoint store (under its file lock).
STORE_JOBS = ("pretrain", "distill")

register_configs()
# conf/hydra/launcher/{joblib,submitit_slurm}.yaml share their names with the plugins' schemas on
# purpose (`hydra/launcher=joblib` stays the command); Hydra still validates them against those
# schemas, and only warns that the matching is deprecated.
warnings.filterwarnings("ignore", message=r".*is validated against ConfigStore schema with the same name")


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


def _processes(trainer_cfg: DictConfig) -> int | None:
    """Processes per node the trainer asks for (None: decided at run time, e.g. devices=auto or -1)."""
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, (list, tuple, ListConfig)):
        return len(devices)
    try:
        n = int(devices)
    except (TypeError, ValueError):
        return None
    return None if n < 0 else n


def check_strategy(cfg: DictConfig, multirun: bool) -> None:
    """Refuse a strategy that cannot work in this launch, before anything is written.

    A script-launched strategy (ddp, fsdp, deepspeed) with more than one process re-runs the
    command line per rank: fine for a single run, broken under -m, unless the processes are
    created by SLURM (SLURM_NTASKS > 1: every task is a rank, nothing is re-launched).
    """
    t = cfg.get("trainer")
    if t is None or not relaunches_script(t.get("strategy")):
        return
    single = _processes(t) == 1 and int(t.get("num_nodes", 1)) == 1
    if multirun and not single and not _slurm_ranks():
        raise ValueError(
            f"trainer.strategy={t.strategy} starts its extra processes by re-running `python -m bench.jobs.run` with this "
            "command line, which under -m (multirun) would run the whole sweep again in every process. Use "
            "trainer=ddp_spawn (the same data parallelism, workers spawned inside each job), or on SLURM "
            "hydra/launcher=submitit_slurm with hydra.launcher.tasks_per_node=<devices>, so that SLURM starts the "
            f"ranks; {t.strategy} as such is for a single run (no -m).")


def _slurm_ranks() -> bool:
    """SLURM started several tasks for this job: every task is a rank and runs the whole job."""
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1


def store_safe_strategy(cfg: DictConfig) -> None:
    """A pretrain/distill job is one fit under the store's lock: a script-launched rank would block
    on that lock while rank 0 waits for it to join, so these jobs spawn their workers instead."""
    t = cfg.get("trainer")
    if cfg.job_type in STORE_JOBS and _slurm_ranks():
        raise ValueError(f"job_type={cfg.job_type} with SLURM_NTASKS={os.environ['SLURM_NTASKS']}: every task would "
                         "run this pretraining and wait for the store's lock that rank 0 holds; use "
                         "hydra.launcher.tasks_per_node=1 with trainer=ddp_spawn for pretraining")
    if cfg.job_type in STORE_JOBS and t is not None and relaunches_script(t.get("strategy")):
        log.warning("job_type=%s: trainer.strategy=%s replaced by ddp_spawn (the store's lock and per-rank "
                    "re-launching do not mix)", cfg.job_type, t.strategy)
        with open_dict(cfg):
            cfg.trainer.strategy = "ddp_spawn"


def share_tensors_by_file(cfg: DictConfig) -> None:
    """Spawned workers get the module and data through shared memory. torch's default (passing
    file descriptors) failed here for the pretraining fit ("unable to resize file ... Invalid
    argument") where the file-system strategy works; every spawn this job may do uses the latter.
    (A script-launched strategy still spawns for a pretraining through the store.)"""
    t = cfg.get("trainer")
    strategy = str(t.get("strategy")) if t is not None else ""
    if "spawn" in strategy or relaunches_script(strategy):
        import torch.multiprocessing

        torch.multiprocessing.set_sharing_strategy("file_system")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    check_strategy(cfg, multirun)
    store_safe_strategy(cfg)
    share_tensors_by_file(cfg)
    quiet_libraries()
    import torch

    log.info("torch threads: %d", torch.get_num_threads())  # joblib caps it at cores // n_jobs
    job = job_function(cfg.job_type)
    run_tracked(cfg, run_name(list(hc.overrides.task), cfg.job_type), job, reraise=not multirun)


if __name__ == "__main__":
    main()
