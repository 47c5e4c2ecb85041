"""The architecture a job actually trains: the model config at the job's profile.

The composed `model` node holds the paper's architecture (with the sweep's overrides). The profile
replaces every architecture key by its own size (tiny: H=64, L=2, ...) except the table's axis
keys (`axis: [embedding_size, sharing]`), which keep the swept value, scaled by
`profile.axis_scale` where one is given (a width axis 1024..6144 -> 64..384 at tiny). The vocabulary
always comes from the tokenizer in use.
"""

from __future__ import annotations

from omegaconf import DictConfig

from bench.config.compose import plain
from bench.config.schema import ARCH_KEYS, encoder_config
from lightning_modules.encoder import EncoderConfig


def effective_encoder_config(cfg: DictConfig, vocab_size: int | None = None) -> EncoderConfig:
    arch = encoder_config(cfg.model).to_dict()
    axis = list(cfg.get("axis") or [])
    for key in axis:
        if key not in ARCH_KEYS:
            raise KeyError(f"axis key {key!r} is not a model key (one of {', '.join(ARCH_KEYS)})")
    profile_model = plain(cfg.profile.get("model"))
    for key, value in profile_model.items():
        if key not in ARCH_KEYS:
            raise KeyError(f"profile.model.{key} is not a model key (one of {', '.join(ARCH_KEYS)})")
        if key not in axis:
            arch[key] = value
    scale = cfg.profile.get("axis_scale") or {}
    for key in axis:
        if key in scale:
            arch[key] = max(1, round(arch[key] * float(scale[key])))
    if vocab_size is not None:
        arch["vocab_size"] = int(vocab_size)
    return EncoderConfig(**arch)
