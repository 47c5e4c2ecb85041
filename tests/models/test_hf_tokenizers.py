"""A checkpoint brings its tokenizer: local checkpoints in each family's hub layout (tests/support/
checkpoints.py) give the ids `transformers.AutoTokenizer.from_pretrained(dir)` gives, through the suite's
own feature builder (single sentences, pairs, truncation, SQuAD windows and offsets); the imported model
gives transformers' logits on them; a smoke fine-tuning through model.init=hf:<dir> records the tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.config.compose import compose_config
from bench.config.schema import SettingError
from bench.data import load_task, load_task_spec, special_ids
from bench.data.batching import collate
from bench.data.features import encode_split
from bench.data.tokenizer import get_tokenizer, tokenizer_sha256
from bench.jobs.checks import check_job_config
from lightning_modules.hf import LOOKED_FOR, HFCheckpointError, checkpoint_tokenizer, load_hf_checkpoint
from tests.support.hub_checkpoints import CASES, CHINESE, build_variants

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def checkpoints(synthetic_world, tmp_path_factory) -> dict:
    """Every family's local checkpoint, with ("hub") and without ("slow") tokenizer.json."""
    return build_variants(tmp_path_factory.getbasetemp() / "hub_checkpoints", synthetic_world)


VARIANTS = [(case, variant) for case in CASES for variant in ("hub", "slow")]
EDGES = ["Hello World! Café naïve RÉSUMÉ, don't.", "  spaced   out  ", "我喜欢吃苹果和西瓜。ABC def 123", "e-mail: a@b.c"]


def task_split(world: dict, task: str, split: str):
    spec = load_task_spec(task)
    return spec, load_task(spec, world)[split]


def hf_tokenizer(path: Path):
    return transformers.AutoTokenizer.from_pretrained(str(path))


@pytest.mark.parametrize("case, variant", VARIANTS)
def test_ids_equal_transformers_on_sentences_and_pairs(checkpoints, synthetic_world, case, variant):
    path = checkpoints[variant][case]
    ours, hf = checkpoint_tokenizer(path), hf_tokenizer(path)
    slow = {"roberta": "vocab.json + merges.txt", "albert": "spiece.model"}.get(case, "vocab.txt")
    assert ours.source.startswith(f"{path}/{'tokenizer.json' if variant == 'hub' else slow} (")
    task = "xnli_zh" if case in CHINESE else "mnli"
    spec, raw = task_split(synthetic_world, task, "train")
    a, b = list(raw[spec.column("text_a")][:40]) + EDGES, list(raw[spec.column("text_b")][:40]) + EDGES[::-1]
    for s in a:
        assert ours.tokenizer.encode(s).ids == hf(s)["input_ids"], s
    for max_length in (512, 20):  # 20: both sides truncated (longest_first), as the pair tasks' features are
        features = encode_split(spec, raw.select(range(40)), ours.tokenizer, "train", max_length)
        expected = hf(a[:40], b[:40], truncation=True, max_length=max_length)
        assert features["input_ids"] == expected["input_ids"]
        if "token_type_ids" in expected:  # RoBERTa and DistilBERT have none
            assert features["token_type_ids"] == expected["token_type_ids"]
    assert max(map(len, features["input_ids"])) == 20


@pytest.mark.parametrize("case, variant", VARIANTS)
def test_squad_windows_and_offsets_equal_transformers(checkpoints, synthetic_world, case, variant):
    """run_qa.py's call: question first, the context cut into windows of max_length overlapping by doc_stride,
    offsets kept for context tokens only (None elsewhere)."""
    path = checkpoints[variant][case]
    ours, hf = checkpoint_tokenizer(path), hf_tokenizer(path)
    spec, raw = task_split(synthetic_world, "squad_v2", "validation")
    raw = raw.select(range(12))
    features = encode_split(spec, raw, ours.tokenizer, "validation", 48, doc_stride=12)
    ref = hf([q.lstrip() for q in raw["question"]], list(raw["context"]), truncation="only_second", max_length=48, stride=12,
             return_overflowing_tokens=True, return_offsets_mapping=True)
    assert len(features) > len(raw)  # long contexts were cut into several windows
    assert features["input_ids"] == ref["input_ids"]
    offsets = [[list(o) if ref.sequence_ids(i)[j] == 1 else None for j, o in enumerate(row)]
               for i, row in enumerate(ref["offset_mapping"])]
    assert features["offset_mapping"] == offsets
    assert features["example_id"] == [raw["id"][i] for i in ref["overflow_to_sample_mapping"]]


