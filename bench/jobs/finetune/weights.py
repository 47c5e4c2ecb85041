"""Weights going into a fine-tuning module, checked first (an encoder from the store or a Hugging Face
checkpoint, a job's resume checkpoint, read with weights_only=True: a clear error naming the file and
the keys), and the trained weights read back after a fit of several processes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig

from bench.store.checkpoints import read_resume_checkpoint
from lightning_modules.finetune import FineTuneModule


def state_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, Any], limit: int = 6) -> str:
    """'' when `found` fits `expected` (same keys, same shapes), else what differs, keys named."""

    def names(keys: list[str]) -> str:
        return ", ".join(keys[:limit]) + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")

    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shapes = [f"{k} {list(found[k].shape)} where the model has {list(expected[k].shape)}"
              for k in sorted(set(expected) & set(found))
              if hasattr(found[k], "shape") and tuple(found[k].shape) != tuple(expected[k].shape)]
    parts = []
    if shapes:
        parts.append(f"shape mismatch for {names(shapes)}")
    if missing:
        parts.append(f"missing {names(missing)}")
    if unexpected:
        parts.append(f"unexpected {names(unexpected)}")
    return "; ".join(parts)


def _arch_text(module: FineTuneModule) -> str:
    c = module.encoder.cfg
    return (f"vocab_size={c.vocab_size}, embedding_size={c.embedding_size}, hidden_size={c.hidden_size}, "
            f"num_layers={c.num_layers}, num_heads={c.num_heads}, intermediate_size={c.intermediate_size}, "
            f"sharing={c.sharing}")


def encoder_source(cfg: DictConfig, arch, init: str) -> str:
    """The file an encoder state came from, for error messages (computed only when one is needed)."""
    if init.startswith("store:"):
        from bench.jobs.pretrain import store_entry
        from bench.store.checkpoints import WEIGHTS

        return str(store_entry(cfg, arch) / WEIGHTS)
    return init


def load_encoder_state(module: FineTuneModule, state: Mapping[str, torch.Tensor], source: Callable[[], str]) -> None:
    """Load a pretrained or imported encoder; `source()` names its file when it does not fit.

    A module whose head reads the [CLS] hidden state has no pooler: the state's pooler is left out.
    """
    if module.encoder.pooler is None:
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    problems = state_mismatch(module.encoder.state_dict(), state)
    if problems:
        raise ValueError(f"{source()}: its encoder weights do not fit the configured model ({_arch_text(module)}): "
                         f"{problems}")
    module.encoder.load_state_dict(state)


def start_over_hint(job_dir: Path) -> str:
    return f"delete {job_dir} to start this job over (or run it again with rerun=true)"


def check_resume_checkpoint(path: Path, module: FineTuneModule) -> dict[str, int]:
    """A job dir's `last.ckpt` must be safely readable and hold this job's module, or the job stops
    here (nothing is moved or deleted: the file may hold hours of training that a fix can save).

    Returns where it stands: {"global_step": optimizer steps done, "epoch": the epoch it is in}.
    (The train loader's position within that epoch is in it too; Lightning hands it back.)
    """
    hint = start_over_hint(path.parent)
    ckpt = read_resume_checkpoint(path, hint)
    problems = state_mismatch(module.state_dict(), ckpt["state_dict"])
    if problems:
        raise ValueError(f"{path}: a checkpoint of another architecture than this job's ({_arch_text(module)}): "
                         f"{problems}; {hint}")
    return {"global_step": int(ckpt.get("global_step", 0)), "epoch": int(ckpt.get("epoch", 0))}


def trained_module(trainer: L.Trainer, module: FineTuneModule, last: Path) -> tuple[FineTuneModule, int]:
    """(the trained module to evaluate in this process, optimizer steps taken).

    One process: the module itself. Several (ddp, ddp_spawn, fsdp): a plain module with the weights
    of `last.ckpt`, which Lightning writes, in full, when training ends (JobCheckpoint). That is the
    same code for every strategy: ddp_spawn trained copies in its workers (Lightning 2.6 loads their
    weights back non-strictly), fsdp leaves sharded parameters whose forward pass would wait for the
    other ranks.
    """
    if trainer.world_size == 1:
        return module, trainer.global_step
    ckpt = read_resume_checkpoint(last, "the fit that just ended wrote it; run the job again to resume from it")
    fresh = FineTuneModule(**ckpt["hyper_parameters"])
    fresh.load_state_dict(ckpt["state_dict"])
    return fresh, int(ckpt["global_step"])
