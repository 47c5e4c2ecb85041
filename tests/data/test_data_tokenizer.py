"""Tokenizers (tokenizers library only): BERT specials and template, word_ids, the Chinese
character tokenizer, saved tokenizer.json reloaded offline without retraining, and the same bytes
from every training process."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

import bench.data.tokenizer as tokmod
from bench.data import get_tokenizer, special_ids
from bench.data.synthetic import ensure_synthetic
from bench.data.tokenizer import train_chinese_char, train_wordpiece, trained_tokenizer_path, wordpiece_vocab
from bench.io import REPO_ROOT


def test_transformers_is_not_needed():
    """The data layer works with transformers made unimportable."""
    code = ("import sys; sys.modules['transformers'] = None; import bench.data.tokenizer as t; "
            "tok = t.train_wordpiece(['the cat sat'] * 5, 40); print(t.special_ids(tok).pad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


# Trains both tokenizers of the session world from scratch and prints their tokenizer.json's sha256.
TRAIN_BOTH = """
import hashlib, json, sys
from bench.data.synthetic import ensure_synthetic
from bench.data.tokenizer import get_tokenizer, trained_tokenizer_path
cfg = {**json.loads(sys.argv[1]), "cache_dir": sys.argv[2]}
for language in ("en", "zh"):
    get_tokenizer(cfg, language)
    print(hashlib.sha256(trained_tokenizer_path(cfg, language).read_bytes()).hexdigest())
"""


def test_trained_tokenizers_are_byte_identical_in_every_process(cfg, tmp_path):
    """Upstream trainers give another vocabulary on every call (huggingface/tokenizers#1794); ours
    does not, whatever the process's hash seed: the tokenizer.json files match byte for byte."""
    for lang in ("en", "zh"):
        get_tokenizer(cfg, lang)  # trained in this process (or an earlier test of it)
    here = [hashlib.sha256(trained_tokenizer_path(cfg, lang).read_bytes()).hexdigest() for lang in ("en", "zh")]
    world = ensure_synthetic(cfg)
    for hash_seed in ("0", "1"):
        # a cache of its own (the world copied there) so the process trains instead of loading
        cache = tmp_path / hash_seed
        shutil.copytree(world, cache / "synthetic" / world.name)
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", TRAIN_BOTH, json.dumps(cfg), str(cache)], cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        assert out.stdout.split() == here


def test_wordpiece_vocab_is_fixed_by_counts_alone():
    """Specials, characters and ## forms in code-point order, then the most frequent pair first,
    ties broken by text; pairs under min_frequency are not merged."""
    vocab = wordpiece_vocab({"cd": 3, "ab": 3, "ce": 1}, vocab_size=100, min_frequency=2)
    assert list(vocab) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e", "##b", "##d", "##e",
                           "ab", "cd"]
    assert list(vocab.values()) == list(range(len(vocab)))
    assert list(wordpiece_vocab({"cd": 3, "ab": 3}, vocab_size=12, min_frequency=1))[-1] == "ab"  # stops at the size
    # merges of merges: ##a+##b (7), then the tie at 5 goes to ##b+##ab ("##b" < "a"), then a+##bab, then a+##ab
    vocab = wordpiece_vocab({"abab": 5, "aab": 2}, vocab_size=100, min_frequency=1)
    assert list(vocab)[5:] == ["a", "b", "##a", "##b", "##ab", "##bab", "abab", "aab"]


def test_wordpiece_has_bert_specials_and_pair_template(cfg):
    tok = get_tokenizer(cfg, "en")
    ids = special_ids(tok)
    assert (ids.pad, ids.unk, ids.cls, ids.sep, ids.mask) == (0, 1, 2, 3, 4)
    assert ids.vocab_size == tok.get_vocab_size() > 500
    enc = tok.encode("Where was Mira born?", "Mira was born in Delton.")
    assert enc.tokens[0] == "[CLS]" and enc.tokens.count("[SEP]") == 2 and enc.tokens[-1] == "[SEP]"
    first_sep = enc.tokens.index("[SEP]")
    assert set(enc.type_ids[: first_sep + 1]) == {0} and set(enc.type_ids[first_sep + 1 :]) == {1}
    assert enc.tokens[1] == "where"  # uncased
    single = tok.encode("The battery was superb.")
    assert single.tokens[0] == "[CLS]" and single.tokens[-1] == "[SEP]" and set(single.type_ids) == {0}


