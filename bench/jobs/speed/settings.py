"""`cfg.speed`, checked. The keys and types are `SpeedSchema` (bench/config/schema.py), the values are
conf/speed/default.yaml's: this module only checks them and holds no default of its own."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from bench.config.schema import SpeedGpuSchema, SpeedSchema
from bench.io import CONF_DIR
from bench.jobs.speed.modes import CPU_ONLY_MODES, MODES
from lightning_modules.hf.names import FAMILIES as HF_FAMILIES


@dataclass
class SpeedSettings(SpeedSchema):
    def __post_init__(self) -> None:
        """A wrong value raises ValueError naming `speed.<key>`."""
        for key, modes in (("modes", self.modes), ("hf_modes", self.hf_modes), ("gpu.modes", self.gpu.modes)):
            bad = [m for m in modes if m not in MODES]
            if bad:
                raise ValueError(f"speed.{key}: unknown mode(s) {bad}; known: {', '.join(MODES)}")
        for key in ("batch_size", "threads", "max_length", "full_pass_examples"):
            if getattr(self, key) < 1:
                raise ValueError(f"speed.{key} must be >= 1, got {getattr(self, key)}")
        if self.warmup < 0 or (self.max_examples is not None and self.max_examples < 1):
            raise ValueError(
                f"speed.warmup must be >= 0 and speed.max_examples >= 1 or null, got {self.warmup}, {self.max_examples}"
            )
        gpu_cpu_only = [m for m in self.gpu.modes if m in CPU_ONLY_MODES]
        if gpu_cpu_only:
            raise ValueError(f"speed.gpu.modes: {gpu_cpu_only} run on CPU only")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"speed.device must be cpu or cuda, got {self.device!r}")
        if self.hf_family is not None and self.hf_family not in HF_FAMILIES:
            raise ValueError(f"speed.hf_family must be one of {', '.join(HF_FAMILIES)} or null, got {self.hf_family!r}")

    @classmethod
    def from_cfg(cls, node: DictConfig | dict) -> SpeedSettings:
        """Settings from a composed `cfg.speed` (resolved here) or a plain dict with every key."""
        d = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        known = _names(cls)
        unknown = sorted(set(d) - known) + sorted(f"gpu.{k}" for k in set(d.get("gpu") or {}) - _names(SpeedGpuSchema))
        if unknown:
            raise ValueError(f"unknown speed config key(s): {', '.join('speed.' + k for k in unknown)}")
        missing = sorted(k for k in known if d.get(k, MISSING) == MISSING)
        if missing:
            raise ValueError(f"missing speed config key(s): {', '.join('speed.' + k for k in missing)}")
        # Merged into the schema: types are checked (and "3" becomes 3) as when composed.
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), d))

    def columns(self) -> tuple[list[str], list[int]]:
        """(modes, batch sizes) of our encoder on this device; the first batch size is the headline."""
        if self.device == "cuda":
            return list(self.gpu.modes), [self.batch_size] + [b for b in self.gpu.batch_sizes if b != self.batch_size]
        return list(self.modes), [self.batch_size]


def _names(schema: type) -> set[str]:
    return {f.name for f in fields(schema)}


def speed_yaml() -> DictConfig:
    """conf/speed/default.yaml's values, unresolved (they read `profile.name` from the root they are put under)."""
    node = OmegaConf.load(CONF_DIR / "speed" / "default.yaml")
    node.pop("defaults", None)
    return node


def default_settings(profile: str = "tiny", **overrides: Any) -> SpeedSettings:
    """The YAML's settings at `profile`, with `overrides` (a dict value, e.g. `gpu`, is merged into its node)."""
    root = OmegaConf.create({"profile": {"name": profile}, "speed": speed_yaml()})
    for key, value in overrides.items():
        OmegaConf.update(root, f"speed.{key}", value, merge=isinstance(value, dict))
    return SpeedSettings.from_cfg(root.speed)
