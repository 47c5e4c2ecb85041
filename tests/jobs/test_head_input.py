"""What the fine-tuning head reads: the pooler only where a pretraining task trained it (NSP, SOP),
otherwise the [CLS] hidden state, and then the fine-tuned module has no pooler at all (Hugging Face
checkpoints: tests/models/test_hf.py)."""

from dataclasses import replace

import pytest
import torch

import bench.jobs.pretrain
from bench.config.compose import compose_config
from bench.jobs.encoders import resolve_encoder
from bench.jobs.finetune import load_encoder_state
from lightning_modules.encoder import Encoder
from lightning_modules.finetune import FineTuneModule


@pytest.fixture
def stub_pretraining(monkeypatch):
    """The store's pretraining replaced by an empty state: only the head decision is under test."""
    monkeypatch.setattr(bench.jobs.pretrain, "pretrained_encoder", lambda cfg, arch: ({}, {"pretrain/loss": 1.0}))


@pytest.mark.parametrize("objective, head_input", [
    ("bert", "pooler"), ("albert", "pooler"), ("roberta_sentence_pair_nsp", "pooler"),
    ("roberta", "cls"), ("roberta_static", "cls"), ("distil", "cls"), ("none", "cls"),
])
def test_the_recipe_decides_what_the_head_reads(stub_pretraining, tiny_cfg, objective, head_input):
    state, arch, extra = resolve_encoder(compose_config([f"objective={objective}"]), tiny_cfg)
    assert extra["head_input"] == head_input


def test_an_encoder_without_pooler_gives_the_head_its_cls_state(stub_pretraining, tiny_cfg):
    _, _, extra = resolve_encoder(compose_config(["objective=bert"]), replace(tiny_cfg, pooler=False))
    assert extra["head_input"] == "cls"


def test_without_the_pooler_the_head_reads_the_cls_hidden_state(tiny_cfg):
    torch.manual_seed(0)
    module = FineTuneModule(tiny_cfg.to_dict(), "classification", num_labels=3, use_pooler=False).eval()
    assert module.encoder.pooler is None  # no parameter that no loss reaches (DDP would stall on it)
    ids = torch.randint(5, tiny_cfg.vocab_size, (4, 9))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    with torch.no_grad():
        hidden, _ = module.encoder(ids, batch["attention_mask"], batch["token_type_ids"])
        assert torch.allclose(module(batch), module.head(hidden[:, 0]))
        with_pooler = FineTuneModule(tiny_cfg.to_dict(), "classification", num_labels=3).eval()
        with_pooler.load_state_dict(module.state_dict(), strict=False)
        assert not torch.allclose(with_pooler(batch), module(batch))


def test_loading_a_pretrained_state_leaves_its_pooler_out_only_when_unread(tiny_cfg):
    pretrained = Encoder(tiny_cfg).state_dict()
    for use_pooler in (True, False):
        module = FineTuneModule(tiny_cfg.to_dict(), "classification", num_labels=2, use_pooler=use_pooler)
        load_encoder_state(module, pretrained, lambda: "pretrained.safetensors")
        loaded = module.encoder.state_dict()
        assert all(torch.equal(loaded[k], pretrained[k]) for k in loaded)
        assert ("pooler.weight" in loaded) == use_pooler
    broken = {k: v for k, v in pretrained.items() if k != "ffn.0.up.weight"}
    with pytest.raises(ValueError, match=r"pretrained\.safetensors.*ffn\.0\.up\.weight"):
        load_encoder_state(module, broken, lambda: "pretrained.safetensors")


@pytest.mark.parametrize("objective, choice, head_input", [
    ("roberta", "pooler", "pooler"), ("bert", "cls", "cls"), ("bert", "auto", "pooler"), ("none", "pooler", "pooler"),
])
def test_head_input_forces_one_choice_for_every_row(stub_pretraining, tiny_cfg, objective, choice, head_input):
    """e.g. the RoBERTa NSP table with head_input=cls: its rows then differ only in pretraining."""
    _, _, extra = resolve_encoder(compose_config([f"objective={objective}", f"head_input={choice}"]), tiny_cfg)
    assert extra["head_input"] == head_input


@pytest.mark.parametrize("choice, pooler, message", [
    ("pooled", True, r"head_input='pooled': must be auto, pooler or cls"),
    ("pooler", False, r"head_input=pooler, but the encoder has no pooler"),
])
def test_a_bad_head_input_is_named(tiny_cfg, choice, pooler, message):
    with pytest.raises(ValueError, match=message):
        resolve_encoder(compose_config([f"head_input={choice}"]), replace(tiny_cfg, pooler=pooler))


@pytest.mark.parametrize("objective", ["roberta_segment_pair_nsp", "roberta_sentence_pair_nsp", "roberta",
                                       "roberta_doc_sentences"])
def test_the_roberta_nsp_table_reads_cls_in_every_row(stub_pretraining, tiny_cfg, objective):
    cfg = compose_config(["experiment=roberta_nsp", f"objective={objective}"])
    assert resolve_encoder(cfg, tiny_cfg)[2]["head_input"] == "cls"
