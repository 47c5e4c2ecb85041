"""Reading a `data` config node (composed DictConfig or plain dict) the same way everywhere, and
hashing data files for the cache keys that must follow their content."""

from __future__ import annotations

import hashlib
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


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """The sha256 of a file's bytes. With `memo_dir`, remembered there by (path, size, mtime), so a
    large local corpus is read once, not by every job."""
    path = Path(path).resolve()
    memo = None
    if memo_dir is not None:
        st = path.stat()
        memo = Path(memo_dir) / hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:32]
        if memo.is_file():
            return memo.read_text().strip()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(h.hexdigest())
        os.replace(tmp, memo)
    return h.hexdigest()
