"""Hugging Face import/export: tiny random HF models (no download) must give our encoder the same outputs."""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lightning_modules.encoder import Encoder, EncoderConfig, MLMHead, count_parameters
from lightning_modules.hf import (
    HFCheckpointError,
    export_hf_checkpoint,
    hf_reference_model,
    infer_family,
    load_hf_checkpoint,
    parse_init,
)

TOL = 1e-5
SMALL = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=500)
# name -> (config class, *ForMaskedLM class, config kwargs): every family, ALBERT with E != H both ways.
HF_CASES = {
    "bert": ("BertConfig", "BertForMaskedLM", SMALL),
    "roberta": (
        "RobertaConfig",
        "RobertaForMaskedLM",
        {**SMALL, "pad_token_id": 1, "max_position_embeddings": 66, "type_vocab_size": 1, "layer_norm_eps": 1e-5},
    ),
    "albert_shared": ("AlbertConfig", "AlbertForMaskedLM", {**SMALL, "embedding_size": 32}),
    "albert_not_shared": ("AlbertConfig", "AlbertForMaskedLM", {**SMALL, "embedding_size": 32, "num_hidden_groups": 2}),
    "distilbert": (
        "DistilBertConfig",
        "DistilBertForMaskedLM",
        {"dim": 64, "n_layers": 2, "n_heads": 4, "hidden_dim": 128, "vocab_size": 500},
    ),
}
OURS = dict(
    vocab_size=500,
    embedding_size=64,
    hidden_size=64,
    num_layers=2,
    num_heads=4,
    intermediate_size=128,
    max_position_embeddings=64,
    dropout=0.0,
    attention_dropout=0.0,
)
OUR_CASES = {
    "bert": EncoderConfig(**OURS),
    "roberta": EncoderConfig(**OURS, position_offset=2, pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5),
    "albert": EncoderConfig(**{**OURS, "embedding_size": 32}, sharing="all", activation="gelu_new"),
    "albert_not_shared": EncoderConfig(**{**OURS, "embedding_size": 32}, activation="gelu_new"),
    "albert_e_equals_h": EncoderConfig(**OURS, sharing="all", activation="gelu_new"),
    "distilbert": EncoderConfig(**OURS, type_vocab_size=0, pooler=False),
}
OUR_FAMILY = {"albert_not_shared": "albert", "albert_e_equals_h": "albert"}


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


