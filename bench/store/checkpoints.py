"""The checkpoint store: each pretrained encoder is trained once and shared by every job that needs it.

A finished pretraining lives in `<root>/<key>/` (`model.safetensors` and `config.json`, the key
parts that produced it), where `key` hashes (model config, objective config, data config, seed).
`get_or_train` returns that directory, or trains it first under a file lock, so that parallel
jobs of a sweep (joblib, SLURM array) pretrain each variant exactly once; the others wait and
then load it. Training runs in `<root>/work/<key>/`: a Lightning `last.ckpt` left there by an
interrupted run (an exception, SIGTERM, Ctrl-C: nothing is deleted then) is handed back to
`train_fn`, which resumes from it. That file is first loaded the safe way (`weights_only=True`):
a damaged or foreign one stops the job with an error naming it and saying how to start over
(delete the work dir); it is never moved aside or deleted, so no finished steps go silently.

The root is `BENCH_STORE_DIR` if set, else `.cache/store` under the working directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock
from safetensors.torch import load_file, save_file
from torch import nn

log = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
LAST_CKPT = "last.ckpt"
DEFAULT_ROOT = ".cache/store"

TrainFn = Callable[[Path, Path | None], "Mapping[str, torch.Tensor] | nn.Module"]


def _plain(value: Any) -> Any:
    """DictConfig / dataclass / Path -> JSON-able plain values, so equal configs hash equal."""
    from dataclasses import asdict, is_dataclass
    from enum import Enum

    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True, enum_to_str=True)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def store_key(key_parts: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the key parts (sorted keys), 20 hex digits."""
    text = json.dumps(_plain(key_parts), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _dedupe(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """safetensors refuses tensors that share memory (the tied MLM decoder): keep the first name
    of each storage and record the others as aliases."""
    unique: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, int, tuple[int, ...], tuple[int, ...]], str] = {}
    for name, tensor in state.items():
        t = tensor.detach()
        ident = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if ident in seen:
            aliases[name] = seen[ident]
        else:
            seen[ident] = name
            unique[name] = t.cpu().contiguous()
    return unique, aliases


