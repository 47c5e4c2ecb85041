"""Caches are keyed by content: the tokenizer by the sha256 of its tokenizer.json, the raw data by
the sha256 of the files read. The same bytes in another cache dir or folder give the same keys;
other bytes under the same settings give other keys."""

import hashlib
import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq

from bench.data import get_tokenizer, load_task_spec
from bench.data.features import feature_key
from bench.data.identity import data_fingerprint, synthetic_world_digest, tokenizer_info, tokenizer_source
from bench.data.synthetic import ensure_synthetic
from bench.data.tokenizer import tokenizer_sha256, trained_tokenizer_path


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fingerprint_is_the_content_of_tokenizer_corpus_and_task(cfg, tmp_path):
    fp = data_fingerprint(cfg, "en", "sst2")
    assert fp["tokenizer"] == _sha(trained_tokenizer_path(cfg, "en")) == tokenizer_sha256(get_tokenizer(cfg, "en"))
    corpus = cfg["corpus"]["en"]
    assert list(fp["corpus"]["files"]) == [f"{corpus['path']}/{corpus['name']}/train-00000-of-00001.parquet"]
    assert fp["corpus"]["corpus"] == corpus  # which column and how many documents are read
    assert sorted(fp["task"]["files"]) == [f"nyu-mll/glue/sst2/{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")]
    assert json.loads(json.dumps(fp)) == fp  # ready for a cache key
    assert data_fingerprint(cfg, "en", "sst2") == fp
    assert data_fingerprint(cfg, "zh")["tokenizer"] != fp["tokenizer"]

    # Another clone: a fresh cache dir holding the same world retrains the tokenizer to the same bytes.
    world = ensure_synthetic(cfg)
    clone = {**cfg, "cache_dir": str(tmp_path / "clone")}
    shutil.copytree(world, tmp_path / "clone" / "synthetic" / world.name)
    assert data_fingerprint(clone, "en", "sst2") == fp
    assert synthetic_world_digest(clone) == synthetic_world_digest(cfg)
    # Another tokenizer setting: another tokenizer, the same data.
    small = data_fingerprint({**clone, "tokenizer": {"en": {"kind": "wordpiece", "vocab_size": 300}}}, "en", "sst2")
    assert small["tokenizer"] != fp["tokenizer"] and small["task"] == fp["task"]


def test_local_files_are_keyed_by_their_bytes(cfg, tmp_path):
    """A local copy of the world keys like the world; a rewritten file (other bytes) changes the key,
    a touched one (same bytes, new time) does not."""
    root = tmp_path / "root"
    shutil.copytree(ensure_synthetic(cfg), root)
    local = {**cfg, "source": "local", "root": str(root), "cache_dir": str(tmp_path / "cache")}
    spec = load_task_spec("sst2")
    tok = get_tokenizer(cfg, "en")
    assert feature_key(spec, local, tok, "train", 32, None) == feature_key(spec, cfg, tok, "train", 32, None)

    train = root / "nyu-mll/glue/sst2/train-00000-of-00001.parquet"
    before = data_fingerprint(local, "en", "sst2")
    os.utime(train, ns=(1, 1))
    assert data_fingerprint(local, "en", "sst2") == before
    table = pq.read_table(train)
    labels = table.column("label").to_pylist()
    pq.write_table(table.set_column(table.schema.get_field_index("label"), "label",
                                    pa.array([1 - x for x in labels], table.schema.field("label").type)), train)
    after = data_fingerprint(local, "en", "sst2")
    assert after["task"] != before["task"] and after["tokenizer"] == before["tokenizer"]
    assert feature_key(spec, local, tok, "train", 32, None) != feature_key(spec, cfg, tok, "train", 32, None)
    assert feature_key(spec, local, tok, "validation", 32, None) == feature_key(spec, cfg, tok, "validation", 32, None)


def test_a_changed_tokenizer_file_changes_the_feature_key(cfg, tok, tmp_path):
    spec = load_task_spec("sst2")
    path = tmp_path / "a" / "tokenizer.json"
    path.parent.mkdir()
    tok.save(str(path))
    as_file = {**cfg, "tokenizer": {"en": {"kind": "file", "path": str(path)}}}
    same = get_tokenizer(as_file, "en")
    assert feature_key(spec, as_file, same, "train", 32, None) == feature_key(spec, cfg, tok, "train", 32, None)

    # the same settings (kind: file, this path), other bytes: two tokens swap ids
    content = json.loads(path.read_text())
    vocab = content["model"]["vocab"]
    vocab["the"], vocab["a"] = vocab["a"], vocab["the"]
    path.write_text(json.dumps(content))
    changed = get_tokenizer(as_file, "en")
    assert feature_key(spec, as_file, changed, "train", 32, None) != feature_key(spec, cfg, tok, "train", 32, None)


def test_tokenizer_info_for_a_summary(cfg, tok):
    path = trained_tokenizer_path(cfg, "en")
    info = tokenizer_info(tok, tokenizer_source(cfg, "en"))
    assert info == {"tokenizer/source": "wordpiece(vocab_size=4000) trained on the synthetic en corpus",
                    "tokenizer/vocab_size": tok.get_vocab_size(), "tokenizer/sha256": _sha(path)}
    assert tokenizer_info(path) == {**info, "tokenizer/source": f"file:{path}"}
    assert tokenizer_source({"source": "hub", "tokenizer": {"en": {"kind": "pretrained", "name": "bert-base-uncased"}}},
                            "en") == "pretrained:bert-base-uncased"
