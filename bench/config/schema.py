"""Structured-config schemas registered in Hydra's ConfigStore.

Every `conf/model/*.yaml` starts from `model_schema`, so a wrong key, type or value fails when
the config is composed, with a message naming the key, e.g. `model.sharing=foo` ->
"sharing must be one of none, attention, ffn, all". `conf/speed/default.yaml` starts from `speed_schema`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from lightning_modules.encoder import ACTIVATIONS, SHARING_MODES, EncoderConfig


class SettingError(ValueError):
    """A setting breaks a rule of its schema. `key` is its dotted path (`profile.finetune.lr`), so the
    message names what to change; a schema raises it with its own key, the caller adds the prefix."""

    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(f"{key}: {problem}")


Sharing = Enum("Sharing", {m: m for m in SHARING_MODES}, type=str)
Activation = Enum("Activation", {a: a for a in ACTIVATIONS}, type=str)


@dataclass
class ModelSchema(EncoderConfig):
    """The encoder's architecture (EncoderConfig) plus what the census and loaders need."""

    sharing: Sharing = Sharing.none  # type: ignore[assignment]
    activation: Activation = Activation.gelu  # type: ignore[assignment]
    name: str = "???"
    # "random", "store" (the checkpoint store fills it) or "hf:<hub name or local dir>"
    init: str = "random"
    # The parameter count the papers give for this architecture, and where, for the census.
    published_params: str | None = None
    published_source: str | None = None


ARCH_KEYS = tuple(f.name for f in fields(EncoderConfig))


@dataclass
class SpeedGpuSchema:
    modes: list[str]
    batch_sizes: list[int]


@dataclass
class SpeedSchema:
    """`cfg.speed`'s keys and types only: the values are conf/speed/default.yaml's, checked by
    bench.jobs.speed.settings.SpeedSettings. The fields' order is the YAML's."""

    profiles: dict[str, Any]  # per-profile max_examples and modes, read by the YAML's interpolations
    max_examples: int | None
    modes: list[str]
    full_size: bool
    split: str
    max_length: int
    batch_size: int
    warmup: int
    threads: int
    device: str
    interleave: bool
    full_pass_examples: int
    hf: bool
    hf_family: str | None
    hf_modes: list[str]
    gpu: SpeedGpuSchema
    skip_emulated_bf16: bool


def register_configs() -> None:
    # Integer arithmetic for configs that derive one size from another (I = 4H, A = H / 64).
    if not OmegaConf.has_resolver("mul"):
        OmegaConf.register_new_resolver("mul", lambda a, b: int(a) * int(b))
        OmegaConf.register_new_resolver("div", lambda a, b: int(a) // int(b))
    cs = ConfigStore.instance()
    cs.store(group="model", name="model_schema", node=ModelSchema)
    cs.store(group="speed", name="speed_schema", node=SpeedSchema)


def encoder_config(model_cfg: DictConfig | dict[str, Any]) -> EncoderConfig:
    """The EncoderConfig of a composed `model` node (enums back to plain strings)."""
    d = OmegaConf.to_container(model_cfg, resolve=True, enum_to_str=True) if isinstance(model_cfg, DictConfig) else dict(model_cfg)
    return EncoderConfig(**{k: d[k] for k in ARCH_KEYS if k in d})

