"""What lets a killed fine-tuning job resume to the same result: the epoch-end checkpoint, each
epoch's own batch order, and a W&B history that survives the kill."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from bench.io import atomic_write_text

# In the job dir: the resume checkpoint and every logged row.
LAST_CKPT = "last.ckpt"
HISTORY_FILE = "history.jsonl"


class ResumableWandbLogger(WandbLogger):
    """Lightning's WandbLogger with the W&B step = the trainer's step, every row also appended to
    `<job_dir>/history.jsonl` (flushed: it survives a SIGKILL, the W&B file's tail does not).

    Offline W&B cannot resume a run: a resumed job `replay`s the rows before its checkpoint's step
    into its new W&B directory, and the run reader, which lets a later directory replace an earlier
    one from its first step on, gets every step exactly once. The job's resolved config is the run's
    config already, so module hyperparameters are not logged again as top-level keys.
    """

    def __init__(self, run, history_file: Path) -> None:
        super().__init__(experiment=run)
        self.history_file = Path(history_file)

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        return None

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        row = {k: float(v) for k, v in metrics.items()}
        if step is None:
            self.experiment.log(row)
            return
        row["trainer/global_step"] = int(step)
        with open(self.history_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": int(step), "row": row}) + "\n")
        self.experiment.log(row, step=int(step))

    def replay(self, before_step: int) -> int:
        """Log again the rows an earlier attempt logged before `before_step` (the resumed run's
        first rows) and forget the later ones, which the resumed training logs anew."""
        rows: list[dict] = []
        if self.history_file.exists():
            for line in self.history_file.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:  # a line cut by the kill
                    break
                if int(item["step"]) < before_step:
                    rows.append(item)
        atomic_write_text(self.history_file, "".join(json.dumps(r) + "\n" for r in rows))
        for item in rows:
            self.experiment.log(item["row"], step=int(item["step"]))
        return len(rows)


class JobCheckpoint(Callback):
    """`last.ckpt` after the last batch of every epoch, and when training ends.

    Saved at the epoch's last `on_train_batch_end`, the one place Lightning 2.6 resumes from
    exactly: from a checkpoint written in `on_train_epoch_end` (ModelCheckpoint's default) an
    iteration-based (max_steps) fit re-runs one batch. Lightning writes a temporary file and renames it.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx + 1 >= trainer.num_training_batches:
            trainer.save_checkpoint(self.path)

    def on_train_end(self, trainer, pl_module) -> None:
        trainer.save_checkpoint(self.path)


class EpochOrder(Callback):
    """Gives each epoch its own batch order: Lightning 2.6 calls `set_epoch` only on
    `loader.sampler` and `loader.batch_sampler.sampler`, never on a batch sampler itself."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        set_loader_epoch(trainer.train_dataloader, trainer.current_epoch)


def set_loader_epoch(loader, epoch: int) -> None:
    batch_sampler = getattr(loader, "batch_sampler", None)
    if callable(getattr(batch_sampler, "set_epoch", None)):
        batch_sampler.set_epoch(epoch)
