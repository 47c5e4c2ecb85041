"""config.json <-> EncoderConfig, both ways: reading a Hugging Face config (with HF's defaults for the keys
old files leave out, and a clear error for what our encoder cannot be), writing ours as one, the check that
an EncoderConfig has an HF equivalent at all, and which family an EncoderConfig looks like. Also
`parse_init`, which reads `model.init` (random, store or hf:<name or dir>).
"""

from __future__ import annotations

from typing import Any

from lightning_modules.encoder import EncoderConfig
from lightning_modules.hf.names import FAMILIES, HF_CLASS_PREFIX, HFCheckpointError


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
    family = family_of(hf, source)
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


def family_of(hf: dict[str, Any], source: str) -> str:
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
        "architectures": [f"{HF_CLASS_PREFIX[family]}{'ForMaskedLM' if mlm else 'Model'}"],
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


def infer_family(cfg: EncoderConfig) -> str:
    """The HF family an EncoderConfig looks like (no token types: DistilBERT, offset: RoBERTa, ...)."""
    if not cfg.type_vocab_size:
        return "distilbert"
    if cfg.position_offset:
        return "roberta"
    if cfg.embedding_size != cfg.hidden_size or cfg.sharing != "none" or cfg.activation == "gelu_new":
        return "albert"
    return "bert"
