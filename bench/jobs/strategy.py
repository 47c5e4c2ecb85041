"""Lightning strategies and how a job is launched: which ones re-run the script per rank, what a
launch refuses, and the pretraining through the store, which always spawns its workers.

Lightning's `ddp` (and `fsdp`, `deepspeed`) start their extra ranks by re-running
`python -m bench.jobs.run <this command line>`: under `-m` every child would run the whole sweep
again, and a rank would wait for the store's lock that rank 0 holds while rank 0 waits for it to
join the fit.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

from omegaconf import DictConfig, ListConfig, open_dict

log = logging.getLogger(__name__)

# Lightning strategies whose launcher re-runs `python -m bench.jobs.run <argv>` for every extra rank
# (the spawn/fork/notebook variants start workers inside this process instead).
SCRIPT_LAUNCHED = ("ddp", "fsdp", "deepspeed")
# Job types whose whole work is a pretraining through the checkpoint store (under its file lock).
STORE_JOBS = ("pretrain", "distill")


def relaunches_script(strategy: Any) -> bool:
    """Whether a Lightning `strategy` value starts its extra ranks by re-running the script."""
    if not isinstance(strategy, str):
        return False  # a Strategy object (configured in code) is the user's responsibility
    name = strategy.lower()
    return name.startswith(SCRIPT_LAUNCHED) and not any(w in name for w in ("spawn", "fork", "notebook"))


def slurm_ranks() -> bool:
    """SLURM started several tasks for this job: every task is a rank and runs the whole job."""
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1


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

    A script-launched strategy with more than one process is fine for a single run, broken under
    -m, unless SLURM creates the processes (nothing is re-launched then). A pretrain/distill job
    under several SLURM tasks would run its pretraining in every task, all waiting for the lock.
    """
    if cfg.job_type in STORE_JOBS and slurm_ranks():
        raise ValueError(f"job_type={cfg.job_type} with SLURM_NTASKS={os.environ['SLURM_NTASKS']}: every task would "
                         "run this pretraining and wait for the store's lock that rank 0 holds; use "
                         "hydra.launcher.tasks_per_node=1 with trainer=ddp_spawn for pretraining")
    t = cfg.get("trainer")
    if t is None or not relaunches_script(t.get("strategy")):
        return
    single = _processes(t) == 1 and int(t.get("num_nodes", 1)) == 1
    if multirun and not single and not slurm_ranks():
        raise ValueError(
            f"trainer.strategy={t.strategy} starts its extra processes by re-running `python -m bench.jobs.run` with this "
            "command line, which under -m (multirun) would run the whole sweep again in every process. Use "
            "trainer=ddp_spawn (the same data parallelism, workers spawned inside each job), or on SLURM "
            "hydra/launcher=submitit_slurm with hydra.launcher.tasks_per_node=<devices>, so that SLURM starts the "
            f"ranks; {t.strategy} as such is for a single run (no -m).")


def store_strategy(cfg: DictConfig) -> DictConfig:
    """The config a pretraining through the store runs under: `cfg` itself, or a copy with
    trainer.strategy=ddp_spawn where the strategy re-launches the script (see the module doc)."""
    t = cfg.get("trainer")
    if t is None or not relaunches_script(t.get("strategy")):
        return cfg
    log.warning("pretraining through the store with trainer.strategy=ddp_spawn instead of %s (the store's lock "
                "and per-rank re-launching do not mix)", t.strategy)
    out = copy.deepcopy(cfg)
    with open_dict(out):
        out.trainer.strategy = "ddp_spawn"
    return out


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


def launch_config(cfg: DictConfig, multirun: bool) -> DictConfig:
    """The job's config checked for this launch, with a pretrain/distill job's strategy made store-safe."""
    check_strategy(cfg, multirun)
    if cfg.job_type in STORE_JOBS:
        cfg = store_strategy(cfg)
    share_tensors_by_file(cfg)
    return cfg
