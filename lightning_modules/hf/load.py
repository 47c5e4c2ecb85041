"""Import: a Hugging Face checkpoint (a local directory or a hub name) into our encoder, MLM head and
NSP/SOP head. It reads `config.json` and the weights itself (safetensors, else a `weights_only` torch
pickle), so no `transformers` install is needed. Every weight is accounted for: a missing or an
unexpected one is an error that lists them, never a silent partial load.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from lightning_modules.encoder import Encoder, EncoderConfig, MLMHead, SentencePairHead
from lightning_modules.hf.config import encoder_config_from_hf, family_of
from lightning_modules.hf.names import (
    BASE_PREFIX,
    MLM_NAMES,
    PAIR_NAMES,
    POOLER_NAME,
    HFCheckpointError,
    encoder_table,
    linear,
    mlm_table,
)

log = logging.getLogger(__name__)

# Files fetched from the hub: the weights (safetensors first) and whatever describes the tokenizer.
_HUB_FILES = [
    "config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
]
# Buffers that HF saved in some versions and that carry no learned value.
_HARMLESS_SUFFIXES = (".position_ids", ".token_type_ids")


@dataclass
class HFImport:
    config: EncoderConfig
    encoder: Encoder
    mlm_head: MLMHead | None  # present when the checkpoint has an MLM head (*ForMaskedLM, *ForPreTraining)
    family: str
    tokenizer_dir: Path  # the checkpoint directory: its tokenizer files (lightning_modules.hf.tokenizer reads them)
    tokenizer: Tokenizer | None  # from tokenizer.json when the checkpoint has one (jobs convert slow files too)
    sentence_pair_head: SentencePairHead | None = None  # NSP (BERT) / SOP (ALBERT) of *ForPreTraining


def load_hf_checkpoint(name_or_dir: str | os.PathLike) -> HFImport:
    """Our encoder (+ MLM head, + NSP/SOP head) holding the weights of a Hugging Face checkpoint."""
    root = resolve_checkpoint_dir(name_or_dir)
    config_path = root / "config.json"
    if not config_path.is_file():
        raise HFCheckpointError(f"{root}: no config.json; not a Hugging Face checkpoint directory")
    hf = json.loads(config_path.read_text())
    family = family_of(hf, str(config_path))
    weights, weights_path = read_weights(root)
    weights = {_legacy_name(k): v for k, v in weights.items() if not k.endswith(_HARMLESS_SUFFIXES)}

    base = BASE_PREFIX[family]
    if not any(k.startswith(base) for k in weights):
        base = ""  # a base-model checkpoint (BertModel.save_pretrained) has unprefixed names
    has_pooler = family in POOLER_NAME and f"{base}{POOLER_NAME[family]}.weight" in weights
    cfg = encoder_config_from_hf(hf, pooler=has_pooler, source=str(config_path))

    ck = _Checkpoint(weights, weights_path, family)
    enc_sd = ck.take(encoder_table(cfg, family), base)
    # HF's ALBERT always projects E -> H; ours has no projection when E == H (see the package docstring).
    unrepresented_projection = family == "albert" and cfg.embedding_size == cfg.hidden_size
    projection = ck.take(linear("p", "encoder.embedding_hidden_mapping_in"), base) if unrepresented_projection else {}
    mlm_keys = mlm_table(family)
    has_mlm = any(k in weights for keys in mlm_keys.values() for k in keys)
    mlm_sd = ck.take(mlm_keys) if has_mlm else {}
    _, _, _, decoder_w, decoder_b = MLM_NAMES[family]
    tied = ck.take_optional([decoder_w, decoder_b] if has_mlm else [])
    pair_table = linear("classifier", PAIR_NAMES[family]) if family in PAIR_NAMES else {}
    has_pair = any(k in weights for keys in pair_table.values() for k in keys)
    pair_sd = ck.take(pair_table) if has_pair else {}
    ck.check_complete()

    if unrepresented_projection:
        if not (torch.equal(projection["p.weight"], torch.eye(cfg.hidden_size)) and not projection["p.bias"].any()):
            raise HFCheckpointError(
                f"{weights_path}: ALBERT with embedding_size == hidden_size has a trained "
                "encoder.embedding_hidden_mapping_in; our encoder has no projection when E == H"
            )
    encoder: Encoder = _build(lambda: Encoder(cfg), enc_sd)
    mlm_head = None
    if has_mlm:
        # An MLM decoder saved next to the embeddings must equal them: ours is tied and has no untied copy.
        for key, value in ((decoder_w, enc_sd["embeddings.word.weight"]), (decoder_b, mlm_sd["bias"])):
            if key in tied and (tied[key].shape != value.shape or not torch.equal(tied[key], value)):
                raise HFCheckpointError(
                    f"{weights_path}: {key} is not tied to the value it should equal; our MLM head "
                    "is tied to the word embeddings"
                )
        # The decoder is the encoder's own embedding module (tied), so its weight is passed as that Parameter.
        word = encoder.embeddings.word
        mlm_head = _build(lambda: MLMHead(cfg, word), {**mlm_sd, "word_embeddings.weight": word.weight})
    pair_head = _build(lambda: SentencePairHead(cfg), pair_sd) if has_pair else None
    tok_path = root / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(tok_path)) if tok_path.is_file() else None
    log.info("imported %s checkpoint %s (mlm head: %s)", family, root, mlm_head is not None)
    return HFImport(cfg, encoder, mlm_head, family, root, tokenizer, pair_head)


def resolve_checkpoint_dir(name_or_dir: str | os.PathLike) -> Path:
    """A local directory as is; a hub name through `snapshot_download` (its cache only when offline)."""
    path = Path(name_or_dir).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_dir)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise HFCheckpointError(f"{name}: not a checkpoint directory (and not a hub name like 'bert-base-uncased')")
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        root = Path(snapshot_download(name, allow_patterns=_HUB_FILES, local_files_only=offline))
        if not _weight_files(root):
            root = Path(snapshot_download(name, allow_patterns=["pytorch_model.bin"], local_files_only=offline))
    except Exception as e:  # the hub's errors are many (offline, not found, gated): all mean "no checkpoint"
        if offline:
            raise HFCheckpointError(
                f"{name}: HF_HUB_OFFLINE=1 and no cached copy of this hub checkpoint; download it while online or "
                f"pass a local directory (model.init=hf:/path/to/dir)"
            ) from e
        raise HFCheckpointError(f"{name}: could not download from the Hugging Face hub: {e}") from e
    return root


def _weight_files(root: Path) -> list[Path]:
    if (root / "model.safetensors").is_file():
        return [root / "model.safetensors"]
    index = root / "model.safetensors.index.json"
    if index.is_file():
        return [root / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return [root / "pytorch_model.bin"] if (root / "pytorch_model.bin").is_file() else []


def read_weights(root: Path) -> tuple[dict[str, torch.Tensor], Path]:
    """All tensors of a checkpoint directory (safetensors preferred) and the file they came from."""
    files = _weight_files(root)
    if not files:
        raise HFCheckpointError(f"{root}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")
    weights: dict[str, torch.Tensor] = {}
    for f in files:
        if f.suffix == ".safetensors":
            from safetensors.torch import load_file

            weights.update(load_file(str(f)))
        else:
            weights.update(torch.load(f, map_location="cpu", weights_only=True))
    return weights, files[0] if len(files) == 1 else root / "model.safetensors.index.json"


def _legacy_name(key: str) -> str:
    """TF-era checkpoints name LayerNorm parameters gamma/beta."""
    if key.endswith("LayerNorm.gamma"):
        return key[: -len("gamma")] + "weight"
    if key.endswith("LayerNorm.beta"):
        return key[: -len("beta")] + "bias"
    return key


class _Checkpoint:
    """The checkpoint's tensors, taken by name; remembers what was missing and what was never taken."""

    def __init__(self, weights: dict[str, torch.Tensor], source: Path, family: str):
        self.weights, self.source, self.family = weights, source, family
        self.used: set[str] = set()
        self.missing: list[str] = []

    def take(self, table: dict[str, list[str]], prefix: str = "") -> dict[str, torch.Tensor]:
        """Our key -> the HF tensors named in `table`, concatenated along dim 0 (fused QKV), as fp32."""
        out = {}
        for ours, keys in table.items():
            names = [prefix + k for k in keys]
            absent = [n for n in names if n not in self.weights]
            self.missing += absent
            self.used.update(names)
            if not absent:
                parts = [self.weights[n] for n in names]
                out[ours] = (parts[0] if len(parts) == 1 else torch.cat(parts, 0)).float().contiguous()
        return out

    def take_optional(self, names: list[str | None]) -> dict[str, torch.Tensor]:
        found = {n: self.weights[n].float() for n in names if n is not None and n in self.weights}
        self.used.update(found)
        return found

    def check_complete(self) -> None:
        unexpected = sorted(set(self.weights) - self.used)
        problems = []
        if self.missing:
            problems.append(f"{len(self.missing)} missing weight(s): {', '.join(sorted(self.missing))}")
        if unexpected:
            problems.append(
                f"{len(unexpected)} unexpected weight(s) that our {self.family} encoder and heads have no "
                f"place for: {', '.join(unexpected)}"
            )
        if problems:
            raise HFCheckpointError(f"{self.source}: " + "; ".join(problems))


def _build(make: Callable[[], torch.nn.Module], state: dict[str, torch.Tensor]) -> Any:
    """The module `make` builds, holding `state`; built on the meta device so large models skip a random init."""
    with torch.device("meta"):
        module = make()
    expected = module.state_dict()
    for k, v in state.items():
        if expected[k].shape != v.shape:
            raise HFCheckpointError(
                f"{type(module).__name__}.{k}: checkpoint shape {tuple(v.shape)} does not match "
                f"the config's {tuple(expected[k].shape)}"
            )
    module.load_state_dict(state, strict=True, assign=True)
    return module