@pytest.mark.parametrize("case", list(CASES))
def test_imported_logits_equal_transformers_on_the_features(checkpoints, synthetic_world, case):
    path = checkpoints["slow"][case]
    tok = checkpoint_tokenizer(path).tokenizer
    spec, raw = task_split(synthetic_world, "xnli_zh" if case in CHINESE else "mnli", "train")
    features = encode_split(spec, raw.select(range(6)), tok, "train", 64)
    batch = collate([features[i] for i in range(6)], special_ids(tok).pad)  # right-padded, as the jobs' batches
    imported = load_hf_checkpoint(path)
    hf = transformers.AutoModelForMaskedLM.from_pretrained(str(path)).eval()
    ids, mask = batch["input_ids"], batch["attention_mask"]
    types = batch["token_type_ids"] if imported.config.type_vocab_size > 1 else None
    with torch.no_grad():
        hidden, _ = imported.encoder.eval()(ids, mask, types)
        logits = imported.mlm_head.eval()(hidden)
        ref = hf(input_ids=ids, attention_mask=mask, **({"token_type_ids": types} if types is not None else {})).logits
    keep = mask.bool()  # RoBERTa's pad tokens take other positions (lightning_modules/hf docstring)
    assert (mask == 0).any() and (logits - ref)[keep].abs().max() <= 1e-5


def test_chinese_checkpoint_tokenizer_drives_whole_word_masking(checkpoints, synthetic_world):
    """jieba's words over the checkpoint's characters: one token per CJK character, one word id per jieba word."""
    from bench.data.masking import segment_chinese
    from bench.data.pretraining.tokenized import tokenize_documents

    text = "张伟是一名面包师，住在北京。"
    for case in CHINESE:
        tok = checkpoint_tokenizer(checkpoints["slow"][case]).tokenizer
        (sentence,) = tokenize_documents([[text]], tok, "zh")[0]
        assert len(sentence.ids) == len(text) and special_ids(tok).unk not in sentence.ids
        words = [w for w, _, _ in segment_chinese(text)]
        assert "面包师" in words and len(set(sentence.words)) == len(words)
        start = text.index("面包师")
        assert len(set(sentence.words[start : start + 3])) == 1


def test_tokenizer_config_applies_over_tokenizer_json_as_in_transformers(checkpoints, tmp_path):
    """A repo whose tokenizer_config.json says do_lower_case: false over a lower-casing tokenizer.json:
    AutoTokenizer keeps the case, and so does the job."""
    for f in checkpoints["hub"]["bert"].iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    ours, text = checkpoint_tokenizer(tmp_path), "Hello World, the BAKER"
    assert ours.tokenizer.encode(text).ids == hf_tokenizer(tmp_path)(text)["input_ids"]
    assert ours.tokenizer.encode(text).ids != checkpoint_tokenizer(checkpoints["hub"]["bert"]).tokenizer.encode(text).ids
    assert ours.source == f"{tmp_path}/tokenizer.json (loaded by transformers BertTokenizer)"


def test_checkpoint_without_tokenizer_files_is_named(checkpoints, tmp_path):
    for f in ("config.json", "model.safetensors"):
        (tmp_path / f).write_bytes((checkpoints["slow"]["bert"] / f).read_bytes())
    with pytest.raises(HFCheckpointError) as e:
        get_tokenizer({"checkpoint": f"hf:{tmp_path}"}, "en")
    assert str(tmp_path) in str(e.value) and LOOKED_FOR in str(e.value)
    # a job refuses it before its W&B run opens, naming the key too
    cfg = compose_config(["task=sst2", "profile=smoke", f"model.init=hf:{tmp_path}"])
    with pytest.raises(SettingError, match=rf"model\.init=hf:{tmp_path}: {tmp_path}: no tokenizer file; looked for"):
        check_job_config(cfg)
    assert all(f in LOOKED_FOR for f in ("tokenizer.json", "vocab.txt", "vocab.json + merges.txt", "spiece.model"))


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    """One cache (smoke world, features) for the module's jobs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE_DIR", str(tmp_path_factory.mktemp("smoke-cache")))
        yield


# The hub layout (tokenizer.json) for BERT, the slow files (transformers' conversion) for the others;
# hfl_chinese as hfl/chinese-*-wwm-ext shipped before their tokenizer.json.
@pytest.mark.parametrize("case, variant", [("bert", "hub"), ("distilbert", "slow"), ("roberta", "slow"),
                                           ("albert", "slow"), ("bert_chinese", "slow"), ("hfl_chinese", "slow")])
def test_smoke_finetune_through_model_init_records_the_checkpoint_tokenizer(checkpoints, smoke_cache, tmp_path,
                                                                           case, variant):
    import bench.jobs.finetune as job
    from bench.jobs.tracking import data_identity

    path = checkpoints[variant][case]
    task = "xnli_zh" if case in CHINESE else "sst2"
    cfg = compose_config([f"task={task}", "profile=smoke", f"model.init=hf:{path}", f"+job_dir={tmp_path / 'job'}"])
    summary = job.finetune(cfg, None)
    ours = checkpoint_tokenizer(path)
    assert summary["tokenizer/source"] == f"hf:{path}: {ours.source}"
    assert summary["tokenizer/sha256"] == tokenizer_sha256(ours.tokenizer)
    assert summary["tokenizer/vocab_size"] == ours.tokenizer.get_vocab_size()
    assert f"{task}/acc" in summary and summary["finetune/steps"] == 3
    # what keys finished and resumed jobs is the same tokenizer's content
    assert data_identity(cfg)["tokenizer"] == summary["tokenizer/sha256"]