def perturb(module: torch.nn.Module, seed: int = 0) -> None:
    """Move every parameter off its init (zero biases, unit LayerNorms) so a swapped name cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


def batch(pad_id: int, token_types: bool, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Right-padded random batch (ids avoid the special ids 0-2), one row without padding."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 500, (3, 16), generator=g)
    mask = torch.ones(3, 16, dtype=torch.long)
    mask[1, 11:] = 0
    mask[2, 5:] = 0
    ids[mask == 0] = pad_id
    tt = (torch.arange(16) >= 8).long().expand(3, 16).clone() if token_types else None
    return ids, mask, tt


def hf_mlm(transformers, case: str) -> torch.nn.Module:
    cfg_cls, model_cls, kwargs = HF_CASES[case]
    torch.manual_seed(0)
    model = getattr(transformers, model_cls)(getattr(transformers, cfg_cls)(**kwargs))
    perturb(model)
    return model.eval()


def compare(hf_model, encoder: Encoder, mlm_head: MLMHead, roberta: bool) -> tuple[float, float]:
    """Max |ours - HF| of last hidden states and MLM logits; RoBERTa on non-pad tokens (see lightning_modules.hf)."""
    cfg = encoder.cfg
    ids, mask, tt = batch(cfg.pad_token_id, token_types=cfg.type_vocab_size > 1)
    encoder.eval()
    mlm_head.eval()
    kw = {"token_type_ids": tt} if tt is not None else {}
    with torch.no_grad():
        ref = hf_model(input_ids=ids, attention_mask=mask, output_hidden_states=True, **kw)
        hidden, _ = encoder(ids, mask, tt)
        logits = mlm_head(hidden)
    keep = mask.bool() if roberta else torch.ones_like(mask, dtype=torch.bool)
    return (hidden - ref.hidden_states[-1])[keep].abs().max().item(), (logits - ref.logits)[keep].abs().max().item()


@pytest.fixture(scope="module")
def saved(transformers, tmp_path_factory) -> dict[str, Path]:
    """Each HF case saved once with save_pretrained."""
    out = {}
    for case in HF_CASES:
        out[case] = tmp_path_factory.mktemp(case)
        hf_mlm(transformers, case).save_pretrained(out[case])
    return out


# ---------------------------------------------------------------------------------------------- import


@pytest.mark.parametrize("case", list(HF_CASES))
def test_import_matches_hf_outputs(transformers, saved, case):
    imported = load_hf_checkpoint(str(saved[case]))
    assert imported.family == case.split("_")[0]
    assert imported.mlm_head is not None
    assert imported.mlm_head.word_embeddings.weight is imported.encoder.embeddings.word.weight  # still tied
    if case.startswith("albert"):
        assert imported.config.embedding_size == 32
        assert imported.config.sharing == ("all" if case == "albert_shared" else "none")
    if case == "roberta":
        assert (imported.config.position_offset, imported.config.pad_token_id) == (2, 1)
        assert imported.config.max_position_embeddings == 64  # 66 HF rows = 64 positions + offset 2
    d_hidden, d_logits = compare(hf_mlm(transformers, case), imported.encoder, imported.mlm_head, case == "roberta")
    assert d_hidden <= TOL and d_logits <= TOL, (d_hidden, d_logits)


def test_roberta_pad_positions_are_the_documented_difference(transformers, saved):
    """HF gives pad tokens position pad_token_id; ours counts on. Only pad tokens' own states differ."""
    imported = load_hf_checkpoint(saved["roberta"])
    hf = hf_mlm(transformers, "roberta")
    ids, mask, _ = batch(1, token_types=False)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
        hidden, _ = imported.encoder.eval()(ids, mask)
    assert (hidden - ref)[mask.bool()].abs().max() <= TOL
    assert (hidden - ref)[~mask.bool()].abs().max() > 1e-3


@pytest.mark.parametrize("family", ["bert", "albert"])
def test_pretraining_checkpoint_brings_pooler_and_sentence_pair_head(transformers, tmp_path, family):
    cfg_cls, _, kwargs = HF_CASES["bert" if family == "bert" else "albert_shared"]
    torch.manual_seed(0)
    cls = {"bert": "BertForPreTraining", "albert": "AlbertForPreTraining"}[family]
    hf = getattr(transformers, cls)(getattr(transformers, cfg_cls)(**kwargs))
    perturb(hf)
    hf.eval().save_pretrained(tmp_path)
    imported = load_hf_checkpoint(tmp_path)
    assert imported.config.pooler and imported.sentence_pair_head is not None
    ids, mask, tt = batch(0, token_types=True)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, token_type_ids=tt)
        hidden, pooled = imported.encoder.eval()(ids, mask, tt)
        pair = imported.sentence_pair_head(pooled)
        logits = imported.mlm_head(hidden)
    ref_pair = ref.seq_relationship_logits if family == "bert" else ref.sop_logits
    assert (pair - ref_pair).abs().max() <= TOL
    assert (logits - ref.prediction_logits).abs().max() <= TOL


@pytest.mark.parametrize("case, model_class, head_input", [
    ("bert", "BertForPreTraining", "pooler"), ("albert_shared", "AlbertForPreTraining", "pooler"),
    ("roberta", "RobertaModel", "cls"), ("distilbert", "DistilBertModel", "cls"),
])
def test_head_reads_the_pooler_only_where_pretraining_trained_it(transformers, tmp_path, case, model_class, head_input):
    """RoBERTa checkpoints carry pooler weights that no objective trained (no NSP): the head reads [CLS]."""
    from omegaconf import OmegaConf

    from bench.jobs.encoders import resolve_encoder

    cfg_cls, _, kwargs = HF_CASES[case]
    torch.manual_seed(0)
    getattr(transformers, model_class)(getattr(transformers, cfg_cls)(**kwargs)).save_pretrained(tmp_path)
    cfg = OmegaConf.create({"model": {"init": f"hf:{tmp_path}"}, "objective": {"name": "none"}})
    state, arch, extra = resolve_encoder(cfg, OUR_CASES["bert"])
    assert extra["head_input"] == head_input
    assert ("pooler.weight" in state) == (model_class != "DistilBertModel")  # RoBERTa's is there, unread


