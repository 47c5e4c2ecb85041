"""What a job's data is, by content: for cache keys (store entries, job dirs) and for the summary.

    data_fingerprint(cfg.data, "en", cfg.task) -> {"tokenizer": sha256, "corpus": {...}, "task": {...}}
    tokenizer_info(tokenizer, tokenizer_source(cfg.data, "en"))
        -> {"tokenizer/source": ..., "tokenizer/vocab_size": ..., "tokenizer/sha256": ...}

A fingerprint names the tokenizer by the sha256 of its tokenizer.json (as `Tokenizer.save` writes
it) and the raw data by the sha256 of the files read (the synthetic world's, from its manifest; a
local folder's; the hub's name and revision, which is all that is known without downloading).
Two clones that built the same bytes get the same keys; a rebuilt tokenizer or world with other
bytes gets new ones. It needs the tokenizer and the world, so the first call trains or writes them
(later calls read a manifest and load a file: tens of milliseconds).
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from bench.data.config import as_dict, source_of
from bench.data.loading import corpus_identity, source_identity
from bench.data.specs import load_task_spec
from bench.data.synthetic import ensure_synthetic, world_digest
from bench.data.tokenizer import checkpoint_tokenizer_of, get_tokenizer, imported_checkpoint, tokenizer_sha256


def data_fingerprint(data_cfg, language: str, task_cfg=None) -> dict:
    """The content identity of `language`'s tokenizer and pretraining corpus, and of the task's
    raw splits when `task_cfg` is given: JSON-ready, for a cache key."""
    d = as_dict(data_cfg)
    out = {"tokenizer": tokenizer_sha256(get_tokenizer(d, language)), "corpus": corpus_identity(d, language)}
    if task_cfg is not None:
        spec = load_task_spec(task_cfg)
        out["task"] = source_identity(d, spec.hub["path"], spec.hub["name"], list(spec.all_splits))
    return out


def synthetic_world_digest(data_cfg) -> str:
    """One sha256 of everything the synthetic world of this config wrote (written first if needed)."""
    return world_digest(ensure_synthetic(data_cfg))


def tokenizer_source(data_cfg, language: str) -> str:
    """Where the job's tokenizer comes from, in words for a summary: an imported checkpoint's files, else
    `data.tokenizer.<language>`."""
    d = as_dict(data_cfg)
    checkpoint = imported_checkpoint(d)
    if checkpoint is not None:
        return f"hf:{checkpoint}: {checkpoint_tokenizer_of(checkpoint).source}"
    spec = (d.get("tokenizer") or {}).get(language) or {}
    kind = spec.get("kind")
    if kind == "pretrained":
        return f"pretrained:{spec.get('name')}"
    if kind == "file":
        return f"file:{spec.get('path')}"
    settings = ",".join(f"{k}={v}" for k, v in sorted(spec.items()) if k != "kind")
    return f"{kind}({settings}) trained on the {source_of(d)} {language} corpus"


def tokenizer_info(tokenizer_or_path: Tokenizer | str | Path, source: str | None = None) -> dict:
    """Summary-ready facts of a tokenizer (a Tokenizer or a tokenizer.json path)."""
    if isinstance(tokenizer_or_path, (str, Path)):
        source = source or f"file:{tokenizer_or_path}"
        tok = Tokenizer.from_file(str(tokenizer_or_path))
    else:  # a Tokenizer, or a wrapper with its methods
        tok = tokenizer_or_path
    return {"tokenizer/source": source or "unknown", "tokenizer/vocab_size": tok.get_vocab_size(with_added_tokens=True),
            "tokenizer/sha256": tokenizer_sha256(tok)}
