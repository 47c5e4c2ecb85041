"""What a sweep and its jobs print: one line when a job starts, one when it ends (its headline result and
wall time, the sweep's done/total and an ETA), and at the end of a sweep the counts of finished / failed /
interrupted / skipped jobs with the command that builds its report.

    [2/6] task=mnli objective=roberta seed=0
    [2/6] task=mnli objective=roberta seed=0 -> mnli/acc_m 51.5 (26 s); sweep 3/6 done, ETA 1 min

The sweep's side runs in the launching process (`SweepConsole`, a Hydra callback: the sweep size goes to
`<sweep dir>/sweep.json`); a job's side runs in the job's own process (a joblib worker, a SLURM job), so
each job writes its outcome to `<its output dir>/job.json` and counts the others' files for done/total.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from bench.io import CONF_DIR, atomic_write_text
from bench.jobs.finished import NOT_IN_NAME, is_about, override_key

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
JOB_FILE = "job.json"
# Overrides a job line leaves out: those its name leaves out, and the profile (the same for every job of a sweep;
# a `profile.<key>` override stays).
COUNTED = ("finished", "failed", "interrupted", "skipped")  # always shown; others when they occur


class ConsoleFormatter(logging.Formatter):
    """`HH:MM:SS message` for INFO; the level and logger for anything louder (a warning says who warns)."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        self._style._fmt = ("%(asctime)s %(message)s" if record.levelno <= logging.INFO
                            else "%(asctime)s %(levelname)s %(name)s: %(message)s")
        return super().format(record)


def job_label(overrides: list[str]) -> str:
    keep = [o.lstrip("+~") for o in overrides if not is_about(o, NOT_IN_NAME) and override_key(o) != "profile"]
    return " ".join(keep) if keep else "defaults"


