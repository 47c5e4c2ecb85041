"""Hugging Face checkpoints in and out of our one encoder (BERT, ALBERT, RoBERTa, DistilBERT).

Import reads `config.json` and the weights directly (safetensors, else a `weights_only` torch
pickle), so a real teacher or a published starting point needs no `transformers` install; only
`hf_reference_model` (the ours-vs-HF speed comparison) does. One table per family maps our
parameter names to Hugging Face's; the same table drives import and export, so the two cannot
drift apart. Every weight is accounted for: a missing or an unexpected one is an error that lists
them, never a silent partial load.

What our encoder cannot reproduce exactly, and how it is handled:
- RoBERTa numbers positions from the input ids (pad tokens get position `pad_token_id`, the
  others count up from `pad_token_id + 1` skipping pads); ours numbers them 2, 3, ... by index.
  Both agree on every non-pad token of a right-padded batch (the suite's collators pad right);
  pad tokens' own hidden states differ, and are masked out of attention in both.
- ALBERT with E == H still has an E -> H projection in Hugging Face; ours has none. Import accepts
  it only when it is the identity (which export writes), else it is an error.
- DistilBERT's LayerNorm eps is fixed at 1e-12 and its sinusoidal position option is stored as
  ordinary weights (imported as such; ours would train them).
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

log = logging.getLogger(__name__)

FAMILIES = ("bert", "albert", "roberta", "distilbert")
INSTALL_HINT = "pip install -e '.[hf]'"
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
_HF_CLASS_PREFIX = {"bert": "Bert", "albert": "Albert", "roberta": "Roberta", "distilbert": "DistilBert"}
_BASE_PREFIX = {"bert": "bert.", "albert": "albert.", "roberta": "roberta.", "distilbert": "distilbert."}


class HFCheckpointError(ValueError):
    """A checkpoint that does not map onto our encoder; the message names the file and the keys."""


@dataclass
class HFImport:
    config: EncoderConfig
    encoder: Encoder
    mlm_head: MLMHead | None  # present when the checkpoint has an MLM head (*ForMaskedLM, *ForPreTraining)
    family: str
    tokenizer_dir: Path  # the checkpoint directory: tokenizer files for transformers' AutoTokenizer
    tokenizer: Tokenizer | None  # from tokenizer.json when the checkpoint has one
    sentence_pair_head: SentencePairHead | None = None  # NSP (BERT) / SOP (ALBERT) of *ForPreTraining


def parse_init(init: str) -> tuple[str, str | None]:
    """`model.init` -> ("random", None) | ("store", None) | ("hf", "<hub name or local dir>")."""
    if init in ("random", "store"):
        return init, None
    if init.startswith("hf:"):
        arg = init[3:].strip()
        if not arg:
            raise ValueError("model.init='hf:' needs a hub name or a local directory, e.g. hf:bert-base-uncased")
        return "hf", arg
    raise ValueError(f"model.init must be 'random', 'store' or 'hf:<hub name or local dir>', got {init!r}")


# --------------------------------------------------------------------------------------------
# Name tables: our key -> the HF keys it is made of (several are concatenated along dim 0: QKV)
# --------------------------------------------------------------------------------------------


def _linear(ours: str, theirs: str) -> dict[str, list[str]]:
    return {f"{ours}.weight": [f"{theirs}.weight"], f"{ours}.bias": [f"{theirs}.bias"]}


def _qkv(ours: str, q: str, k: str, v: str) -> dict[str, list[str]]:
    return {f"{ours}.{p}": [f"{q}.{p}", f"{k}.{p}", f"{v}.{p}"] for p in ("weight", "bias")}


# Per family: layer i's HF prefix, then its (query, key, value), attention output, attention LayerNorm,
# FFN in, FFN out, FFN LayerNorm. An ALBERT "layer" is a layer group (one per layer, or one shared).
_LAYER_NAMES = {
    "bert": ("encoder.layer.{i}", ("attention.self.query", "attention.self.key", "attention.self.value"),
             "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
             "output.LayerNorm"),
    "albert": ("encoder.albert_layer_groups.{i}.albert_layers.0", ("attention.query", "attention.key", "attention.value"),
               "attention.dense", "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"),
    "distilbert": ("transformer.layer.{i}", ("attention.q_lin", "attention.k_lin", "attention.v_lin"),
                   "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"),
}  # fmt: skip
_LAYER_NAMES["roberta"] = _LAYER_NAMES["bert"]
_POOLER_NAME = {"bert": "pooler.dense", "roberta": "pooler.dense", "albert": "pooler"}


def _encoder_table(cfg: EncoderConfig, family: str) -> dict[str, list[str]]:
    """Our Encoder's state-dict keys -> HF base-model keys (without the `bert.`-style prefix)."""
    t: dict[str, list[str]] = {
        "embeddings.word.weight": ["embeddings.word_embeddings.weight"],
        "embeddings.position.weight": ["embeddings.position_embeddings.weight"],
        **_linear("embeddings.norm", "embeddings.LayerNorm"),
    }
    if cfg.type_vocab_size:
        t["embeddings.token_type.weight"] = ["embeddings.token_type_embeddings.weight"]
    if cfg.embedding_size != cfg.hidden_size:  # only ALBERT factorizes (export checks)
        t.update(_linear("embeddings.project", "encoder.embedding_hidden_mapping_in"))
    layer, qkv, out, out_norm, up, down, ffn_norm = _LAYER_NAMES[family]
    # Our sharing modes that HF has: none (a block per layer), all (ALBERT's one layer group).
    for i in range(1 if cfg.sharing == "all" else cfg.num_layers):
        g = layer.format(i=i) + "."
        t.update(_qkv(f"attention.{i}.qkv", *(g + n for n in qkv)))
        t.update(_linear(f"attention.{i}.out", g + out))
        t.update(_linear(f"attention.{i}.norm", g + out_norm))
        t.update(_linear(f"ffn.{i}.up", g + up))
        t.update(_linear(f"ffn.{i}.down", g + down))
        t.update(_linear(f"ffn.{i}.norm", g + ffn_norm))
    if cfg.pooler:
        t.update(_linear("pooler", _POOLER_NAME[family]))
    return t


