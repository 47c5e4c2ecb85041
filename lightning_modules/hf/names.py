"""The vocabulary shared by import and export: the four families, their class and weight-name prefixes, and
one table per family mapping our state-dict keys to Hugging Face's (a key maps to several HF keys where ours
is fused, as the attention QKV is). Import reads a checkpoint through these tables and export writes through
them, so the two directions cannot drift apart. Also the one error a checkpoint that does not fit raises.
"""

from __future__ import annotations

from lightning_modules.encoder import EncoderConfig

FAMILIES = ("bert", "albert", "roberta", "distilbert")
HF_CLASS_PREFIX = {"bert": "Bert", "albert": "Albert", "roberta": "Roberta", "distilbert": "DistilBert"}
# The prefix of the base model's weights inside a *ForMaskedLM / *ForPreTraining checkpoint.
BASE_PREFIX = {"bert": "bert.", "albert": "albert.", "roberta": "roberta.", "distilbert": "distilbert."}


class HFCheckpointError(ValueError):
    """A checkpoint that does not map onto our encoder; the message names the file and the keys."""


def linear(ours: str, theirs: str) -> dict[str, list[str]]:
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
POOLER_NAME = {"bert": "pooler.dense", "roberta": "pooler.dense", "albert": "pooler"}


def encoder_table(cfg: EncoderConfig, family: str) -> dict[str, list[str]]:
    """Our Encoder's state-dict keys -> HF base-model keys (without the `bert.`-style prefix)."""
    t: dict[str, list[str]] = {
        "embeddings.word.weight": ["embeddings.word_embeddings.weight"],
        "embeddings.position.weight": ["embeddings.position_embeddings.weight"],
        **linear("embeddings.norm", "embeddings.LayerNorm"),
    }
    if cfg.type_vocab_size:
        t["embeddings.token_type.weight"] = ["embeddings.token_type_embeddings.weight"]
    if cfg.embedding_size != cfg.hidden_size:  # only ALBERT factorizes (export checks)
        t.update(linear("embeddings.project", "encoder.embedding_hidden_mapping_in"))
    layer, qkv, out, out_norm, up, down, ffn_norm = _LAYER_NAMES[family]
    # Our sharing modes that HF has: none (a block per layer), all (ALBERT's one layer group).
    for i in range(1 if cfg.sharing == "all" else cfg.num_layers):
        g = layer.format(i=i) + "."
        t.update(_qkv(f"attention.{i}.qkv", *(g + n for n in qkv)))
        t.update(linear(f"attention.{i}.out", g + out))
        t.update(linear(f"attention.{i}.norm", g + out_norm))
        t.update(linear(f"ffn.{i}.up", g + up))
        t.update(linear(f"ffn.{i}.down", g + down))
        t.update(linear(f"ffn.{i}.norm", g + ffn_norm))
    if cfg.pooler:
        t.update(linear("pooler", POOLER_NAME[family]))
    return t


# MLM head: (transform, LayerNorm, bias, tied decoder weight, tied decoder bias or None), top-level keys.
MLM_NAMES = {
    "bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias",
             "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"),
    "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias", "lm_head.decoder.weight", "lm_head.decoder.bias"),
    "albert": ("predictions.dense", "predictions.LayerNorm", "predictions.bias", "predictions.decoder.weight",
               "predictions.decoder.bias"),
    "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector.bias", "vocab_projector.weight", None),
}  # fmt: skip
# The sentence-pair head of *ForPreTraining: NSP (BERT), SOP (ALBERT).
PAIR_NAMES = {"bert": "cls.seq_relationship", "albert": "sop_classifier.classifier"}


def mlm_table(family: str) -> dict[str, list[str]]:
    """Our MLMHead's keys (less the tied decoder) -> HF top-level keys."""
    transform, norm, bias, _, _ = MLM_NAMES[family]
    return {**linear("transform", transform), **linear("norm", norm), "bias": [bias]}
