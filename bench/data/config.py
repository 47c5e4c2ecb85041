"""Reading a `data` config node (composed DictConfig or plain dict) the same way everywhere."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

SOURCES = ("hub", "synthetic", "local")


def as_dict(cfg: Any) -> dict:
    """A plain, resolved dict of a data (or task) config; None -> {}."""
    if cfg is None:
        return {}
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise TypeError(f"a data config is a dict or a DictConfig, got {type(cfg).__name__}")


def source_of(d: dict) -> str:
    source = d.get("source")
    if source not in SOURCES:
        raise ValueError(f"data.source must be one of {', '.join(SOURCES)}, got {source!r}")
    return source


def cache_dir(d: dict) -> Path:
    """data.cache_dir (the composed config sets it to paths.cache), else $BENCH_CACHE_DIR, else .cache."""
    return Path(d.get("cache_dir") or os.environ.get("BENCH_CACHE_DIR") or ".cache")
