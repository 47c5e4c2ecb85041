"""One W&B run per job: naming, the logged config, and a lifecycle that always finishes the run.

A job that raises is recorded as failed (exit code 1, `status=failed`, `error=...` in the summary);
a diverged training (non-finite loss) stops early and is recorded as `status=diverged`. Inside a
multirun the exception is not re-raised, so the sweep's other jobs run and the sweep ends cleanly
(Hydra's basic launcher would otherwise exit 1 at the end); in a single run it is re-raised.

Resume: a restarted job finds its job dir (same experiment, profile and overrides), its W&B id and
its `last.ckpt`, and continues from the checkpoint under the same id; its history reaches W&B once
per step (`bench.jobs.finetune.ResumableWandbLogger`). A stop signal (SIGTERM, SIGINT, SIGUSR1/2;
bench/jobs/interrupts.py) records the run as `interrupted` and keeps all of that. A job that
finished with the same config is skipped (bench/jobs/finished.py); `rerun=true` forces it.

What the run holds besides the job's config and summary: the machine and libraries (`env.*`,
bench/jobs/hardware.py), every curve against `trainer/global_step` (define_metric), the prediction files
as an artifact and the stored encoder used or trained (bench/jobs/lineage.py).

Distributed training: only the global-rank-0 process owns the W&B run and the job dir. A strategy
that re-launches the script per rank (Lightning's `ddp`, `fsdp`, `deepspeed`) runs this whole job
in every rank; the other ranks train without W&B and leave the job dir alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from bench.io import REPO_ROOT
from bench.jobs.finished import NOT_IN_NAME, headline, is_about, job_fingerprint, read_finished, write_finished
from bench.jobs.hardware import environment
from bench.jobs.interrupts import Interrupted, StopSignals, interrupt_exit
from bench.jobs.lineage import log_predictions
from bench.jobs.progress import fit_progress_config

# Set by torchrun / Lightning's script launcher (LOCAL_RANK, NODE_RANK), SLURM and LSF in the
# processes of ranks other than 0; a process where any is non-zero is not rank 0.
RANK_VARS = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")

log = logging.getLogger(__name__)


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_name(overrides: list[str], job_type: str) -> str:
    """An explicit, stable name built from the job's overrides (offline runs have none otherwise)."""
    keep = [o.lstrip("+~") for o in overrides if not is_about(o, NOT_IN_NAME)]
    return f"{job_type}:" + (",".join(sorted(keep)) if keep else "defaults")


class Diverged(FloatingPointError):
    """Training produced a non-finite loss."""


def is_rank_zero() -> bool:
    """Whether this process is global rank 0 (or not part of a distributed launch at all)."""
    return all(os.environ.get(k, "0").strip() in ("0", "") for k in RANK_VARS)


def job_dir(cfg: DictConfig, name: str) -> Path:
    """Where a job keeps its resumable state: stable across restarts of the same job. (What its state
    was trained on is checked against the data's content: `data_identity`, finished.json, data.json.)"""
    key = hashlib.sha1(f"{cfg.experiment}|{cfg.profile.name}|{name}".encode()).hexdigest()[:12]
    return Path(cfg.paths.cache) / "jobs" / str(cfg.experiment) / key


def data_identity(cfg: DictConfig) -> dict:
    """bench.data.identity.data_fingerprint of the job's language (the task's for a fine-tuning or speed
    job, the recipe's for a pretraining) and, but for a pretraining, of its task: the content of the
    tokenizer, corpus and task files. Builds them if they are missing (cheap once they exist)."""
    from bench.data.identity import data_fingerprint

    pretraining = cfg.job_type in ("pretrain", "distill")
    language = cfg.objective.language if pretraining else cfg.task.language
    return json.loads(json.dumps(data_fingerprint(cfg.data, str(language), None if pretraining else cfg.task)))


