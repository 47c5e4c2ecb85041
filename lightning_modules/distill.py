"""DistilBERT (Sanh et al. 2019) as a LightningModule: a half-depth student learns from a frozen teacher.

The student is the teacher's architecture with half the layers, no token-type embeddings and no
pooler, initialized from the teacher by taking one layer out of two (layers 0, 2, 4, ...), the
embeddings copied. Its loss, with the published weights (T=2, alphas 5/2/1):

    alpha_ce  * KL(softmax(teacher/T) || softmax(student/T)) * T^2   on the masked positions
  + alpha_mlm * masked-LM cross-entropy
  + alpha_cos * cosine embedding loss between the last hidden states   on the non-pad positions

Hugging Face's extraction script took layers [0, 2, 4, 7, 9, 11] of BERT-base; the paper says "one
layer out of two", which is the default here (`teacher_layers` picks others).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from lightning_modules.encoder import Encoder, EncoderConfig, MLMHead
from lightning_modules.inputs import IGNORE_INDEX
from lightning_modules.optim import log_training_rates
from lightning_modules.pretrain import (
    ObjectiveConfig,
    adamw_with_warmup,
    mlm_loss,
    refuse_foreign_checkpoint,
    total_training_steps,
)


@dataclass
class DistillConfig:
    temperature: float = 2.0
    alpha_ce: float = 5.0
    alpha_mlm: float = 2.0
    alpha_cos: float = 1.0
    teacher_layers: list[int] | None = None  # None: every other layer, 0, 2, 4, ...
    teacher_model: str | None = None  # conf/model name of the teacher, for the runner
    teacher_objective: str | None = None  # the recipe that pretrained it (its store key)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DistillConfig:
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"objective.distillation: unknown key(s) {', '.join(unknown)}")
        cfg = cls(**d)
        if cfg.temperature <= 0:
            raise ValueError(f"objective.distillation.temperature must be positive, got {cfg.temperature}")
        return cfg


def student_config(teacher: EncoderConfig, num_layers: int | None = None) -> EncoderConfig:
    """The teacher's architecture at half depth, without token-type embeddings and pooler."""
    return replace(teacher, num_layers=num_layers or max(1, teacher.num_layers // 2), type_vocab_size=0, pooler=False)


def default_teacher_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """One layer out of two: 0, 2, 4, ... (12 -> 6 gives 0, 2, 4, 6, 8, 10)."""
    layers = list(range(0, teacher_layers, 2))[:student_layers]
    if len(layers) < student_layers:
        raise ValueError(
            f"a {teacher_layers}-layer teacher has no every-other layer for a {student_layers}-layer student"
        )
    return layers


@torch.no_grad()
def init_student_from_teacher(student: Encoder, teacher: Encoder, teacher_layers: Sequence[int]) -> None:
    """Copy the embeddings (without token types) and layers `teacher_layers` into the student.

    With a sharing mode the teacher's shared block is copied into the student's.
    """
    if len(teacher_layers) != student.cfg.num_layers:
        raise ValueError(f"teacher_layers {list(teacher_layers)} must name {student.cfg.num_layers} layers")
    if max(teacher_layers) >= teacher.cfg.num_layers or min(teacher_layers) < 0:
        raise ValueError(
            f"teacher_layers {list(teacher_layers)} out of range for a {teacher.cfg.num_layers}-layer teacher"
        )
    s_emb, t_emb = student.embeddings, teacher.embeddings
    for name in ("word", "position", "norm", "project"):
        target = getattr(s_emb, name)
        if target is not None:
            target.load_state_dict(getattr(t_emb, name).state_dict())
    for blocks in ("attention", "ffn"):
        s_blocks, t_blocks = getattr(student, blocks), getattr(teacher, blocks)
        for i, s_block in enumerate(s_blocks):
            source = teacher_layers[i] if len(s_blocks) > 1 else teacher_layers[0]
            s_block.load_state_dict(t_blocks[min(source, len(t_blocks) - 1)].state_dict())


class DistillModule(L.LightningModule):
    """Frozen teacher (Encoder + MLMHead) and a trainable student (Encoder + MLMHead).

    Build it with `from_teacher(teacher_state, ...)`; the plain constructor makes the skeleton
    that a Lightning checkpoint (teacher included) is loaded into when a run resumes.
    Logs `distill/loss_ce`, `distill/loss_mlm`, `distill/loss_cos` and their weighted sum `distill/loss`.
    """

    def __init__(
        self,
        teacher: EncoderConfig | Mapping[str, Any],
        objective: ObjectiveConfig | Mapping[str, Any],
        distill: DistillConfig | Mapping[str, Any] | None = None,
        student: EncoderConfig | Mapping[str, Any] | None = None,
    ):
        super().__init__()
        t_cfg = teacher if isinstance(teacher, EncoderConfig) else EncoderConfig.from_dict(dict(teacher))
        obj = objective if isinstance(objective, ObjectiveConfig) else ObjectiveConfig(**dict(objective))
        if distill is None:
            distill = obj.distillation
        d_cfg = distill if isinstance(distill, DistillConfig) else DistillConfig.from_dict(distill)
        if student is None:
            s_cfg = student_config(t_cfg)
        else:
            s_cfg = student if isinstance(student, EncoderConfig) else EncoderConfig.from_dict(dict(student))
        if (s_cfg.hidden_size, s_cfg.vocab_size) != (t_cfg.hidden_size, t_cfg.vocab_size):
            raise ValueError(
                "student and teacher must share hidden_size and vocab_size (the cosine and KL terms compare them)"
            )
        self.save_hyperparameters(
            {
                "teacher": t_cfg.to_dict(),
                "objective": obj.to_dict(),
                "distill": asdict(d_cfg),
                "student": s_cfg.to_dict(),
            }
        )
        self.objective, self.distill = obj, d_cfg
        self.teacher = Encoder(t_cfg)
        self.teacher_head = MLMHead(t_cfg, self.teacher.embeddings.word)
        for p in [*self.teacher.parameters(), *self.teacher_head.parameters()]:
            p.requires_grad_(False)
        self.encoder = Encoder(s_cfg)  # named like PretrainModule's, so the student loads the same way
        self.mlm_head = MLMHead(s_cfg, self.encoder.embeddings.word)
        self.train()  # puts the teacher in eval mode (Lightning 2.x keeps the modes it finds)

    @classmethod
    def from_teacher(
        cls,
        teacher_state: Mapping[str, torch.Tensor],
        teacher: EncoderConfig | Mapping[str, Any],
        objective: ObjectiveConfig | Mapping[str, Any],
        distill: DistillConfig | Mapping[str, Any] | None = None,
    ) -> DistillModule:
        """Load a pretrained teacher (a PretrainModule state dict: `encoder.*`, `mlm_head.*`) and
        initialize the student from it."""
        module = cls(teacher, objective, distill)
        encoder = {k[len("encoder.") :]: v for k, v in teacher_state.items() if k.startswith("encoder.")}
        head = {k[len("mlm_head.") :]: v for k, v in teacher_state.items() if k.startswith("mlm_head.")}
        if not encoder:
            raise ValueError("teacher_state has no 'encoder.*' keys (expected a PretrainModule state dict)")
        module.teacher.load_state_dict(encoder)
        head.setdefault("word_embeddings.weight", encoder["embeddings.word.weight"])
        module.teacher_head.load_state_dict(head)
        module.init_student()
        return module

    def init_student(self) -> None:
        """Student layers and embeddings from the teacher; its MLM transform and bias too."""
        layers = self.distill.teacher_layers or default_teacher_layers(
            self.teacher.cfg.num_layers, self.encoder.cfg.num_layers
        )
        init_student_from_teacher(self.encoder, self.teacher, layers)
        with torch.no_grad():
            self.mlm_head.transform.load_state_dict(self.teacher_head.transform.state_dict())
            self.mlm_head.norm.load_state_dict(self.teacher_head.norm.state_dict())
            self.mlm_head.bias.copy_(self.teacher_head.bias)

    def train(self, mode: bool = True) -> DistillModule:
        """The teacher stays in eval mode (no dropout) whatever Lightning asks."""
        super().train(mode)
        self.teacher.eval()
        self.teacher_head.eval()
        return self

    def on_train_start(self) -> None:
        self.teacher.eval()
        self.teacher_head.eval()

    def compute_losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = batch["input_ids"], batch.get("attention_mask")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        positions = batch["labels"] != IGNORE_INDEX
        with torch.no_grad():
            t_hidden, _ = self.teacher(input_ids, attention_mask)
            t_logits = self.teacher_head(t_hidden, positions=positions)
        s_hidden, _ = self.encoder(input_ids, attention_mask)
        s_logits = self.mlm_head(s_hidden, positions=positions)
        T = self.distill.temperature
        if positions.any():
            loss_ce = (
                F.kl_div(F.log_softmax(s_logits / T, dim=-1), F.softmax(t_logits / T, dim=-1), reduction="batchmean")
                * T**2
            )
        else:
            loss_ce = s_logits.sum() * 0.0
        loss_mlm, acc = mlm_loss(s_logits, batch["labels"][positions])
        keep = attention_mask.bool()
        s_sel, t_sel = s_hidden[keep], t_hidden[keep]
        loss_cos = F.cosine_embedding_loss(s_sel, t_sel, torch.ones(s_sel.shape[0], device=s_sel.device))
        d = self.distill
        loss = d.alpha_ce * loss_ce + d.alpha_mlm * loss_mlm + d.alpha_cos * loss_cos
        return {"loss": loss, "loss_ce": loss_ce, "loss_mlm": loss_mlm, "loss_cos": loss_cos, "mlm_acc": acc}

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        out = self.compute_losses(batch)
        B = batch["input_ids"].shape[0]
        for key in ("loss", "loss_ce", "loss_mlm", "loss_cos", "mlm_acc"):
            self.log(f"distill/{key}", out[key], batch_size=B, prog_bar=key == "loss")
        log_training_rates(self, "distill", batch)
        return out["loss"]

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        out = self.compute_losses(batch)
        B = batch["input_ids"].shape[0]
        for key in ("loss", "loss_ce", "loss_mlm", "loss_cos", "mlm_acc"):
            self.log(f"distill/val_{key}", out[key], batch_size=B)

    def student_state_dict(self) -> dict[str, torch.Tensor]:
        """The student alone, keyed like a PretrainModule (`encoder.*`, `mlm_head.*`)."""
        return {k: v for k, v in self.state_dict().items() if k.startswith(("encoder.", "mlm_head."))}

    def configure_optimizers(self):
        params = [(n, p) for n, p in self.named_parameters() if n.startswith(("encoder.", "mlm_head."))]
        return adamw_with_warmup(params, self.objective, total_training_steps(self, self.objective))

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        refuse_foreign_checkpoint(self, checkpoint)


__all__ = ["DistillConfig", "DistillModule", "student_config", "default_teacher_layers", "init_student_from_teacher"]