def test_pytorch_bin_with_legacy_names_and_buffers(transformers, saved, tmp_path):
    """No safetensors: pytorch_model.bin (weights_only), TF-era gamma/beta names, a position_ids buffer."""
    sd = load_file(str(saved["bert"] / "model.safetensors"))
    legacy = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in sd.items()
    }
    legacy["bert.embeddings.position_ids"] = torch.arange(512)[None]
    torch.save(legacy, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text((saved["bert"] / "config.json").read_text())
    imported = load_hf_checkpoint(tmp_path)
    reference = load_hf_checkpoint(saved["bert"])
    for k, v in reference.encoder.state_dict().items():
        assert torch.equal(v, imported.encoder.state_dict()[k]), k


def test_tokenizer_json_is_loaded(saved, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    for f in ("config.json", "model.safetensors"):
        (tmp_path / f).write_bytes((saved["distilbert"] / f).read_bytes())
    assert load_hf_checkpoint(tmp_path).tokenizer is None
    tok.save(str(tmp_path / "tokenizer.json"))
    imported = load_hf_checkpoint(tmp_path)
    assert imported.tokenizer.encode("hello world").ids == [1, 2]
    assert imported.tokenizer_dir == tmp_path


# ---------------------------------------------------------------------------------------------- errors


def _copy_with(src: Path, dst: Path, edit) -> Path:
    sd = load_file(str(src / "model.safetensors"))
    save_file(edit(dict(sd)), str(dst / "model.safetensors"))
    (dst / "config.json").write_text((src / "config.json").read_text())
    return dst


def test_missing_weights_are_listed(saved, tmp_path):
    drop = ("bert.encoder.layer.1.attention.self.key.weight", "cls.predictions.transform.dense.bias")
    _copy_with(saved["bert"], tmp_path, lambda sd: {k: v for k, v in sd.items() if k not in drop})
    with pytest.raises(HFCheckpointError, match="missing") as e:
        load_hf_checkpoint(tmp_path)
    assert all(k in str(e.value) for k in drop)


def test_unexpected_weights_are_listed(saved, tmp_path):
    extra = {
        "bert.encoder.layer.0.attention.self.distance_embedding.weight": torch.zeros(3, 64),
        "classifier.weight": torch.zeros(2, 64),
    }
    _copy_with(saved["bert"], tmp_path, lambda sd: {**sd, **extra})
    with pytest.raises(HFCheckpointError, match="unexpected") as e:
        load_hf_checkpoint(tmp_path)
    assert all(k in str(e.value) for k in extra)


def test_untied_decoder_is_an_error(saved, tmp_path):
    _copy_with(saved["roberta"], tmp_path, lambda sd: {**sd, "lm_head.decoder.weight": torch.randn(500, 64)})
    with pytest.raises(HFCheckpointError, match="lm_head.decoder.weight is not tied"):
        load_hf_checkpoint(tmp_path)


def test_shape_that_contradicts_config_is_an_error(saved, tmp_path):
    (tmp_path / "model.safetensors").write_bytes((saved["bert"] / "model.safetensors").read_bytes())
    config = json.loads((saved["bert"] / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "type_vocab_size": 3}))
    with pytest.raises(HFCheckpointError, match=r"embeddings.token_type.weight.*\(2, 64\).*\(3, 64\)"):
        load_hf_checkpoint(tmp_path)


def test_other_architecture_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 64, "n_layer": 2}))
    save_file({"wte.weight": torch.zeros(5, 4)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(HFCheckpointError, match="model_type 'gpt2'.*not a BERT-family"):
        load_hf_checkpoint(tmp_path)


def test_albert_grouping_without_sharing_mode_is_an_error(saved, tmp_path):
    config = json.loads((saved["albert_shared"] / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 4, "num_hidden_groups": 2}))
    (tmp_path / "model.safetensors").write_bytes((saved["albert_shared"] / "model.safetensors").read_bytes())
    with pytest.raises(HFCheckpointError, match="num_hidden_groups=2.*no sharing mode"):
        load_hf_checkpoint(tmp_path)


def test_missing_directory_and_offline_hub_name(tmp_path, monkeypatch):
    with pytest.raises(HFCheckpointError, match="not a checkpoint directory"):
        load_hf_checkpoint(str(tmp_path / "nope"))
    with pytest.raises(HFCheckpointError, match="no config.json"):
        load_hf_checkpoint(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HFCheckpointError, match="HF_HUB_OFFLINE=1 and no cached copy"):
        load_hf_checkpoint("no-such-org-xyz/no-such-model")


def test_parse_init():
    assert parse_init("random") == ("random", None)
    assert parse_init("store") == ("store", None)
    assert parse_init("hf:bert-base-uncased") == ("hf", "bert-base-uncased")
    assert parse_init("hf:/data/ckpt/bert") == ("hf", "/data/ckpt/bert")
    for bad in ("hf:", "huggingface:bert", "Random"):
        with pytest.raises(ValueError, match="model.init"):
            parse_init(bad)


def test_import_works_without_transformers(tmp_path, monkeypatch):
    """Import reads config.json and safetensors itself; only hf_reference_model needs transformers."""
    cfg = OUR_CASES["albert"]
    torch.manual_seed(0)
    enc = Encoder(cfg)
    export_hf_checkpoint(enc, MLMHead(cfg, enc.embeddings.word), tmp_path, "albert")
    monkeypatch.setitem(sys.modules, "transformers", None)
    for name in [m for m in sys.modules if m == "lightning_modules.hf" or m.startswith("lightning_modules.hf.")]:
        monkeypatch.delitem(sys.modules, name)  # re-executes every submodule with transformers absent
    hf = importlib.import_module("lightning_modules.hf")
    imported = hf.load_hf_checkpoint(tmp_path)
    assert torch.equal(imported.encoder.embeddings.project.weight, enc.embeddings.project.weight)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[hf\]'"):
        hf.hf_reference_model(cfg, "albert")


# ---------------------------------------------------------------------------------------------- export


@pytest.mark.parametrize("case", list(OUR_CASES))
def test_export_round_trip(transformers, tmp_path, case):
    cfg = OUR_CASES[case]
    family = OUR_FAMILY.get(case, case)
    assert infer_family(cfg) == family
    torch.manual_seed(0)
    enc = Encoder(cfg)
    mlm = MLMHead(cfg, enc.embeddings.word)
    perturb(enc)
    perturb(mlm, seed=1)
    export_hf_checkpoint(enc, mlm, tmp_path, family)

    hf = transformers.AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert type(hf).__name__.lower().startswith(family)
    d_hidden, d_logits = compare(hf, enc, mlm, family == "roberta")
    assert d_hidden <= TOL and d_logits <= TOL, (d_hidden, d_logits)
    if cfg.pooler:  # the pooler travels too: HF's base model reads it
        base = transformers.AutoModel.from_pretrained(tmp_path).eval()
        ids, mask, tt = batch(cfg.pad_token_id, token_types=cfg.type_vocab_size > 1)
        with torch.no_grad():
            ref = base(input_ids=ids, attention_mask=mask, token_type_ids=tt).pooler_output
            assert (enc(ids, mask, tt)[1] - ref).abs().max() <= TOL

    back = load_hf_checkpoint(tmp_path)  # and back into ours, bit for bit
    assert back.config == cfg
    for k, v in enc.state_dict().items():
        assert torch.equal(v, back.encoder.state_dict()[k]), k
    assert torch.equal(back.mlm_head.bias, mlm.bias)


@pytest.mark.parametrize(
    ("change", "family", "message"),
    [
        ({"sharing": "attention"}, "albert", "no architecture that shares only the attention"),
        ({"sharing": "ffn"}, "bert", "no architecture that shares only the ffn"),
        ({"sharing": "all"}, "bert", "only as ALBERT"),
        ({"embedding_size": 32}, "bert", "only ALBERT factorizes"),
        ({"pooler": True}, "distilbert", "DistilBERT has no pooler"),
        ({"activation": "gelu_new"}, "roberta", "exact GELU"),
        ({"position_offset": 0}, "roberta", "numbers positions from 2"),
    ],
)
def test_export_without_hf_architecture_is_an_error(tmp_path, change, family, message):
    cfg = replace(OUR_CASES[family], **change)
    enc = Encoder(cfg)
    with pytest.raises(HFCheckpointError, match=message):
        export_hf_checkpoint(enc, None, tmp_path, family)
    assert not (tmp_path / "model.safetensors").exists()


# ---------------------------------------------------------------------------------------------- census


PUBLISHED_HF = {
    "bert_base": 109_482_240,
    "albert_base": 11_683_584,
    "roberta_base": 124_645_632,
    "distilbert_base": 66_362_880,
}


def test_parameter_counts_equal_hugging_face(transformers):
    from bench.config.compose import compose_config, model_names
    from bench.config.schema import encoder_config

    names = model_names()
    assert set(PUBLISHED_HF) <= set(names)
    for name in names:
        cfg = encoder_config(compose_config([f"model={name}"]).model)
        assert infer_family(cfg) == name.split("_")[0], name
        with torch.device("meta"):
            ours = count_parameters(Encoder(cfg))["total"]
            theirs = sum(p.numel() for p in hf_reference_model(cfg, infer_family(cfg)).parameters())
        assert ours == theirs, (name, ours, theirs)
        if name in PUBLISHED_HF:
            assert ours == PUBLISHED_HF[name], name


# ---------------------------------------------------------------------------------------------- the fine-tuning job


def _bert_checkpoint(transformers, path: Path, world: dict, vocab_size: int | None = None,
                     model_class: str = "BertForMaskedLM") -> Path:
    """A BERT checkpoint as bert-base-uncased ships it (config.json, model.safetensors, vocab.txt); its
    embeddings have `vocab_size` rows (default: the vocab.txt's size)."""
    from bench.data.tokenizer import train_wordpiece
    from tests.support.hub_checkpoints import corpus_texts, write_vocab_txt

    size = write_vocab_txt(path, train_wordpiece(corpus_texts(world, "en"), 300))
    torch.manual_seed(0)
    model = getattr(transformers, model_class)(transformers.BertConfig(**{**SMALL, "vocab_size": vocab_size or size}))
    perturb(model)
    model.save_pretrained(path)
    return path


# BertForPreTraining brings the pooler NSP trained, which the head reads; BertForMaskedLM has none
@pytest.mark.parametrize("model_class, head_input", [("BertForMaskedLM", "cls"), ("BertForPreTraining", "pooler")])
def test_finetune_job_starts_from_the_imported_weights(transformers, tmp_path, cache, synthetic_world, model_class,
                                                       head_input):
    """model.init=hf:<dir>: the job builds the checkpoint's architecture (not the profile's), its prepared
    module holds the imported encoder weights, and the job fine-tunes and scores it."""
    import bench.jobs.finetune as job
    from bench.config.compose import compose_config

    ckpt = _bert_checkpoint(transformers, tmp_path / "bert", synthetic_world, model_class=model_class)
    cfg = compose_config(["task=sst2", "profile=smoke", f"model.init=hf:{ckpt}", f"+job_dir={tmp_path / 'job'}"])
    imported = load_hf_checkpoint(ckpt)
    prepared = job.prepare(cfg).module.state_dict()
    seen = {k.removeprefix("encoder."): v for k, v in prepared.items() if k.startswith("encoder.")}
    reference = imported.encoder.state_dict()
    assert seen.keys() == reference.keys()
    assert all(torch.equal(seen[k], reference[k]) for k in reference)
    summary = job.finetune(cfg, None)
    assert summary["init"] == f"hf:{ckpt}"
    assert summary["head_input"] == head_input
    assert summary["params/total"] == count_parameters(imported.encoder)["total"]
    assert summary["tokenizer/source"].startswith(f"hf:{ckpt}: {ckpt}/vocab.txt")
    assert "sst2/acc" in summary


def test_finetune_job_refuses_a_checkpoint_vocabulary_smaller_than_its_tokenizer(transformers, tmp_path, cache,
                                                                                 synthetic_world):
    import bench.jobs.finetune as job
    from bench.config.compose import compose_config

    ckpt = _bert_checkpoint(transformers, tmp_path / "bert", synthetic_world, vocab_size=100)
    cfg = compose_config(["task=sst2", "profile=smoke", f"model.init=hf:{ckpt}", f"+job_dir={tmp_path / 'job'}"])
    with pytest.raises(ValueError, match=r"vocabulary has 100 tokens but its tokenizer \(hf:.*vocab\.txt.*\) has \d+"):
        job.finetune(cfg, None)
