"""Where a job's encoder comes from: random init, the checkpoint store, or a Hugging Face checkpoint.

- `objective` other than `none`: pretrained (or distilled) by the recipe, through the store;
- `model.init=hf:<name-or-dir>`: imported; the architecture is the checkpoint's own;
- otherwise random initialization (BERT's N(0, 0.02)).

The summary entries say what the fine-tuning head reads (`head_input`). By default (`head_input:
auto`) that is the pooler only where a sentence-level pretraining task trained it (BERT's NSP,
ALBERT's SOP), otherwise the [CLS] hidden state; `pooler` or `cls` force one for every row.
Why: an untrained pooler shrinks the [CLS] signal at small widths (docs/notes/pooler-vs-cls.md).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from lightning_modules.encoder import EncoderConfig


def resolve_encoder(cfg: DictConfig, arch: EncoderConfig) -> tuple[dict[str, torch.Tensor] | None, EncoderConfig, dict]:
    """(encoder state or None for random, the architecture to build, summary entries)."""
    from lightning_modules.hf import parse_init

    kind, arg = parse_init(str(cfg.model.get("init", "random")))
    if kind == "hf":
        from lightning_modules.hf import load_hf_checkpoint

        imported = load_hf_checkpoint(arg)
        trained = imported.config.pooler and imported.family in POOLER_TRAINED_FAMILIES
        head = head_input(cfg, imported.config, trained)
        return imported.encoder.state_dict(), imported.config, {"init": f"hf:{arg}", "head_input": head}
    if str(cfg.objective.name) != "none":
        from bench.jobs.pretrain import pretrained_encoder

        state, metrics = pretrained_encoder(cfg, arch)
        trained = arch.pooler and str(cfg.objective.get("sentence_task", "none")) != "none"
        return state, arch, {**metrics, "init": f"store:{cfg.objective.name}", "head_input": head_input(cfg, arch, trained)}
    if kind == "store":
        raise ValueError("model.init=store needs an objective other than none (the recipe that pretrains it)")
    return None, arch, {"init": "random", "head_input": head_input(cfg, arch, False)}


# Hugging Face families whose released pooler was trained: BERT (NSP) and ALBERT (SOP). RoBERTa
# checkpoints carry pooler weights that no objective trained; DistilBERT has none.
POOLER_TRAINED_FAMILIES = ("bert", "albert")


def head_input(cfg: DictConfig, arch: EncoderConfig, pooler_trained: bool) -> str:
    """`head_input` (auto | pooler | cls) resolved for this encoder: "pooler" or "cls"."""
    choice = str(cfg.get("head_input", "auto"))
    if choice not in ("auto", "pooler", "cls"):
        raise ValueError(f"head_input={choice!r}: must be auto, pooler or cls")
    if choice == "pooler" and not arch.pooler:
        raise ValueError("head_input=pooler, but the encoder has no pooler (model.pooler=false, a DistilBERT "
                         "student or checkpoint); use auto or cls")
    if choice == "auto":
        return "pooler" if pooler_trained else "cls"
    return choice
