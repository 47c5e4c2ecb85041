"""Progress of a fit on the console: Lightning's bar in a terminal, a few plain lines otherwise.

    fine-tuning: step 300/1200 (25%), train/loss 0.612, 41.2k tokens/s, ETA 2 min

`configure` (bench-run, per job) picks the mode: a single job in a terminal gets Lightning's bar, one whose
stdout is a file or a pipe gets a line every quarter of its steps. In a sweep the job's start and end lines
are its progress: no bar where jobs run in parallel (their bars would interleave), a bar under the basic
launcher in a terminal. The trainer config keeps `enable_progress_bar: false` (library use, tests); the
job sets it after its fingerprint and W&B config are taken, so a job run from a terminal and from a
script is the same job.
"""

from __future__ import annotations

import logging
import time

from lightning.pytorch.callbacks import ProgressBar

from bench.jobs.console import format_seconds

log = logging.getLogger(__name__)

_mode = "lines"  # bar | lines | quiet


def configure(tty: bool, sweep: bool, parallel: bool) -> str:
    global _mode
    if sweep:
        _mode = "bar" if tty and not parallel else "quiet"
    else:
        _mode = "bar" if tty else "lines"
    return _mode


def fit_progress(what: str) -> tuple[bool, list]:
    """(trainer.enable_progress_bar, the callbacks) of a fit: Lightning's bar, plain lines or nothing."""
    if _mode == "bar":
        return True, []
    if _mode == "lines":
        return True, [ProgressLines(what)]
    return False, []


def fit_progress_config(what: str) -> tuple[bool, dict | None]:
    """The same with the callback as a `callbacks.<name>` config entry (the fine-tuning fit instantiates
    the config's callbacks)."""
    enable, callbacks = fit_progress(what)
    return enable, ({"_target_": f"{__name__}.ProgressLines", "what": what} if callbacks else None)


class ProgressLines(ProgressBar):
    """Lightning's progress bar replaced by a log line at every `every` fraction of the fit's optimizer steps."""

    def __init__(self, what: str, every: float = 0.25) -> None:
        super().__init__()
        self.what, self.every = what, every
        self._enabled = True
        self._total = 0
        self._next = 0
        self._t0 = 0.0
        self._first = 0

    def disable(self) -> None:  # Lightning disables it on ranks other than 0
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def on_train_start(self, trainer, pl_module) -> None:
        self._total = int(trainer.max_steps if trainer.max_steps and trainer.max_steps > 0
                          else trainer.estimated_stepping_batches)
        self._first = trainer.global_step
        self._t0 = time.monotonic()
        if self.is_enabled and self._total:
            self._next = (self._first // self._quantum + 1) * self._quantum
            start = f" from step {self._first}" if self._first else ""
            log.info("%s: %d steps%s", self.what, self._total, start)

    @property
    def _quantum(self) -> int:
        return max(1, round(self.every * self._total))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if not self.is_enabled or not self._total or step < self._next:
            return
        self._next = (step // self._quantum + 1) * self._quantum
        done = step - self._first
        eta = (time.monotonic() - self._t0) / done * (self._total - step) if done else 0.0
        parts = [f"step {step}/{self._total} ({100 * step / self._total:.0f}%)"]
        for key, value in trainer.progress_bar_metrics.items():
            if key != "v_num":
                parts.append(f"{key} {float(value):.3g}")
        rate = next((float(v) for k, v in trainer.callback_metrics.items() if k.endswith("tokens_per_s")), None)
        if rate is not None:
            parts.append(f"{rate / 1000:.1f}k tokens/s")
        if step < self._total:
            parts.append(f"ETA {format_seconds(eta)}")
        log.info("%s: %s", self.what, ", ".join(parts))
