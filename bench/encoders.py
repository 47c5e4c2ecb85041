"""Where a job's encoder comes from: random init, the checkpoint store, or a Hugging Face checkpoint.

- `objective` other than `none`: pretrained (or distilled) by the recipe, through the store;
- `model.init=hf:<name-or-dir>`: imported; the architecture is the checkpoint's own;
- otherwise random initialization (BERT's N(0, 0.02)).
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
        return imported.encoder.state_dict(), imported.config, {"init": f"hf:{arg}"}
    if str(cfg.objective.name) != "none":
        from bench.pretrain_job import pretrained_encoder

        state, metrics = pretrained_encoder(cfg, arch)
        return state, arch, {**metrics, "init": f"store:{cfg.objective.name}"}
    if kind == "store":
        raise ValueError("model.init=store needs an objective other than none (the recipe that pretrains it)")
    return None, arch, {"init": "random"}