def save_state_dict(state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    unique, aliases = _dedupe(state)
    save_file(unique, str(path), metadata={"aliases": json.dumps(aliases)})


def load_state_dict(path: str | Path, prefix: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a store entry (its directory or its weights file), tied names restored.

    With `prefix` (e.g. "encoder.") only those keys, with the prefix stripped.
    """
    path = Path(path)
    file = path / WEIGHTS if path.is_dir() else path
    if not file.exists():
        raise FileNotFoundError(f"no {WEIGHTS} in {path}")
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    state = load_file(str(file))
    for alias, name in aliases.items():
        state[alias] = state[name]
    if prefix is not None:
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return state


class ResumeCheckpointError(ValueError):
    """A resume checkpoint that cannot be loaded safely, or is not a Lightning checkpoint."""


def _load_error(err: BaseException) -> str:
    text = str(err)
    for line in text.splitlines():  # torch's weights-only refusal: the line naming what it refused
        if "WeightsUnpickler error" in line:
            return f"it holds objects a safe load refuses ({line.split(' was not an allowed global')[0].strip()})"
    return f"it is damaged ({type(err).__name__}: {text.split('. ')[0].strip()})"


def read_resume_checkpoint(path: str | Path, recover: str) -> dict[str, Any]:
    """A Lightning resume checkpoint (the store's or a fine-tuning job's `last.ckpt`) read with
    `torch.load(weights_only=True)`: no code in it runs, tensors are mapped, not read. Anything else is
    a ResumeCheckpointError naming the file, why, and `recover` (what to do); nothing is moved or
    deleted, since the file may hold hours of training."""
    path = Path(path)
    if not zipfile.is_zipfile(path):  # torch.save's format: a zip archive, its index at the end
        raise ResumeCheckpointError(
            f"{path}: cannot resume from this checkpoint: it is not a torch checkpoint (empty, truncated or "
            f"another format); {recover}"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:
        raise ResumeCheckpointError(f"{path}: cannot resume from this checkpoint: {_load_error(err)}; {recover}") from None
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise ResumeCheckpointError(f"{path}: cannot resume from this checkpoint: not a Lightning checkpoint; {recover}")
    return ckpt


def read_config(path: str | Path) -> dict[str, Any]:
    return json.loads((Path(path) / CONFIG).read_text(encoding="utf-8"))


class CheckpointStore:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root or os.environ.get("BENCH_STORE_DIR") or DEFAULT_ROOT)

    def key(self, key_parts: Mapping[str, Any]) -> str:
        return store_key(key_parts)

    def path(self, key: str) -> Path:
        return self.root / key

    def work_dir(self, key: str) -> Path:
        return self.root / "work" / key

    def is_complete(self, key: str) -> bool:
        d = self.path(key)
        return (d / CONFIG).exists() and (d / WEIGHTS).exists()

    def get(self, key_parts: Mapping[str, Any]) -> Path | None:
        key = self.key(key_parts)
        return self.path(key) if self.is_complete(key) else None

    def get_or_train(self, key_parts: Mapping[str, Any], train_fn: TrainFn) -> Path:
        """The stored entry for key_parts; trained first (once, under a lock) if missing.

        `train_fn(work_dir, resume_ckpt)` trains, resuming from `resume_ckpt` (work_dir/last.ckpt
        of an interrupted run, checked by `read_resume_checkpoint`) when it is not None, and
        returns a state dict or a module. Plain files it leaves at the top of work_dir, other than
        Lightning checkpoints (*.ckpt), are kept beside the weights (e.g. a metrics.json of the
        pretraining). If it raises anything (SystemExit and KeyboardInterrupt included), nothing is
        stored, the work dir (with its last.ckpt) is kept and the lock released.
        """
        key = self.key(key_parts)
        if self.is_complete(key):
            return self.path(key)
        lock_path = self.root / "locks" / f"{key}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_path))
        t0 = time.monotonic()
        with lock:
            waited = time.monotonic() - t0
            if self.is_complete(key):
                log.info("store %s: trained by another job while this one waited %.1fs", key, waited)
                return self.path(key)
            work = self.work_dir(key)
            work.mkdir(parents=True, exist_ok=True)
            last = work / LAST_CKPT
            resume = last if last.exists() else None
            if resume is not None:
                read_resume_checkpoint(resume, f"delete {work} to start this pretraining over")
            log.info("store %s: %s in %s", key, f"resuming from {resume}" if resume else "training", work)
            result = train_fn(work, resume)
            state = result.state_dict() if isinstance(result, nn.Module) else result
            extras = [
                p for p in work.iterdir() if p.is_file() and p.suffix != ".ckpt" and p.name not in (WEIGHTS, CONFIG)
            ]
            self._write(key, key_parts, state, extras)
            shutil.rmtree(work, ignore_errors=True)
        return self.path(key)

    def _write(
        self, key: str, key_parts: Mapping[str, Any], state: Mapping[str, torch.Tensor], extras: Sequence[Path] = ()
    ) -> None:
        """Write into a temporary directory, then rename: a reader never sees half an entry."""
        final = self.path(key)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{key}."))
        try:
            for extra in extras:
                shutil.copy2(extra, tmp / extra.name)
            save_state_dict(state, tmp / WEIGHTS)
            meta = {"key": key, "key_parts": _plain(key_parts), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            (tmp / CONFIG).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str), encoding="utf-8")
            if final.exists():  # a partial entry from a crash before this store existed
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def get_or_train(key_parts: Mapping[str, Any], train_fn: TrainFn, root: str | Path | None = None) -> Path:
    """`CheckpointStore(root).get_or_train(key_parts, train_fn)`."""
    return CheckpointStore(root).get_or_train(key_parts, train_fn)


__all__ = [
    "CheckpointStore",
    "ResumeCheckpointError",
    "read_resume_checkpoint",
    "get_or_train",
    "store_key",
    "load_state_dict",
    "save_state_dict",
    "read_config",
]
