"""Pretraining as a LightningModule: masked LM plus NSP, SOP or no sentence-level task.

`ObjectiveConfig` is one recipe of `conf/objective/` (BERT, ALBERT, RoBERTa and its ablations,
RoBERTa-wwm-ext, DistilBERT) resolved for a profile: the recipe keys (masking, sentence task,
input format) are the same at every scale, the scale keys (batch, steps, lr) come from the
profile's sub-dict (`paper:` holds the published values, `tiny:` the CPU-sized ones).

The MLM head runs on the masked positions only (`MLMHead(hidden, positions=labels != -100)`):
the full-vocabulary projection of every position is the costliest part of a small model's step,
and its output would be thrown away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn
from torchmetrics import MeanMetric

from lightning_modules.encoder import Encoder, EncoderConfig, MLMHead, SentencePairHead
from lightning_modules.inputs import IGNORE_INDEX, INPUT_FORMATS, MASKING_MODES, SENTENCE_TASKS
from lightning_modules.optim import adamw_with_linear_schedule, log_training_rates, warmup_linear_decay
from lightning_modules.resume import LAST_CKPT, ResumeCheckpoint

SCALE_KEYS = (
    "batch_size",
    "accumulate_grad_batches",
    "lr",
    "warmup_ratio",
    "warmup_steps",
    "max_steps",
    "max_epochs",
    "max_seq_length",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "gradient_clip_val",
)
EXTRA_SECTIONS = ("distillation",)


@dataclass
class ObjectiveConfig:
    name: str
    masking: str = "dynamic"
    mlm_probability: float = 0.15
    dupe_factor: int = 1
    sentence_task: str = "none"
    input_format: str = "full_sentences"
    language: str = "en"
    short_seq_prob: float = 0.1
    # scale: the effective batch (sequences per optimizer step) = micro-batch x accumulation
    batch_size: int = 32
    accumulate_grad_batches: int = 1
    lr: float = 1e-3
    warmup_ratio: float | None = None
    warmup_steps: int | None = None
    max_steps: int | None = 100
    max_epochs: int | None = None
    max_seq_length: int = 128
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    gradient_clip_val: float | None = None
    distillation: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        where = f"objective {self.name!r}"
        for key, allowed in (
            ("masking", MASKING_MODES),
            ("sentence_task", SENTENCE_TASKS),
            ("input_format", INPUT_FORMATS),
            ("language", ("en", "zh")),
        ):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{where}: {key} must be one of {', '.join(allowed)}, got {getattr(self, key)!r}")
        if self.masking == "wwm_zh" and self.language != "zh":
            raise ValueError(f"{where}: masking wwm_zh needs language zh, got {self.language!r}")
        if self.sentence_task != "none" and self.input_format not in ("segment_pair", "sentence_pair"):
            raise ValueError(
                f"{where}: sentence_task {self.sentence_task} needs input_format segment_pair or sentence_pair"
            )
        if not 0.0 < self.mlm_probability < 1.0:
            raise ValueError(f"{where}: mlm_probability must be in (0, 1), got {self.mlm_probability}")
        if self.batch_size % self.accumulate_grad_batches:
            raise ValueError(
                f"{where}: batch_size {self.batch_size} is not divisible by accumulate_grad_batches "
                f"{self.accumulate_grad_batches}"
            )
        if self.warmup_ratio is not None and self.warmup_steps is not None:
            raise ValueError(f"{where}: give warmup_ratio or warmup_steps, not both")

    @property
    def micro_batch_size(self) -> int:
        """Sequences per forward pass: the paper's batch reached by gradient accumulation."""
        return self.batch_size // self.accumulate_grad_batches

    @property
    def pretrains(self) -> bool:
        return self.masking != "none"

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any], profile: str, source: str = "conf/objective") -> ObjectiveConfig:
        """Merge the recipe keys with the `profile` sub-dict; unknown keys are named in the error.

        Any other mapping-valued key is taken as another profile's sub-dict and ignored.
        """
        from omegaconf import DictConfig, OmegaConf

        d = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        name = d.get("name", "?")
        where = f"{source}/{name}.yaml"
        known = {f.name for f in fields(cls)}
        flat = {k: v for k, v in d.items() if not isinstance(v, Mapping) or k in EXTRA_SECTIONS}
        scale = d.get(profile)
        if scale is None and d.get("masking", "dynamic") != "none":
            raise ValueError(f"{where}: no `{profile}:` section (the scale keys for profile {profile!r})")
        if scale is not None:
            if not isinstance(scale, Mapping):
                raise ValueError(f"{where}: `{profile}` must be a mapping of scale keys")
            bad = sorted(set(scale) - set(SCALE_KEYS))
            if bad:
                raise ValueError(
                    f"{where}: unknown key(s) in `{profile}:`: {', '.join(bad)} (scale keys: {', '.join(SCALE_KEYS)})"
                )
            flat.update(scale)
        unknown = sorted(set(flat) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        try:
            return cls(**flat)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from err

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- optimizer ------------------------------------------------------------------------------------


def adamw_with_warmup(
    named_parameters: Iterable[tuple[str, nn.Parameter]], objective: ObjectiveConfig, total_steps: int
):
    """The recipe's AdamW (its lr, decay, betas, eps) with warm-up (steps or ratio) then linear decay."""
    total_steps = max(1, int(total_steps))
    if objective.warmup_steps is not None:
        warmup = objective.warmup_steps
    else:
        warmup = round((objective.warmup_ratio or 0.0) * total_steps)
    return adamw_with_linear_schedule(
        named_parameters, objective.lr, objective.weight_decay, warmup, total_steps,
        betas=(objective.adam_beta1, objective.adam_beta2), eps=objective.adam_epsilon,
    )


def total_training_steps(module: L.LightningModule, objective: ObjectiveConfig) -> int:
    """Optimizer steps of the fit: the Trainer's estimate (max_steps or epochs x batches)."""
    if objective.max_steps:
        return objective.max_steps
    return int(module.trainer.estimated_stepping_batches)


# --- the module -----------------------------------------------------------------------------------


def mlm_loss(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and accuracy over the masked positions (zero loss if none is masked)."""
    if targets.numel() == 0:
        zero = logits.sum() * 0.0
        return zero, zero.detach()
    loss = F.cross_entropy(logits.float(), targets)
    acc = (logits.argmax(dim=-1) == targets).float().mean()
    return loss, acc


class PretrainModule(L.LightningModule):
    """Encoder + tied MLM head (+ NSP/SOP head on the pooled [CLS]).

    Logs `pretrain/mlm_loss`, `pretrain/mlm_acc`, `pretrain/ppl` (and `pretrain/nsp_loss`,
    `pretrain/nsp_acc` or the sop_ ones); validation logs the same under `pretrain/val_*`, with the
    perplexity of the whole held-out set (exp of the token-weighted mean loss).
    """

    def __init__(self, model: EncoderConfig | Mapping[str, Any], objective: ObjectiveConfig | Mapping[str, Any]):
        super().__init__()
        model_cfg = model if isinstance(model, EncoderConfig) else EncoderConfig.from_dict(dict(model))
        obj = objective if isinstance(objective, ObjectiveConfig) else ObjectiveConfig(**dict(objective))
        self.save_hyperparameters({"model": model_cfg.to_dict(), "objective": obj.to_dict()})
        if not obj.pretrains:
            raise ValueError(f"objective {obj.name!r} has masking none: there is nothing to pretrain")
        if obj.sentence_task != "none" and not model_cfg.pooler:
            raise ValueError(
                f"objective {obj.name!r} has sentence_task {obj.sentence_task} but the model has no pooler"
            )
        self.model_cfg, self.objective = model_cfg, obj
        self.encoder = Encoder(model_cfg)
        self.mlm_head = MLMHead(model_cfg, self.encoder.embeddings.word)
        self.sentence_head = SentencePairHead(model_cfg) if obj.sentence_task != "none" else None
        self.val_loss = MeanMetric()
        self.val_acc = MeanMetric()

    def compute_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden, pooled = self.encoder(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))
        positions = batch["labels"] != IGNORE_INDEX
        logits = self.mlm_head(hidden, positions=positions)
        loss_mlm, acc = mlm_loss(logits, batch["labels"][positions])
        out = {"mlm_loss": loss_mlm, "mlm_acc": acc, "n_masked": positions.sum(), "loss": loss_mlm}
        if self.sentence_head is not None:
            sentence_logits = self.sentence_head(pooled)
            target = batch["sentence_label"]
            loss_sentence = F.cross_entropy(sentence_logits, target, ignore_index=IGNORE_INDEX)
            keep = target != IGNORE_INDEX
            task = self.objective.sentence_task
            out[f"{task}_loss"] = loss_sentence
            out[f"{task}_acc"] = (sentence_logits.argmax(-1)[keep] == target[keep]).float().mean()
            out["loss"] = loss_mlm + loss_sentence
        return out

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.compute_losses(batch)
        B = batch["input_ids"].shape[0]
        self.log("pretrain/loss", out["loss"], batch_size=B)
        self.log("pretrain/mlm_loss", out["mlm_loss"], prog_bar=True, batch_size=B)
        self.log("pretrain/mlm_acc", out["mlm_acc"], batch_size=B)
        self.log("pretrain/ppl", torch.exp(out["mlm_loss"].detach()), batch_size=B)
        task = self.objective.sentence_task
        if task != "none":
            self.log(f"pretrain/{task}_loss", out[f"{task}_loss"], batch_size=B)
            self.log(f"pretrain/{task}_acc", out[f"{task}_acc"], batch_size=B)
        log_training_rates(self, "pretrain", batch)
        return out["loss"]

    def on_validation_epoch_start(self) -> None:
        self.val_loss.reset()
        self.val_acc.reset()

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        out = self.compute_losses(batch)
        n = out["n_masked"].float()
        if n > 0:
            self.val_loss.update(out["mlm_loss"].detach(), weight=n)
            self.val_acc.update(out["mlm_acc"], weight=n)

    def on_validation_epoch_end(self) -> None:
        if self.val_loss.weight == 0:
            return
        loss = self.val_loss.compute()
        self.log("pretrain/val_mlm_loss", loss)
        self.log("pretrain/val_mlm_acc", self.val_acc.compute())
        self.log("pretrain/val_ppl", torch.exp(loss))

    def configure_optimizers(self):
        return adamw_with_warmup(self.named_parameters(), self.objective, total_training_steps(self, self.objective))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        refuse_foreign_checkpoint(self, checkpoint)


def refuse_foreign_checkpoint(module: L.LightningModule, checkpoint: Mapping[str, Any]) -> None:
    """A resume checkpoint written by another pretraining (other model or recipe) is refused by
    name, before its weights are loaded (same-shaped weights would load without a word)."""
    if checkpoint.get("hyper_parameters") != dict(module.hparams):
        trainer = module._trainer
        path = Path(trainer.ckpt_path) if trainer is not None and trainer.ckpt_path else None
        raise ValueError(
            f"{path or 'the resume checkpoint'} was written by another pretraining (its hyperparameters are "
            f"not this module's){f': delete {path.parent} to start this pretraining over' if path else ''}"
        )


# --- fitting (used as the checkpoint store's train_fn) --------------------------------------------


def pretraining_trainer(
    work_dir: str | Path,
    objective: ObjectiveConfig,
    *,
    checkpoint_every_n_steps: int | None = 100,
    checkpoint_every_minutes: float | None = 30.0,
    callbacks: Sequence[Callback] = (),
    progress: Sequence[Callback] = (),
    **trainer_kwargs: Any,
) -> L.Trainer:
    """A Trainer that writes `work_dir/last.ckpt` (ResumeCheckpoint), so that an interrupted
    pretraining resumes (`fit_pretraining(..., resume_from=work_dir / "last.ckpt")`).

    Steps, accumulation and epochs come from the objective; anything else (accelerator, logger,
    precision, strategy) is passed through. `progress`: the fit's progress bar callback (if not
    Lightning's own), apart from `callbacks`, which a caller may fill with its own.
    """
    checkpoint = ResumeCheckpoint(Path(work_dir) / LAST_CKPT, checkpoint_every_n_steps, checkpoint_every_minutes)
    kwargs: dict[str, Any] = {
        "max_steps": objective.max_steps or -1,
        "max_epochs": objective.max_epochs if objective.max_epochs else (None if objective.max_steps else 1),
        "accumulate_grad_batches": objective.accumulate_grad_batches,
        "gradient_clip_val": objective.gradient_clip_val,
        "default_root_dir": str(work_dir),
        "enable_model_summary": False,
    }
    kwargs.update(trainer_kwargs)
    return L.Trainer(callbacks=[*callbacks, *progress, checkpoint], **kwargs)


def fit_pretraining(
    module: L.LightningModule,
    trainer: L.Trainer,
    train_loader: Any,
    val_loader: Any = None,
    resume_from: str | Path | None = None,
) -> L.LightningModule:
    """Fit (or resume from `resume_from`, a Lightning checkpoint, loaded with weights_only=True)."""
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(resume_from) if resume_from else None,
                weights_only=True)
    return module


__all__ = [
    "ObjectiveConfig",
    "PretrainModule",
    "adamw_with_warmup",
    "warmup_linear_decay",
    "mlm_loss",
    "pretraining_trainer",
    "fit_pretraining",
    "refuse_foreign_checkpoint",
]
