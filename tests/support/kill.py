"""A preemption at a known point, for the resume tests: `+callbacks.kill._target_=tests.support.kill.KillAtStep
+callbacks.kill.step=N` on the job's command line (`+callbacks.kill.signal=SIGTERM` for a stop signal instead of
SIGKILL; `+callbacks.kill.once=<file>` to stop only the first job of a sweep that gets there: it creates the file)."""

import os
import signal

from lightning.pytorch.callbacks import Callback


class KillAtStep(Callback):
    """Send `signal` to this process once the trainer made `step` optimizer steps: SIGKILL (no cleanup,
    like a node going away) by default, or a stop signal, which the job handles (bench/jobs/interrupts.py).
    A callback of its own runs before the resume checkpoint's (Lightning runs Checkpoint callbacks last)."""

    def __init__(self, step: int, signal: str = "SIGKILL", once: str | None = None) -> None:
        self.step, self.signal, self.once = step, signal, once
        self.sent = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.sent or trainer.global_step < self.step:
            return
        self.sent = True
        if self.once is not None:
            try:  # atomic: of parallel jobs exactly one creates it
                os.close(os.open(self.once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return
        os.kill(os.getpid(), getattr(signal, self.signal))


class FailAtStep(Callback):
    """Raise at `step` in the job whose module has learning rate `lr` (the others of a sweep go on): a job
    that fails inside its run, after the settings were accepted."""

    def __init__(self, step: int, lr: float) -> None:
        self.step, self.lr = step, lr

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step and pl_module.hparams.get("lr") == self.lr:
            raise RuntimeError(f"injected failure at step {trainer.global_step}")