def test_word_ids_group_word_pieces(cfg):
    tok = get_tokenizer(cfg, "en")
    enc = tok.encode("Unbelievably, Quarsavelton is far.")
    words = enc.word_ids
    assert words[0] is None and words[-1] is None
    inner = [w for w in words if w is not None]
    assert inner == sorted(inner) and sorted(set(inner)) == list(range(6))  # unbelievably , quarsavelton is far .
    pieces = [t for t, w in zip(enc.tokens, words) if w == 2]  # quarsavelton: not a vocabulary word
    assert len(pieces) >= 2 and not pieces[0].startswith("##") and all(p.startswith("##") for p in pieces[1:])


def test_chinese_tokenizer_gives_one_token_per_character(cfg):
    tok = get_tokenizer(cfg, "zh")
    enc = tok.encode("我喜欢吃西瓜，还喜欢跑步。")
    assert enc.tokens == ["[CLS]", "我", "喜", "欢", "吃", "西", "瓜", "，", "还", "喜", "欢", "跑", "步", "。", "[SEP]"]
    assert special_ids(tok).mask == 4
    assert len(set(w for w in enc.word_ids if w is not None)) == 13  # every character its own word


def test_trained_tokenizer_is_saved_and_reloaded_without_training(cfg, monkeypatch):
    first = get_tokenizer(cfg, "en")
    path = trained_tokenizer_path(cfg, "en")
    assert path.is_file() and path.name == "tokenizer.json"

    def boom(*a, **k):
        raise AssertionError("retrained instead of loading tokenizer.json")

    monkeypatch.setattr(tokmod, "train_wordpiece", boom)
    monkeypatch.setattr(tokmod, "load_corpus", boom)
    again = get_tokenizer(cfg, "en")
    assert again.to_str() == first.to_str()
    assert Tokenizer.from_file(str(path)).encode("a b").ids == first.encode("a b").ids
    assert first.padding is None and first.truncation is None


def test_vocab_size_setting_changes_the_cache_key(cfg):
    other = {**cfg, "tokenizer": {**cfg["tokenizer"], "en": {"kind": "wordpiece", "vocab_size": 300}}}
    assert trained_tokenizer_path(other, "en") != trained_tokenizer_path(cfg, "en")
    assert get_tokenizer(other, "en").get_vocab_size() <= 300


def test_file_kind_and_bad_kinds(cfg, tmp_path):
    path = tmp_path / "tok.json"
    train_chinese_char(["我喜欢吃西瓜。"]).save(str(path))
    tok = get_tokenizer({**cfg, "tokenizer": {"zh": {"kind": "file", "path": str(path)}}}, "zh")
    assert tok.encode("西瓜").tokens == ["[CLS]", "西", "瓜", "[SEP]"]
    with pytest.raises(ValueError, match=r"data.tokenizer.en.kind must be one of"):
        get_tokenizer({**cfg, "tokenizer": {"en": {"kind": "bpe"}}}, "en")
    with pytest.raises(FileNotFoundError, match=r"data.tokenizer.zh.path"):
        get_tokenizer({**cfg, "tokenizer": {"zh": {"kind": "file", "path": str(tmp_path / "none.json")}}}, "zh")


def test_pretrained_offline_says_how_to_switch(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"published tokenizer 'bert-base-uncased'.*data=synthetic"):
        get_tokenizer({"source": "hub", "tokenizer": {"en": {"kind": "pretrained", "name": "bert-base-uncased"}}}, "en")


def test_special_ids_reads_roberta_names_too():
    tok = train_wordpiece(["a b c"] * 3, vocab_size=50)
    tok.add_special_tokens(["<s>"])
    assert special_ids(tok).cls == tok.token_to_id("[CLS]")  # BERT names win when both exist
    bare = Tokenizer.from_str(tok.to_str())
    assert special_ids(bare).vocab_size == bare.get_vocab_size(with_added_tokens=True)
