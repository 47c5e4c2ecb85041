"""Feature building: sentence pairs, SQuAD windows as in run_qa.py, RACE choices, and the disk
cache keyed by what produced the features (a second run does not tokenize)."""

import pytest

import bench.data.features as featmod
from bench.data import build_features, get_tokenizer, load_task, load_task_spec, special_ids
from bench.data.features import feature_key


def test_pair_features_columns_and_labels(cfg, tok):
    ds = build_features("mnli", cfg, tok, "validation_matched", max_length=24)
    raw = load_task("mnli", cfg)["validation_matched"]
    assert ds.column_names == ["input_ids", "token_type_ids", "attention_mask", "labels"]
    assert ds["labels"] == raw["label"]
    ids = special_ids(tok)
    for row in ds:
        assert len(row["input_ids"]) <= 24
        assert row["input_ids"][0] == ids.cls and row["input_ids"].count(ids.sep) == 2
        assert set(row["attention_mask"]) == {1}
        assert row["token_type_ids"][-1] == 1
    full = build_features("mnli", cfg, tok, "validation_matched", max_length=128)
    assert tok.decode(full[0]["input_ids"]).lower().startswith(raw[0]["premise"].lower()[:10])


def test_regression_labels_are_floats_and_test_labels_hidden(cfg, tok):
    ds = build_features("stsb", cfg, tok, "validation", max_length=64)
    assert ds.features["labels"].dtype == "float32"
    assert ds["labels"] == pytest.approx(load_task("stsb", cfg)["validation"]["label"])
    assert set(build_features("sst2", cfg, tok, "test", max_length=64)["labels"]) == {-1}


def _norm(s):
    return s.replace(" ", "").replace("##", "").lower()


def test_squad_train_windows_point_at_the_answer(cfg, tok):
    raw = load_task("squad_v2", cfg)["train"]
    ds = build_features("squad_v2", cfg, tok, "train", max_length=40, doc_stride=12)
    assert ds.column_names == ["input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions"]
    assert len(ds) > len(raw)  # long contexts give several overlapping windows
    answers = {_norm(t) for ex in raw for t in ex["answers"]["text"]}
    inside = 0
    for row in ds:
        s, e = row["start_positions"], row["end_positions"]
        assert 0 <= s <= e < len(row["input_ids"])
        if s == 0:
            assert e == 0  # [CLS]: not in this window, or unanswerable
            continue
        inside += 1
        assert set(row["token_type_ids"][s : e + 1]) == {1}  # inside the context
        assert _norm(tok.decode(row["input_ids"][s : e + 1])) in answers
    assert inside > 0


def test_squad_eval_features_keep_offsets_of_context_only(cfg, tok):
    raw = load_task("squad_v1", cfg)["validation"]
    ds = build_features("squad_v1", cfg, tok, "validation", max_length=40, doc_stride=12)
    assert ds.column_names == ["input_ids", "token_type_ids", "attention_mask", "example_id", "offset_mapping"]
    by_id = {ex["id"]: ex for ex in raw}
    assert set(ds["example_id"]) == set(by_id)
    found = set()
    for row in ds:
        ex = by_id[row["example_id"]]
        offsets = row["offset_mapping"]
        assert len(offsets) == len(row["input_ids"])
        last = len(offsets) - 1
        for i, (o, t) in enumerate(zip(offsets, row["token_type_ids"])):
            assert (o is None) == (t == 0 or i == last)  # question, [CLS], [SEP]s: None; context: (start, end)
        context = [o for o in offsets if o is not None]
        start, text = ex["answers"]["answer_start"][0], ex["answers"]["text"][0]
        if context[0][0] <= start and context[-1][1] >= start + len(text):
            found.add(ex["id"])
    assert found == set(by_id)  # every answer lies wholly inside some window


def test_doc_stride_too_large_is_explained(cfg, tok):
    with pytest.raises(ValueError, match=r"max_length=20 with doc_stride=18"):
        build_features("squad_v1", cfg, tok, "train", max_length=20, doc_stride=18)
    with pytest.raises(ValueError, match=r"needs doc_stride"):
        build_features("squad_v1", cfg, tok, "train", max_length=64)


def test_race_features_are_four_choices(cfg, tok):
    raw = load_task("race", cfg)["validation"]
    ds = build_features("race", cfg, tok, "validation", max_length=64)
    assert ds.column_names == ["input_ids", "token_type_ids", "attention_mask", "labels", "example_id"]
    ids = special_ids(tok)
    for row, ex in zip(ds, raw):
        assert len(row["input_ids"]) == 4 and row["labels"] == "ABCD".index(ex["answer"])
        assert row["example_id"] == ex["example_id"]
        for choice, option in zip(row["input_ids"], ex["options"]):
            assert len(choice) <= 64 and choice[0] == ids.cls and choice[-1] == ids.sep
            second = tok.decode(choice[choice.index(ids.sep) + 1 : -1])
            assert _norm(second).endswith(_norm(option).rstrip(".")) or _norm(option)[:8] in _norm(second)


def test_chinese_features_use_the_character_tokenizer(cfg):
    zh = get_tokenizer(cfg, "zh")
    ds = build_features("xnli_zh", cfg, zh, "validation", max_length=64)
    raw = load_task("xnli_zh", cfg)["validation"]
    first = zh.decode(ds[0]["input_ids"]).replace(" ", "")
    assert first.startswith(raw[0]["premise"][:6])


def test_second_build_loads_the_cache_without_tokenizing(cfg, tok, monkeypatch):
    first = build_features("qnli", cfg, tok, "train", max_length=48)

    def boom(*a, **k):
        raise AssertionError("tokenized again instead of loading the cache")

    monkeypatch.setattr(featmod, "encode_split", boom)
    monkeypatch.setattr(featmod, "load_task", boom)
    again = build_features("qnli", cfg, tok, "train", max_length=48)
    assert again.to_list() == first.to_list()
    with pytest.raises(AssertionError, match="tokenized again"):  # another length is another key
        build_features("qnli", cfg, tok, "train", max_length=49)


def test_cache_key_covers_spec_source_tokenizer_and_lengths(cfg, tok):
    spec = load_task_spec("qnli")
    base = feature_key(spec, cfg, tok, "train", 48, None)
    assert base == feature_key(spec, dict(cfg), tok, "train", 48, None)
    other_tok = get_tokenizer({**cfg, "tokenizer": {**cfg["tokenizer"], "en": {"kind": "wordpiece", "vocab_size": 200}}}, "en")
    changed = [
        feature_key(spec, cfg, tok, "validation", 48, None),
        feature_key(spec, cfg, tok, "train", 64, None),
        feature_key(spec, cfg, other_tok, "train", 48, None),
        feature_key(spec, {**cfg, "seed": cfg["seed"] + 1}, tok, "train", 48, None),
        feature_key(load_task_spec("rte"), cfg, tok, "train", 48, None),
    ]
    assert base not in changed and len(set(changed)) == len(changed)
    assert all(k != base for k in changed)
    assert feature_key(spec, cfg, tok, "train", 48, None).startswith("qnli-train-48-")