# MLM head: (transform, LayerNorm, bias, tied decoder weight, tied decoder bias or None), top-level keys.
_MLM_NAMES = {
    "bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias",
             "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"),
    "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias", "lm_head.decoder.weight", "lm_head.decoder.bias"),
    "albert": ("predictions.dense", "predictions.LayerNorm", "predictions.bias", "predictions.decoder.weight",
               "predictions.decoder.bias"),
    "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector.bias", "vocab_projector.weight", None),
}  # fmt: skip
_PAIR_NAMES = {"bert": "cls.seq_relationship", "albert": "sop_classifier.classifier"}


def _mlm_table(family: str) -> dict[str, list[str]]:
    transform, norm, bias, _, _ = _MLM_NAMES[family]
    return {**_linear("transform", transform), **_linear("norm", norm), "bias": [bias]}


# --------------------------------------------------------------------------------------------
# config.json <-> EncoderConfig
# --------------------------------------------------------------------------------------------

_REQUIRED = {
    "bert": ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"),
    "distilbert": ("vocab_size", "dim", "n_layers", "n_heads", "hidden_dim"),
}
_REQUIRED["roberta"] = _REQUIRED["albert"] = _REQUIRED["bert"]
# Hugging Face's class defaults, for the keys that old config.json files leave out.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "bert": dict(hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                 pad_token_id=0, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1),
    "albert": dict(hidden_act="gelu_new", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
                   pad_token_id=0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, embedding_size=128,
                   num_hidden_groups=1, inner_group_num=1),
    "distilbert": dict(activation="gelu", max_position_embeddings=512, pad_token_id=0, dropout=0.1,
                       attention_dropout=0.1),
}  # fmt: skip
_DEFAULTS["roberta"] = {**_DEFAULTS["bert"], "pad_token_id": 1}