def run_tracked(cfg: DictConfig, name: str, job: Callable[[DictConfig, object], dict], *, reraise: bool) -> dict:
    """Open the W&B run, run `job(cfg, run)`, put its results in the summary, always finish.

    A job that finished before with the same config (`job_fingerprint`) is skipped: one log line,
    its earlier summary returned, no new W&B run (`rerun=true` runs it again from scratch). A job
    restarted after a kill or a stop signal finds its `last.ckpt` in its job dir and resumes from it
    under the same W&B run id (offline W&B writes a second directory; the run reader merges them).
    A stop signal (bench.jobs.interrupts) ends the run as interrupted and exits 128 + its number,
    in a sweep too (the sweep stops). On a rank other than 0 the job runs with `run=None` and
    nothing is recorded.
    """
    from bench.jobs.checks import check_job_config  # here: checks imports the jobs, which import this module

    try:
        check_job_config(cfg)
    except (ValueError, KeyError, TypeError) as e:  # refused before any run or file exists
        if reraise:
            raise
        log.error("refused: %s", e)  # a sweep goes on with its other jobs (check_sweep refuses it before, as a rule)
        return {"status": "refused", "error": f"{type(e).__name__}: {e}"}
    jdir = job_dir(cfg, name)
    fingerprint = job_fingerprint(cfg)
    done = read_finished(jdir)
    if (done is not None and done["fingerprint"] == fingerprint and not cfg.get("rerun")
            and done.get("data") is not None and done["data"] == _data_or_none(cfg)):
        log.info("skipped %s: finished before (%s; W&B run %s in %s); rerun=true runs it again",
                 name, headline(cfg, done["summary"]), done.get("run_id"), done.get("run_dir"))
        return {**done["summary"], "skipped": True}
    if not is_rank_zero():
        return _run_other_rank(cfg, jdir, job)
    if done is not None or cfg.get("rerun"):  # forced, or finished with another config: a new job
        shutil.rmtree(jdir, ignore_errors=True)
    import wandb
    from wandb.sdk.lib.runid import generate_id

    lg = cfg.logger
    Path(lg.dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    id_file = jdir / "wandb_id"
    # An earlier attempt that did not finish (killed, stopped, failed): its W&B run goes on.
    run_id = id_file.read_text().strip() if id_file.exists() else None
    resuming = run_id is not None and (jdir / "last.ckpt").exists()
    if not resuming and jdir.exists():  # nothing to resume from: start over (under the same run id)
        shutil.rmtree(jdir)
    jdir.mkdir(parents=True, exist_ok=True)
    run_id = run_id or generate_id()
    id_file.write_text(run_id)
    with open_dict(cfg):
        cfg.job_dir = str(jdir)
    run = wandb.init(
        project=lg.project, entity=lg.entity, mode=lg.mode, dir=str(lg.dir), group=cfg.experiment,
        job_type=cfg.job_type, name=name, tags=list(lg.tags or []), reinit="finish_previous", id=run_id,
        resume="allow", config=OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
    )
    run.config.update({"env": environment()}, allow_val_change=True)  # after the job's config: never in its fingerprint
    define_metrics(run, cfg)
    if cfg.job_type == "finetune":  # after the fingerprint and the W&B config: how it shows is not what it is
        enable, progress = fit_progress_config("fine-tuning")
        with open_dict(cfg):
            cfg.trainer.enable_progress_bar = enable
            if progress is not None:  # the fit instantiates the config's callbacks
                if cfg.get("callbacks") is None:
                    cfg.callbacks = {}
                cfg.callbacks.progress = progress
    summary: dict = {"status": "finished", "profile": cfg.profile.name, "git_commit": git_commit()}
    if resuming:
        summary["resumed_from"] = str(jdir / "last.ckpt")
    exit_code, error = 0, None
    with StopSignals() as stop:
        try:
            summary.update(job(cfg, run))
        except FloatingPointError as e:  # diverged: stopped early, recorded, never averaged
            summary.update(status="diverged", error=str(e))
            error = e
        except Exception as e:  # noqa: BLE001 - recorded in the run, re-raised outside multirun
            if stop.received is None:
                summary.update(status="failed", error=f"{type(e).__name__}: {e}")
                if not reraise:  # re-raised, its traceback is printed once, by whoever catches it (Hydra)
                    log.error("failed: %s", summary["error"], exc_info=True)
                exit_code, error = 1, e
            else:  # raised by the stop (a killed worker, a cut read)
                exit_code, error = _interrupted(summary, stop, e)
        except BaseException as e:  # SystemExit (a stop signal, Lightning's SIGTERMException), KeyboardInterrupt
            exit_code, error = _interrupted(summary, stop, e)
    if summary.get("predictions_dir") and summary["status"] == "finished":
        try:
            log_predictions(run, Path(summary["predictions_dir"]))
        except Exception as e:  # noqa: BLE001 - the files stay in the run's files/ (synced with it); the result stands
            log.warning("W&B: predictions not logged as an artifact: %s: %s", type(e).__name__, e)
    for k, v in summary.items():
        run.summary[k] = v
    run.finish(exit_code=exit_code)
    if summary["status"] == "interrupted":
        log.warning("interrupted: %s keeps its resume state; the same command resumes it", jdir)
        handler = stop.requeue_handler()
        if handler is not None:  # submitit's: requeue this job now that its checkpoint is written
            handler(stop.received, None)
        raise Interrupted(stop.received) if stop.received is not None else error
    if exit_code == 0:  # done: the resume state is no longer needed, the result is in W&B
        for ckpt in jdir.glob("*.ckpt"):
            ckpt.unlink()
        write_finished(jdir, fingerprint, _data_or_none(cfg), summary, run)
    if error is not None and reraise:
        raise error
    return summary


# Curves against the trainer's step (ResumableWandbLogger logs it in every row), whatever W&B's own step.
STEP_METRIC = "trainer/global_step"
CURVES = ("train/*", "pretrain/*", "distill/*", "early_stopping/*")


def define_metrics(run, cfg: DictConfig) -> None:
    """The dashboard's axes: every curve against the trainer's step; the dev metrics' summary is their
    last value, the one the job's final evaluation wrote and the report's table reads."""
    run.define_metric(STEP_METRIC, hidden=True)
    for pattern in CURVES:
        run.define_metric(pattern, step_metric=STEP_METRIC)
    task = cfg.get("task")
    if cfg.job_type == "finetune" and task is not None:
        run.define_metric(f"{task.name}/*", summary="last")


def _data_or_none(cfg: DictConfig) -> dict | None:
    try:
        return data_identity(cfg)
    except Exception:  # noqa: BLE001 - data it cannot read: nothing to compare, so never the same
        return None


def _interrupted(summary: dict, stop: StopSignals, error: BaseException) -> tuple[int, BaseException]:
    """Record a stopped job: never finished, its job dir (resume checkpoint, W&B id) kept."""
    signum, exit_code = interrupt_exit(stop, error)
    summary.update(status="interrupted", error=f"{type(error).__name__}: {error}".rstrip(": "))
    if signum is not None:
        summary["signal"] = signal.Signals(signum).name
    return exit_code, error


def _run_other_rank(cfg: DictConfig, jdir: Path, job: Callable[[DictConfig, object], dict]) -> dict:
    """A non-zero rank of a script-launched strategy: train along, record nothing.

    A divergence is seen by every rank at the same step (the module agrees on it across ranks);
    rank 0 records it, so this rank exits quietly instead of taking the launch down with it.
    """
    with open_dict(cfg):
        cfg.job_dir = str(jdir)
    try:
        return job(cfg, None)
    except FloatingPointError:
        return {"status": "diverged"}
