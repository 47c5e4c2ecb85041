"""A preemption at a known point, for the resume tests: `+callbacks.kill._target_=tests.support.kill.KillAtStep
+callbacks.kill.step=N` on the job's command line."""

import os
import signal

from lightning.pytorch.callbacks import Callback


class KillAtStep(Callback):
    """SIGKILL this process, no cleanup, like a node going away, once the trainer made `step` optimizer steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