def encoder_config_from_hf(hf: dict[str, Any], pooler: bool, source: str = "config.json") -> EncoderConfig:
    """The EncoderConfig equivalent to a Hugging Face config.json (pooler: whether its weights exist)."""
    family = _family_of(hf, source)
    missing = [k for k in _REQUIRED[family] if k not in hf]
    if missing:
        raise HFCheckpointError(f"{source}: missing key(s) {', '.join(missing)} for model_type {family!r}")
    c = {**_DEFAULTS[family], **{k: v for k, v in hf.items() if v is not None}}
    if family == "distilbert":
        return EncoderConfig(
            vocab_size=c["vocab_size"],
            embedding_size=c["dim"],
            hidden_size=c["dim"],
            num_layers=c["n_layers"],
            num_heads=c["n_heads"],
            intermediate_size=c["hidden_dim"],
            max_position_embeddings=c["max_position_embeddings"],
            type_vocab_size=0,
            sharing="none",
            pooler=False,
            position_offset=0,
            activation=_activation(c["activation"], "activation", source),
            layer_norm_eps=1e-12,
            dropout=c["dropout"],
            attention_dropout=c["attention_dropout"],
            pad_token_id=c["pad_token_id"],
        )
    if c.get("position_embedding_type", "absolute") != "absolute":
        raise HFCheckpointError(
            f"{source}: position_embedding_type={c['position_embedding_type']!r}; our encoder has absolute positions only"
        )
    for key in ("is_decoder", "add_cross_attention"):
        if c.get(key):
            raise HFCheckpointError(
                f"{source}: {key}=true; our encoder is a bidirectional encoder without cross-attention"
            )
    offset = c["pad_token_id"] + 1 if family == "roberta" else 0
    if c["max_position_embeddings"] <= offset:
        raise HFCheckpointError(f"{source}: max_position_embeddings={c['max_position_embeddings']} leaves no positions")
    activation = _activation(c["hidden_act"], "hidden_act", source)
    if family == "roberta" and activation != "gelu":
        # RobertaLMHead applies the exact GELU whatever hidden_act says; our MLM head follows hidden_act.
        raise HFCheckpointError(f"{source}: RoBERTa with hidden_act={c['hidden_act']!r} is not supported (only gelu)")
    return EncoderConfig(
        vocab_size=c["vocab_size"],
        embedding_size=c["embedding_size"] if family == "albert" else c["hidden_size"],
        hidden_size=c["hidden_size"],
        num_layers=c["num_hidden_layers"],
        num_heads=c["num_attention_heads"],
        intermediate_size=c["intermediate_size"],
        max_position_embeddings=c["max_position_embeddings"] - offset,
        type_vocab_size=c["type_vocab_size"],
        sharing=_albert_sharing(c, source) if family == "albert" else "none",
        pooler=pooler,
        position_offset=offset,
        activation=activation,
        layer_norm_eps=c["layer_norm_eps"],
        dropout=c["hidden_dropout_prob"],
        attention_dropout=c["attention_probs_dropout_prob"],
        pad_token_id=c["pad_token_id"],
    )


def _family_of(hf: dict[str, Any], source: str) -> str:
    model_type = hf.get("model_type")
    if model_type is None:
        raise HFCheckpointError(f"{source}: no 'model_type' key; cannot tell which architecture this is")
    if model_type not in FAMILIES:
        raise HFCheckpointError(
            f"{source}: model_type {model_type!r} is not a BERT-family encoder; supported: {', '.join(FAMILIES)}"
        )
    return model_type


def _activation(name: str, key: str, source: str) -> str:
    if name not in ("gelu", "gelu_new"):
        raise HFCheckpointError(f"{source}: {key}={name!r} is not supported; our encoder has gelu and gelu_new")
    return name


def _albert_sharing(c: dict[str, Any], source: str) -> str:
    groups, inner, layers = c["num_hidden_groups"], c["inner_group_num"], c["num_hidden_layers"]
    if inner == 1 and groups == 1:
        return "all"
    if inner == 1 and groups == layers:
        return "none"
    raise HFCheckpointError(
        f"{source}: ALBERT with num_hidden_groups={groups}, inner_group_num={inner} (num_hidden_layers={layers}) has no "
        "sharing mode in our encoder; supported: all-shared (1 group, 1 inner layer) or not shared (one group per layer)"
    )


