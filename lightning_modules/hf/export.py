"""Export: our encoder (and its tied MLM head) as a Hugging Face checkpoint directory, config.json plus
model.safetensors (plus tokenizer.json when given), that `AutoModelForMaskedLM` loads. The weights go out
through the same name tables import reads them with; a parameter the tables do not know is an error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from tokenizers import Tokenizer

from lightning_modules.encoder import Encoder, MLMHead
from lightning_modules.hf.config import hf_config_dict, infer_family
from lightning_modules.hf.names import BASE_PREFIX, HFCheckpointError, encoder_table, mlm_table


def export_hf_checkpoint(
    encoder: Encoder,
    mlm_head: MLMHead | None,
    out_dir: str | os.PathLike,
    family: str | None = None,
    tokenizer: Tokenizer | None = None,
) -> Path:
    """Write config.json + model.safetensors (+ tokenizer.json) that `AutoModelForMaskedLM` loads."""
    cfg = encoder.cfg
    family = family or infer_family(cfg)
    config = hf_config_dict(cfg, family, mlm=mlm_head is not None)
    base = BASE_PREFIX[family]
    tensors: dict[str, torch.Tensor] = {}
    _scatter(encoder_table(cfg, family), encoder.state_dict(), base, tensors)
    if family == "albert" and cfg.embedding_size == cfg.hidden_size:
        key = f"{base}encoder.embedding_hidden_mapping_in"
        tensors[f"{key}.weight"], tensors[f"{key}.bias"] = torch.eye(cfg.hidden_size), torch.zeros(cfg.hidden_size)
    if mlm_head is not None:
        if mlm_head.word_embeddings is not encoder.embeddings.word:
            raise ValueError("mlm_head is not tied to this encoder's word embeddings")
        mlm_sd = {k: v for k, v in mlm_head.state_dict().items() if k != "word_embeddings.weight"}
        _scatter(mlm_table(family), mlm_sd, "", tensors)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    # Written aside then renamed, so an interrupted export never leaves a truncated checkpoint behind.
    tmp = out / "model.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, out / "model.safetensors")
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    if tokenizer is not None:
        tokenizer.save(str(out / "tokenizer.json"))
    return out


def _scatter(
    table: dict[str, list[str]], state: dict[str, torch.Tensor], prefix: str, out: dict[str, torch.Tensor]
) -> None:
    unmapped = sorted(set(state) - set(table))
    if unmapped:  # a new parameter in encoder.py that this table does not know yet
        raise HFCheckpointError(f"no Hugging Face name for parameter(s): {', '.join(unmapped)}")
    for ours, keys in table.items():
        for k, part in zip(keys, state[ours].detach().float().chunk(len(keys), 0)):
            out[prefix + k] = part.contiguous().clone()
