"""The resume checkpoint of a pretraining or distillation: written at points Lightning resumes
from exactly, with the global RNG states Lightning's own checkpoint leaves out."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint

LAST_CKPT = "last.ckpt"


def _rng_states() -> dict[str, Any]:
    """The global RNGs (dropout draws from torch's), as tensors, ints and tuples: a checkpoint
    holding them loads with `torch.load(weights_only=True)`."""
    import numpy as np

    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))}


def _set_rng_states(states: Mapping[str, Any]) -> None:
    import numpy as np

    torch.set_rng_state(states["torch"])
    random.setstate(_tuples(states["python"]))
    name, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


class ResumeCheckpoint(Checkpoint):
    """Writes the resume checkpoint `path` (Lightning's own: weights, optimizer, scheduler, loop
    progress, the train loader's position when the loader is stateful) every `every_n_steps`
    optimizer steps or `every_minutes` minutes, whichever comes first, when Lightning has received
    SIGTERM (it stops right after this batch), and when training ends. Always right after an
    optimizer step's `on_train_batch_end`, a point Lightning resumes from exactly (a Checkpoint
    callback runs after the others). Its own state is the global RNGs, restored before the
    first resumed batch.
    """

    def __init__(self, path: str | Path, every_n_steps: int | None = 100, every_minutes: float | None = 30.0):
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"checkpoint every_n_steps must be >= 1 or null, got {every_n_steps}")
        if every_minutes is not None and every_minutes <= 0:
            raise ValueError(f"checkpoint every_minutes must be > 0 or null, got {every_minutes}")
        self.path = Path(path)
        self.every_n_steps, self.every_minutes = every_n_steps, every_minutes
        self._step = -1
        self._saved_at = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._step = trainer.global_step
        self._saved_at = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        stepped, self._step = trainer.global_step > self._step, trainer.global_step
        if not stepped:  # within an accumulation: the gradients so far are not in a checkpoint
            return
        due = self.every_n_steps is not None and trainer.global_step % self.every_n_steps == 0
        late = self.every_minutes is not None and time.monotonic() - self._saved_at >= 60 * self.every_minutes
        save = due or late or trainer.received_sigterm
        if trainer.world_size > 1:  # the clock and the signal are rank 0's: every rank takes part in a save
            save = trainer.strategy.broadcast(save, src=0)
        if save:
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def _save(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path)  # Lightning writes a temporary file and renames it
        self._saved_at = time.monotonic()

    def state_dict(self) -> dict[str, Any]:
        return {"rng": _rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _set_rng_states(state_dict["rng"])


__all__ = ["LAST_CKPT", "ResumeCheckpoint"]