def hf_config_dict(cfg: EncoderConfig, family: str, mlm: bool = True) -> dict[str, Any]:
    """The Hugging Face config.json of our architecture; a clear error where HF has no such model."""
    _check_exportable(cfg, family)
    common = {
        "architectures": [f"{_HF_CLASS_PREFIX[family]}{'ForMaskedLM' if mlm else 'Model'}"],
        "model_type": family,
        "vocab_size": cfg.vocab_size,
        "pad_token_id": cfg.pad_token_id,
        "tie_word_embeddings": True,
    }
    if family == "distilbert":
        return {
            **common,
            "dim": cfg.hidden_size,
            "n_layers": cfg.num_layers,
            "n_heads": cfg.num_heads,
            "hidden_dim": cfg.intermediate_size,
            "activation": cfg.activation,
            "dropout": cfg.dropout,
            "attention_dropout": cfg.attention_dropout,
            "max_position_embeddings": cfg.max_position_embeddings,
            "sinusoidal_pos_embds": False,
        }
    d = {
        **common,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "intermediate_size": cfg.intermediate_size,
        "hidden_act": cfg.activation,
        "hidden_dropout_prob": cfg.dropout,
        "attention_probs_dropout_prob": cfg.attention_dropout,
        "max_position_embeddings": cfg.max_position_embeddings + cfg.position_offset,
        "type_vocab_size": cfg.type_vocab_size,
        "layer_norm_eps": cfg.layer_norm_eps,
    }
    if family == "albert":
        d.update(
            embedding_size=cfg.embedding_size,
            inner_group_num=1,
            num_hidden_groups=1 if cfg.sharing == "all" else cfg.num_layers,
        )
    return d


