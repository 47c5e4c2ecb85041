"""job_type=speed: build the models, load and tokenize the task's pairs, measure, and return the summary."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from bench.config.architecture import effective_encoder_config
from bench.config.schema import encoder_config
from bench.jobs.speed.measurement import measure
from bench.jobs.speed.settings import SpeedSettings
from bench.jobs.speed.timing import encode_pairs
from lightning_modules.encoder import Encoder, EncoderConfig


def build_hf_model(cfg: EncoderConfig, family: str | None = None) -> tuple[nn.Module, str]:
    """Hugging Face's model of this architecture (random weights) and its family (inferred if None)."""
    from lightning_modules.hf import hf_reference_model, infer_family  # needs transformers

    family = family or infer_family(cfg)
    return hf_reference_model(cfg, family), family


def load_pairs(cfg: DictConfig, split: str, max_examples: int | None, start: int = 0) -> list[tuple[str, str | None]]:
    """`max_examples` text pairs of `cfg.task`'s split (STS-B dev for the paper's table) from `start`, wrapping
    around at its end (the whole split when `max_examples` is None or covers it)."""
    from bench.data import load_task

    ds = load_task(cfg.task, cfg.data)
    if split not in ds:
        raise KeyError(f"task {task_name(cfg)!r} has no split {split!r} (speed.split); it has {', '.join(ds)}")
    part = ds[split]
    cols = cfg.task.columns
    a, b = cols.get("text_a"), cols.get("text_b")
    for key, col in (("text_a", a), ("text_b", b)):
        if col is not None and col not in part.column_names:
            raise KeyError(
                f"task.columns.{key}={col!r} is not a column of the {split} split ({', '.join(part.column_names)})"
            )
    n = len(part) if max_examples is None else min(max_examples, len(part))
    start = start if n < len(part) else 0
    part = part.select([(start + i) % len(part) for i in range(n)])
    return list(zip(part[a], part[b] if b is not None else [None] * n))


def task_name(cfg: DictConfig) -> str:
    """The task group's choice (`stsb`) inside a Hydra app, else the task node's own `name`."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices["task"])
    except (ValueError, KeyError):  # not inside a Hydra app
        return str(cfg.task.get("name", "?"))


def load_tokenizer(cfg: DictConfig) -> Any:
    from bench.data import get_tokenizer

    return get_tokenizer(cfg.data, cfg.task.get("language", "en"))


def speed_job(cfg: DictConfig, run: Any = None) -> dict[str, Any]:
    """The summary entries of one inference-time measurement (`run` is not needed)."""
    s = SpeedSettings.from_cfg(cfg.speed)
    # each seed times its own pairs when the profile times fewer than the split (seeds 0-2: pairs 0-299 at tiny)
    seed = int(cfg.get("seed", 0))
    pairs = load_pairs(cfg, s.split, s.max_examples, start=seed * (s.max_examples or 0))
    tokenizer = load_tokenizer(cfg)
    vocab = tokenizer.get_vocab_size()
    enc_cfg = encoder_config(cfg.model) if s.full_size else effective_encoder_config(cfg, vocab_size=vocab)
    if vocab > enc_cfg.vocab_size:
        raise ValueError(
            f"the tokenizer has {vocab} tokens but model.vocab_size is {enc_cfg.vocab_size}: ids would overflow"
        )
    encoded = encode_pairs(pairs, tokenizer, s.max_length)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        torch.manual_seed(seed)
        encoder = Encoder(enc_cfg)
        hf_model, family, skipped = None, s.hf_family, None
        if s.hf:
            try:
                hf_model, family = build_hf_model(enc_cfg, s.hf_family)
            except (ImportError, NotImplementedError, ValueError) as e:  # no transformers, or no HF twin
                skipped = f"{type(e).__name__}: {e}"
        out = measure(encoder, encoded, s, hf_model)
    finally:
        torch.set_num_threads(previous_threads)
    out.update(
        {
            "speed/task": task_name(cfg),
            "speed/split": s.split,
            "speed/data_source": str(cfg.data.get("source", "?")),
            "speed/full_size": s.full_size,
            "speed/max_length": s.max_length,
        }
    )
    from bench.data.identity import tokenizer_info, tokenizer_source

    out.update(tokenizer_info(tokenizer, tokenizer_source(cfg.data, cfg.task.get("language", "en"))))
    if s.hf:
        out["speed/hf_family"] = family or "?"
        if skipped:
            out["speed/hf_skipped"] = skipped
    return out
