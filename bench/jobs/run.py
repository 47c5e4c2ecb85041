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
import signal
import sys
import warnings

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bench.config.schema import register_configs
from bench.io import CONF_DIR
from bench.jobs import progress
from bench.jobs.console import JobLine, outcome_of, result_text, sweep_ended
from bench.jobs.interrupts import Interrupted
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


# Library loggers whose INFO lines no user acts on (seeding, accelerators, tips, "`weights_only` was not
# set" at every checkpoint save: the resume checkpoint is the full state on purpose); their warnings show.
QUIET_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed",
                 "lightning.pytorch.accelerators", "lightning.fabric.utilities.distributed",
                 "lightning.pytorch.trainer.connectors.checkpoint_connector")


def quiet_libraries(tty: bool) -> None:
    """Each line once: Lightning's own console handlers go (Hydra's handlers print its records, to the
    console and the job's log), notes no one acts on are dropped; datasets' bars only in a terminal."""
    import datasets
    import lightning  # noqa: F401 - its import adds the handlers removed here

    if not tty:
        datasets.disable_progress_bars()
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in NOT_ACTIONABLE:
        warnings.filterwarnings("ignore", message=message)


# Lightning warnings about choices the suite makes on purpose (every other warning shows):
NOT_ACTIONABLE = (
    # the store pretraining validates once, after its fit (trainer.validate), not during it
    r"You defined a `validation_step` but have no `val_dataloader`",
    # lightning 2.6 calling an API torch 2.13 deprecated: nothing a user of the suite changes
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # fits are counted in steps: rows are logged every log_every_n_steps across epochs, short epochs included
    r"The number of training batches \(\d+\) is smaller than the logging interval",
)


def job_function(job_type: str):
    if job_type not in JOBS:
        raise ValueError(f"job_type must be one of {', '.join(JOBS)}, got {job_type!r}")
    module, fn = JOBS[job_type].split(":")
    return getattr(importlib.import_module(module), fn)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def app(cfg: DictConfig) -> dict:
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    cfg = launch_config(cfg, multirun)
    tty = sys.stdout.isatty()
    quiet_libraries(tty)
    progress.configure(tty, sweep=multirun, parallel="basic_launcher" not in str(hc.launcher.get("_target_", "")))
    import torch

    log.debug("torch threads: %d", torch.get_num_threads())  # joblib caps it at cores // n_jobs
    job = job_function(cfg.job_type)
    line = JobLine.from_hydra(hc)
    line.start()
    summary: dict = {"status": "failed"}
    try:
        summary = run_tracked(cfg, run_name(list(hc.overrides.task), cfg.job_type), job, reraise=not multirun)
    except Interrupted as e:
        summary = {"status": "interrupted", "signal": signal.Signals(e.signum).name}
        raise
    except BaseException as e:
        summary = {"status": "failed", "error": f"{type(e).__name__}: {e}".splitlines()[0]}
        raise
    finally:
        line.end(outcome_of(summary), result_text(cfg, summary))
    return summary


def main() -> None:
    """`bench-run`: the Hydra app; a sweep's last lines also when a stop signal or an error ends it."""
    try:
        app()
    finally:
        sweep_ended()


if __name__ == "__main__":
    main()