def _check_exportable(cfg: EncoderConfig, family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    problems = []
    if cfg.sharing in ("attention", "ffn"):
        problems.append(
            f"sharing={cfg.sharing!r}: Hugging Face has no architecture that shares only the {cfg.sharing} "
            "block (ALBERT shares all or nothing)"
        )
    elif cfg.sharing == "all" and family != "albert":
        problems.append("sharing='all' exists in Hugging Face only as ALBERT (family='albert')")
    if family != "albert" and cfg.embedding_size != cfg.hidden_size:
        problems.append(f"embedding_size={cfg.embedding_size} != hidden_size={cfg.hidden_size}: only ALBERT factorizes")
    want_offset = cfg.pad_token_id + 1 if family == "roberta" else 0
    if cfg.position_offset != want_offset:
        problems.append(f"position_offset={cfg.position_offset}, but {family} numbers positions from {want_offset}")
    if family == "distilbert":
        if cfg.type_vocab_size:
            problems.append(f"type_vocab_size={cfg.type_vocab_size}: DistilBERT has no token-type embeddings")
        if cfg.pooler:
            problems.append("pooler=true: DistilBERT has no pooler")
        if cfg.layer_norm_eps != 1e-12:
            problems.append(f"layer_norm_eps={cfg.layer_norm_eps}: DistilBERT fixes it at 1e-12")
    elif not cfg.type_vocab_size:
        problems.append(f"type_vocab_size=0: {family} always has token-type embeddings")
    if family == "roberta" and cfg.activation != "gelu":
        problems.append("activation='gelu_new': RoBERTa's MLM head always uses the exact GELU")
    if problems:
        raise HFCheckpointError(f"cannot express this encoder as a Hugging Face {family} model: " + "; ".join(problems))


# --------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------


def load_hf_checkpoint(name_or_dir: str | os.PathLike) -> HFImport:
    """Our encoder (+ MLM head, + NSP/SOP head) holding the weights of a Hugging Face checkpoint."""
    root = resolve_checkpoint_dir(name_or_dir)
    config_path = root / "config.json"
    if not config_path.is_file():
        raise HFCheckpointError(f"{root}: no config.json; not a Hugging Face checkpoint directory")
    hf = json.loads(config_path.read_text())
    family = _family_of(hf, str(config_path))
    weights, weights_path = read_weights(root)
    weights = {_legacy_name(k): v for k, v in weights.items() if not k.endswith(_HARMLESS_SUFFIXES)}

    base = _BASE_PREFIX[family]
    if not any(k.startswith(base) for k in weights):
        base = ""  # a base-model checkpoint (BertModel.save_pretrained) has unprefixed names
    has_pooler = family in _POOLER_NAME and f"{base}{_POOLER_NAME[family]}.weight" in weights
    cfg = encoder_config_from_hf(hf, pooler=has_pooler, source=str(config_path))

    ck = _Checkpoint(weights, weights_path, family)
    enc_sd = ck.take(_encoder_table(cfg, family), base)
    # HF's ALBERT always projects E -> H; ours has no projection when E == H (see the module docstring).
    unrepresented_projection = family == "albert" and cfg.embedding_size == cfg.hidden_size
    projection = ck.take(_linear("p", "encoder.embedding_hidden_mapping_in"), base) if unrepresented_projection else {}
    mlm_table = _mlm_table(family)
    has_mlm = any(k in weights for keys in mlm_table.values() for k in keys)
    mlm_sd = ck.take(mlm_table) if has_mlm else {}
    _, _, _, decoder_w, decoder_b = _MLM_NAMES[family]
    tied = ck.take_optional([decoder_w, decoder_b] if has_mlm else [])
    pair_table = _linear("classifier", _PAIR_NAMES[family]) if family in _PAIR_NAMES else {}
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


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------


def infer_family(cfg: EncoderConfig) -> str:
    """The HF family an EncoderConfig looks like (no token types: DistilBERT, offset: RoBERTa, ...)."""
    if not cfg.type_vocab_size:
        return "distilbert"
    if cfg.position_offset:
        return "roberta"
    if cfg.embedding_size != cfg.hidden_size or cfg.sharing != "none" or cfg.activation == "gelu_new":
        return "albert"
    return "bert"


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
    base = _BASE_PREFIX[family]
    tensors: dict[str, torch.Tensor] = {}
    _scatter(_encoder_table(cfg, family), encoder.state_dict(), base, tensors)
    if family == "albert" and cfg.embedding_size == cfg.hidden_size:
        key = f"{base}encoder.embedding_hidden_mapping_in"
        tensors[f"{key}.weight"], tensors[f"{key}.bias"] = torch.eye(cfg.hidden_size), torch.zeros(cfg.hidden_size)
    if mlm_head is not None:
        if mlm_head.word_embeddings is not encoder.embeddings.word:
            raise ValueError("mlm_head is not tied to this encoder's word embeddings")
        mlm_sd = {k: v for k, v in mlm_head.state_dict().items() if k != "word_embeddings.weight"}
        _scatter(_mlm_table(family), mlm_sd, "", tensors)
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


# --------------------------------------------------------------------------------------------
# A Hugging Face twin, for the ours/HF speed comparison and the parameter census
# --------------------------------------------------------------------------------------------


def require_transformers() -> Any:
    try:
        import transformers
    except ImportError as e:
        raise ImportError(f"this needs Hugging Face transformers: {INSTALL_HINT}") from e
    return transformers


def hf_reference_model(cfg: EncoderConfig, family: str | None = None, mlm: bool = False) -> torch.nn.Module:
    """A randomly initialised HF model of our architecture: the base model (with our pooler choice), or *ForMaskedLM."""
    transformers = require_transformers()
    family = family or infer_family(cfg)
    d = hf_config_dict(cfg, family, mlm=mlm)
    d.pop("architectures")
    config = transformers.AutoConfig.for_model(d.pop("model_type"), **d)
    if mlm:
        return transformers.AutoModelForMaskedLM.from_config(config)
    cls = getattr(transformers, f"{_HF_CLASS_PREFIX[family]}Model")
    return cls(config) if family == "distilbert" else cls(config, add_pooling_layer=cfg.pooler)


__all__ = [
    "FAMILIES",
    "HFCheckpointError",
    "HFImport",
    "encoder_config_from_hf",
    "export_hf_checkpoint",
    "hf_config_dict",
    "hf_reference_model",
    "infer_family",
    "load_hf_checkpoint",
    "parse_init",
    "read_weights",
    "require_transformers",
    "resolve_checkpoint_dir",
]
