"""Fine-tuning on top of any encoder: one LightningModule, one head per task type.

Task types come from the task spec (`conf/task/*.yaml`), so there are no per-task branches:
- classification: dropout + linear on the pooled [CLS], or on the [CLS] hidden state
  (`use_pooler=False`, or an encoder without a pooler; the job reads the pooler only where a
  pretraining task trained it, bench/jobs/encoders.py);
- regression (STS-B): the same with one output and MSE;
- span_qa (SQuAD): a linear layer giving start and end logits per token;
- multiple_choice (RACE): one logit per option from its [CLS] (pooled or not, as above), softmax
  over the options.
"""

from __future__ import annotations

import math
from dataclasses import replace

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.encoder import Encoder, EncoderConfig, init_weights
from lightning_modules.optim import adamw_with_linear_schedule, log_training_rates

TASK_TYPES = ("classification", "regression", "span_qa", "multiple_choice")


def head_outputs(task_type: str, num_labels: int | None) -> int:
    if task_type not in TASK_TYPES:
        raise ValueError(f"task type must be one of {', '.join(TASK_TYPES)}, got {task_type!r}")
    return {"classification": num_labels or 2, "regression": 1, "span_qa": 2, "multiple_choice": 1}[task_type]


class FineTuneModule(L.LightningModule):
    def __init__(
        self,
        encoder_cfg: dict,
        task_type: str,
        num_labels: int | None = None,
        lr: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        total_steps: int = 1000,
        classifier_dropout: float = 0.1,
        seed: int = 0,
        use_pooler: bool = True,
    ):
        super().__init__()
        self.save_hyperparameters()
        cfg = EncoderConfig(**encoder_cfg)
        # without its pooler: a parameter no loss reaches would stall DDP's gradient reduction
        self.encoder = Encoder(cfg if use_pooler else replace(cfg, pooler=False))
        self.task_type = task_type
        self.dropout = nn.Dropout(classifier_dropout)
        self.head = nn.Linear(self.encoder.cfg.hidden_size, head_outputs(task_type, num_labels))
        init_weights(self.head)

    def forward(self, batch: dict) -> torch.Tensor:
        ids, mask, types = batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids")
        if self.task_type == "multiple_choice":  # [B, C, T] -> [B*C, T]
            B, C, T = ids.shape
            flat = lambda x: None if x is None else x.reshape(B * C, T)  # noqa: E731
            ids, mask, types = flat(ids), flat(mask), flat(types)
        hidden, pooled = self.encoder(ids, mask, types)
        if self.task_type == "span_qa":
            return self.head(hidden)  # [B, T, 2]: start, end
        cls = pooled if pooled is not None else hidden[:, 0]
        logits = self.head(self.dropout(cls))
        if self.task_type == "multiple_choice":
            return logits.view(B, C)
        return logits.squeeze(-1) if self.task_type == "regression" else logits

    def loss(self, out: torch.Tensor, batch: dict) -> torch.Tensor:
        if self.task_type == "span_qa":
            T = out.shape[1]
            start = batch["start_positions"].clamp(0, T - 1)
            end = batch["end_positions"].clamp(0, T - 1)
            return (F.cross_entropy(out[..., 0], start) + F.cross_entropy(out[..., 1], end)) / 2
        if self.task_type == "regression":
            return F.mse_loss(out, batch["labels"].float())
        return F.cross_entropy(out, batch["labels"])

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        # Dropout draws are a function of (seed, epoch, batch, rank): a run resumed from a
        # checkpoint continues exactly as the uninterrupted run would (Lightning skips
        # on_train_epoch_start in the epoch it resumes in), and DDP ranks draw different masks.
        key = [int(self.hparams.seed), int(self.current_epoch), int(batch_idx), int(self.global_rank)]
        torch.manual_seed(int(np.random.SeedSequence(key).generate_state(1)[0]))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch), batch)
        batch_loss = loss.detach()
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            # The global batch's loss (the ranks' batches are equal in size): what is logged, the
            # same number one process with the whole batch would log. Every rank sees it, so all
            # stop at the same step on a non-finite loss (none is left waiting in an all-reduce).
            batch_loss = trainer.strategy.reduce(batch_loss, reduce_op="mean")
        if not torch.isfinite(batch_loss):
            raise FloatingPointError(f"non-finite training loss {batch_loss.item()} at step {self.global_step}")
        self.log("train/loss", batch_loss, prog_bar=True, on_step=True, on_epoch=False)
        log_training_rates(self, "train", batch)
        return loss

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        return self(batch).float().cpu()

    def configure_optimizers(self):
        h = self.hparams
        return adamw_with_linear_schedule(
            self.named_parameters(), h.lr, h.weight_decay, math.ceil(h.warmup_ratio * h.total_steps), h.total_steps
        )
