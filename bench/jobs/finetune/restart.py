"""What lets a killed fine-tuning job resume to the same result: the resume checkpoint (any step),
each epoch's own batch order, and a W&B history that survives the kill."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only

from bench.io import atomic_write_text
from bench.jobs.finetune.weights import start_over_hint
from lightning_modules.pretrain import ResumeCheckpoint

# In the job dir: the resume checkpoint, every logged row, and the content identity of the data trained on.
LAST_CKPT = "last.ckpt"
HISTORY_FILE = "history.jsonl"
DATA_FILE = "data.json"


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


class JobCheckpoint(ResumeCheckpoint):
    """The job dir's `last.ckpt`: every `every_n_steps` optimizer steps or `every_minutes` minutes
    (the profile's `finetune_checkpoint`; None: never by cadence), on a stop signal (at the step it
    arrived in), and when training ends. The checkpoint the pretraining writes too
    (lightning_modules.pretrain.ResumeCheckpoint): Lightning's loops, optimizer and scheduler, the
    train loader's position (bench.data.batching.ResumableLoader), early stopping's state (a
    Checkpoint callback runs after the others, so this step's check is in it) and the global RNGs.
    Every part is plain (tensors, numbers, strings), so it loads with `weights_only=True`.
    """

    def __init__(self, path: Path, every_n_steps: int | None = None, every_minutes: float | None = None) -> None:
        super().__init__(path, every_n_steps, every_minutes)


def check_resume_data(job_dir: Path, data: dict, resuming: bool) -> None:
    """A resume checkpoint goes on only on the data it was trained on (`data`: tracking.data_identity,
    recorded in `data.json` when the job starts): other token ids or examples stop the job, named."""
    path = Path(job_dir) / DATA_FILE
    if not resuming:
        atomic_write_text(path, json.dumps(data, sort_keys=True))
        return
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # a job dir from before data.json: nothing to compare
    if recorded != data:
        changed = sorted(k for k in set(recorded) | set(data) if recorded.get(k) != data.get(k))
        raise ValueError(f"{path.parent / LAST_CKPT}: trained on other data than this job's ({', '.join(changed)} "
                         f"changed since, see {path}); {start_over_hint(path.parent)}")


def checkpoint_cadence(cfg) -> tuple[int | None, float | None]:
    """`profile.finetune_checkpoint`: (every_n_steps, every_minutes), each a positive number or None."""
    node = cfg.profile.get("finetune_checkpoint") or {}
    out = []
    for key, kind in (("every_n_steps", int), ("every_minutes", (int, float))):
        value = node.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind) or value <= 0):
            raise ValueError(f"profile.finetune_checkpoint.{key} must be a positive number or null, got {value!r}")
        out.append(value)
    return out[0], out[1]


class EpochOrder(Callback):
    """Gives each epoch its own batch order: Lightning 2.6 calls `set_epoch` only on
    `loader.sampler` and `loader.batch_sampler.sampler`, never on a batch sampler itself."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        set_loader_epoch(trainer.train_dataloader, trainer.current_epoch)


def set_loader_epoch(loader, epoch: int) -> None:
    batch_sampler = getattr(loader, "batch_sampler", None)
    if callable(getattr(batch_sampler, "set_epoch", None)):
        batch_sampler.set_epoch(epoch)