def sweep_jobs(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides as Hydra's basic sweeper expands the sweep (its params, then the command line), in
    launch order; None for another sweeper."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    params += list(config.hydra.overrides.task)
    from hydra.core.global_hydra import GlobalHydra  # its config loader expands glob() over a group's options

    loader = GlobalHydra.instance().config_loader() if GlobalHydra.instance().is_initialized() else None
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(params)
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def format_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


# ---------------------------------------------------------------------------------------------
# The launching process


def _launcher(config: DictConfig) -> str:
    target = str(config.hydra.launcher.get("_target_", ""))
    return target.rsplit(".", 1)[-1].replace("Launcher", "").lower() or "basic"


class SweepConsole(Callback):
    """Hydra callback (conf/config.yaml: hydra.callbacks.console): the sweep's first and last lines."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        global _sweep
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = sweep_jobs(config)
        total = None if jobs is None else len(jobs)
        if jobs:
            from bench.jobs.checks import check_sweep  # lazy: the job modules load torch

            try:  # a cell that cannot run stops the sweep here, before any job starts
                check_sweep(jobs)
            except ValueError as e:  # SystemExit: Hydra turns a callback's exceptions into warnings and goes on
                raise SystemExit(f"bench-run: {e}") from None
            except Exception as e:  # noqa: BLE001 - a check that breaks leaves each job to check itself
                log.warning("sweep not checked before its first job (%s: %s); each job checks itself",
                            type(e).__name__, e)
        launcher = _launcher(config)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        offline = str(OmegaConf.select(config, "logger.mode", default="offline")) == "offline"
        _sweep = Sweep(sweep_dir, str(config.get("experiment")), total, time.time(), launcher, offline)
        atomic_write_text(sweep_dir / SWEEP_FILE, json.dumps(_sweep.__dict__, default=str))
        jobs = f"{total} jobs" if total is not None else "jobs"
        if launcher in ("slurm", "local") and "submitit" in str(config.hydra.launcher.get("_target_")):
            where = "SLURM" if launcher == "slurm" else "local processes (submitit)"
            folder = OmegaConf.select(config, "hydra.launcher.submitit_folder", default=None)
            log.info("sweep %s: submitting %s to %s; their logs: %s (%%j: the job id), results: %s/<n>",
                     _sweep.experiment, jobs, where, folder, sweep_dir)
        else:
            log.info("sweep %s: %s, %s launcher, outputs in %s", _sweep.experiment, jobs, launcher, sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_ended()


@dataclass
class Sweep:
    dir: Path
    experiment: str
    total: int | None
    started: float
    launcher: str
    offline: bool = True


_sweep: Sweep | None = None


def sweep_ended() -> None:
    """The sweep's last lines (once): counts, time, the report command. Also after a stop signal
    or an error ends a sweep (bench.jobs.run.main), when Hydra skips on_multirun_end."""
    global _sweep
    if _sweep is None:
        return
    sweep, _sweep = _sweep, None
    counts = count_jobs(sweep.dir, sweep.started)
    reported = sum(counts.values())
    parts = [f"{counts.get(k, 0)} {k}" for k in COUNTED] + [f"{n} {k}" for k, n in counts.items() if k not in COUNTED]
    if sweep.total is not None and reported < sweep.total:
        parts.append(f"{sweep.total - reported} not run")
    log.info("sweep %s ended after %s: %s", sweep.experiment, format_seconds(time.time() - sweep.started),
             ", ".join(parts))
    if (CONF_DIR / "report" / f"{sweep.experiment}.yaml").exists():
        log.info("report: bench-report experiment=%s runs=%s", sweep.experiment, sweep.dir)
    if sweep.offline and reported:
        log.info("upload to W&B: wandb sync %s/*/wandb/offline-run-*", sweep.dir)


def count_jobs(sweep_dir: Path, since: float) -> dict[str, int]:
    """Outcome -> jobs, from the `job.json` files the jobs of this sweep (ended after `since`) wrote."""
    counts: dict[str, int] = {}
    for path in Path(sweep_dir).glob(f"*/{JOB_FILE}"):
        try:
            job = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if float(job.get("ended", 0)) >= since:
            counts[job["outcome"]] = counts.get(job["outcome"], 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# The job's process


@dataclass
class JobLine:
    """One job's start and end lines; `sweep` is None for a single run."""

    label: str
    num: int | None = None
    sweep: dict | None = None
    out_dir: Path | None = None
    started: float = 0.0

    @classmethod
    def from_hydra(cls, hc) -> JobLine:
        label = job_label(list(hc.overrides.task))
        from hydra.types import RunMode

        if hc.mode != RunMode.MULTIRUN:
            return cls(label)
        sweep_file = Path(hc.sweep.dir) / SWEEP_FILE
        try:
            sweep = json.loads(sweep_file.read_text())
        except (OSError, ValueError):
            sweep = {"total": None, "started": time.time()}
        return cls(label, int(hc.job.num), sweep, Path(hc.runtime.output_dir))

    @property
    def prefix(self) -> str:
        if self.num is None:
            return ""
        total = (self.sweep or {}).get("total")
        return f"[{self.num + 1}/{total if total is not None else '?'}] "

    def start(self) -> None:
        self.started = time.time()
        log.info("%s%s", self.prefix, self.label)

    def end(self, outcome: str, result: str) -> None:
        seconds = time.time() - self.started
        tail = ""
        if self.sweep is not None and self.out_dir is not None:
            atomic_write_text(self.out_dir / JOB_FILE,
                              json.dumps({"outcome": outcome, "result": result, "seconds": seconds,
                                          "ended": time.time()}))
            tail = self._progress()
        log.info("%s%s -> %s (%s)%s", self.prefix, self.label, result, format_seconds(seconds), tail)

    def _progress(self) -> str:
        started, total = float(self.sweep["started"]), self.sweep.get("total")
        counts = count_jobs(self.out_dir.parent, started)
        done = sum(counts.values())
        if total is None:
            return f"; {done} done"
        # A resumed sweep skips its finished jobs in no time: the pace is that of the jobs that ran (an upper
        # bound: jobs still to come may be skipped too).
        ran = done - counts.get("skipped", 0)
        if done >= total or ran == 0:
            return f"; sweep {done}/{total} done"
        eta = (time.time() - started) / ran * (total - done)
        return f"; sweep {done}/{total} done, ETA {format_seconds(eta)}"


def outcome_of(summary: dict) -> str:
    if summary.get("skipped"):
        return "skipped"
    return str(summary.get("status", "finished"))


def result_text(cfg: DictConfig, summary: dict) -> str:
    """`mnli/acc_m 51.5` for a finished job; the state and its reason otherwise."""
    from bench.jobs.finished import headline

    outcome = outcome_of(summary)
    key, _, value = headline(cfg, summary).partition("=")
    try:
        value = f"{float(value):.{1 if abs(float(value)) >= 1 else 3}f}"
    except ValueError:
        pass
    metric = f"{key} {value}" if key != "status" else ""
    if outcome == "finished":
        return metric or "finished"
    if outcome == "skipped":
        return f"skipped, finished before ({metric})" if metric else "skipped, finished before"
    reason = summary.get("signal") or summary.get("error")
    return f"{outcome}: {reason}" if reason else outcome
