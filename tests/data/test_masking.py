"""Masking: selection rate, 80/10/10, special tokens, static vs dynamic, whole-word groups (en, zh),
and the Chinese BERT-wwm example reproduced by the code."""

import csv
import random
from collections.abc import Sequence

import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from bench.data.masking import (
    IGNORE_INDEX,
    jieba_word_ids,
    mask_batch,
    mask_sequence,
    non_special_ids,
    replace_selected,
    select_groups,
    special_tokens_mask,
    token_groups,
    word_groups,
)
from bench.data.pretraining import (
    PretrainingCollator,
    SpecialIds,
    build_pretraining_dataset,
    pretraining_dataloader,
    tokenize_documents,
)
from bench.io import PAPER_DIR

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sho"]


def _english_sentences(n: int, seed: int = 0) -> list[str]:
    """Sentences of made-up words of 1-4 syllables: a small WordPiece vocab splits the long ones."""
    rng = random.Random(seed)
    lexicon = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(80)]
    return [" ".join(rng.choice(lexicon) for _ in range(rng.randint(5, 12))) + "." for _ in range(n)]


def _english_documents(n_docs: int = 30, seed: int = 0) -> list[list[str]]:
    sentences = _english_sentences(n_docs * 5, seed)
    return [sentences[i * 5 : (i + 1) * 5] for i in range(n_docs)]


@pytest.fixture(scope="module")
def wordpiece():
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        _english_sentences(300), trainers.WordPieceTrainer(vocab_size=120, special_tokens=SPECIALS, show_progress=False)
    )
    return tok


@pytest.fixture(scope="module")
def bpe():
    """A tokenizer without '##' pieces: whole-word masking must still work through word_ids()."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        _english_sentences(300), trainers.BpeTrainer(vocab_size=120, special_tokens=SPECIALS, show_progress=False)
    )
    return tok


ZH_SENTENCES = [
    "我喜欢吃西瓜，还喜欢跑步。",
    "今天天气很好，我们去公园散步。",
    "他在北京大学学习计算机科学。",
    "中国的首都是北京。",
    "我们一起去图书馆看书吧。",
    "这个苹果非常好吃。",
]


@pytest.fixture(scope="module")
def char_zh():
    """Character-level Chinese tokenizer: BERT's normalizer puts spaces around CJK characters."""
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for ch in sorted(set("".join(ZH_SENTENCES))):
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tok


def _special(tok) -> SpecialIds:
    return SpecialIds.from_tokenizer(tok)


def _draws(ids, groups, n, special, vocab_size, seed=0):
    rng = random.Random(seed)
    random_ids = non_special_ids(vocab_size, special.all)
    return [
        mask_sequence(ids, groups, mlm_probability=0.15, mask_id=special.mask, random_ids=random_ids, rng=rng)
        for _ in range(n)
    ]


def _split_stats(original, masked, labels, mask_id):
    sel = [(o, m) for o, m, lab in zip(original, masked, labels) if lab != IGNORE_INDEX]
    n = len(sel)
    as_mask = sum(m == mask_id for _, m in sel) / n
    kept = sum(m == o for o, m in sel) / n
    return n, as_mask, kept, 1 - as_mask - kept


def test_static_selection_rate_and_80_10_10():
    special = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
    ids = [2] + [random.Random(i).randrange(5, 200) for i in range(100)] + [3]
    groups = token_groups([5 <= t for t in ids])
    original, masked, labels = [], [], []
    for m, lab in _draws(ids, groups, 4000, special, 200):
        original += ids
        masked += m
        labels += lab
        assert lab[0] == lab[-1] == IGNORE_INDEX  # [CLS], [SEP] never selected
    n, as_mask, kept, rand = _split_stats(original, masked, labels, special.mask)
    assert n / (4000 * 100) == pytest.approx(0.15, abs=0.003)
    assert as_mask == pytest.approx(0.8, abs=0.01)
    assert rand == pytest.approx(0.1, abs=0.01)
    assert kept == pytest.approx(0.1, abs=0.01)
    # a random replacement is never a special token
    assert all(m not in (0, 1, 2, 3) for m, lab in zip(masked, labels) if lab != IGNORE_INDEX)


def test_dynamic_mask_batch_rate_split_and_specials():
    g = torch.Generator().manual_seed(0)
    B, T = 64, 80
    ids = torch.randint(5, 300, (B, T), generator=g)
    lengths = torch.randint(20, T, (B,), generator=g)
    ids[:, 0] = 2
    for b, n in enumerate(lengths.tolist()):
        ids[b, n - 1] = 3
        ids[b, n:] = 0
    special = special_tokens_mask(ids, (0, 1, 2, 3, 4))
    random_ids = torch.tensor(non_special_ids(300, (0, 1, 2, 3, 4)))
    sel = as_mask = kept = total = 0
    for _ in range(60):
        masked, labels = mask_batch(ids, special, mlm_probability=0.15, mask_id=4, random_ids=random_ids, generator=g)
        chosen = labels != IGNORE_INDEX
        assert not (chosen & special).any()
        assert (labels[chosen] == ids[chosen]).all()
        assert (masked[~chosen] == ids[~chosen]).all()
        assert not torch.isin(masked[chosen & (masked != 4)], torch.tensor([0, 1, 2, 3])).any()
        sel += int(chosen.sum())
        as_mask += int((masked[chosen] == 4).sum())
        kept += int((masked[chosen] == ids[chosen]).sum())
        total += int((~special).sum())
    assert sel / total == pytest.approx(0.15, abs=0.003)
    assert as_mask / sel == pytest.approx(0.8, abs=0.01)
    assert kept / sel == pytest.approx(0.1, abs=0.01)


def test_select_groups_never_splits_and_respects_budget():
    rng = random.Random(1)
    groups = [[0, 1, 2], [3], [4, 5], [6, 7, 8, 9], [10], [11, 12]] * 1
    for _ in range(500):
        chosen = set(select_groups(groups, 0.3, rng))
        for g in groups:
            assert set(g) <= chosen or not set(g) & chosen
        assert len(chosen) <= int(0.3 * 13 + 1)


def _static_and_dynamic_loaders(tok, masking):
    special = _special(tok)
    docs = tokenize_documents(_english_documents(12), tok)
    ds = build_pretraining_dataset(
        docs,
        masking=masking,
        input_format="full_sentences",
        sentence_task="none",
        max_seq_length=32,
        special=special,
        vocab_size=tok.get_vocab_size(),
        dupe_factor=2,
        seed=0,
    )
    coll = PretrainingCollator(special, tok.get_vocab_size(), dynamic=masking == "dynamic", seed=0)
    return ds, pretraining_dataloader(ds, coll, batch_size=8, shuffle=False)


def _epoch(loader):
    return [(b["input_ids"].clone(), b["labels"].clone()) for b in loader]


def test_static_masks_identical_across_epochs(wordpiece):
    _, loader = _static_and_dynamic_loaders(wordpiece, "static")
    first, second = _epoch(loader), _epoch(loader)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second))


def test_dynamic_masks_differ_across_epochs_but_are_seeded(wordpiece):
    _, loader = _static_and_dynamic_loaders(wordpiece, "dynamic")
    first, second = _epoch(loader), _epoch(loader)
    differ = sum(not torch.equal(a[1], b[1]) for a, b in zip(first, second))
    assert differ == len(first)
    _, again = _static_and_dynamic_loaders(wordpiece, "dynamic")
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, _epoch(again)))  # same seed, same masks


def test_dupe_factor_duplicates_with_different_masks(wordpiece):
    special = _special(wordpiece)
    docs = tokenize_documents(_english_documents(12), wordpiece)
    kw = dict(
        input_format="full_sentences",
        sentence_task="none",
        max_seq_length=32,
        special=special,
        vocab_size=wordpiece.get_vocab_size(),
        seed=0,
    )
    once = build_pretraining_dataset(docs, masking="static", dupe_factor=1, **kw)
    ten = build_pretraining_dataset(docs, masking="static", dupe_factor=10, **kw)
    n = len(once)
    assert len(ten) == 10 * n
    for i in range(n):
        copies = [ten[i + k * n] for k in range(10)]
        originals = {
            tuple(lab if lab != IGNORE_INDEX else ids for ids, lab in zip(c["input_ids"], c["labels"])) for c in copies
        }
        assert len(originals) == 1  # the same sequence ...
        assert len({tuple(c["labels"]) for c in copies}) > 1  # ... masked differently


@pytest.mark.parametrize("tok_name", ["wordpiece", "bpe"])
def test_english_whole_word_masking_never_splits_a_word(tok_name, request):
    tok = request.getfixturevalue(tok_name)
    special = _special(tok)
    docs = tokenize_documents(_english_documents(20), tok, "en")
    multi_piece = sum(len(g) > 1 for d in docs for s in d for g in word_groups(s.words))
    assert multi_piece > 20  # the test has whole words of several pieces to split
    ds = build_pretraining_dataset(
        docs,
        masking="wwm_en",
        input_format="full_sentences",
        sentence_task="none",
        max_seq_length=48,
        special=special,
        vocab_size=tok.get_vocab_size(),
        dupe_factor=5,
        seed=3,
    )
    # Rebuild word ids of each example to check groups: word ids are deterministic for full_sentences.
    from bench.data.pretraining import build_examples

    examples = build_examples(
        docs,
        input_format="full_sentences",
        sentence_task="none",
        max_seq_length=48,
        special=special,
        rng=random.Random(0),
    )
    masked_multi = selected = candidates = 0
    for k in range(5):
        for ex, item in zip(examples, ds.items[k * len(examples) : (k + 1) * len(examples)]):
            chosen = [lab != IGNORE_INDEX for lab in item["labels"]]
            for g in word_groups(ex.word_ids):
                flags = {chosen[p] for p in g}
                assert len(flags) == 1, f"word {g} split by the mask"
                masked_multi += len(g) > 1 and chosen[g[0]]
            selected += sum(chosen)
            candidates += sum(w >= 0 for w in ex.word_ids)
    assert masked_multi > 0
    assert selected / candidates == pytest.approx(0.15, abs=0.03)


def test_chinese_whole_word_masking_groups_jieba_words(char_zh):
    special = _special(char_zh)
    docs = tokenize_documents([ZH_SENTENCES[:3], ZH_SENTENCES[3:]], char_zh, "zh")
    first = docs[0][0]
    assert len(first.ids) == len(ZH_SENTENCES[0])  # one token per character
    groups = [[char_zh.id_to_token(first.ids[p]) for p in g] for g in word_groups(first.words)]
    assert ["".join(g) for g in groups][:8] == ["我", "喜欢", "吃", "西瓜", "，", "还", "喜欢", "跑步"]
    ds = build_pretraining_dataset(
        docs,
        masking="wwm_zh",
        input_format="doc_sentences",
        sentence_task="none",
        max_seq_length=64,
        special=special,
        vocab_size=char_zh.get_vocab_size(),
        dupe_factor=40,
        seed=0,
    )
    from bench.data.pretraining import build_examples

    examples = build_examples(
        docs,
        input_format="doc_sentences",
        sentence_task="none",
        max_seq_length=64,
        special=special,
        rng=random.Random(0),
    )
    whole_multi = 0
    for k, item in enumerate(ds.items):
        ex = examples[k % len(examples)]
        chosen = [lab != IGNORE_INDEX for lab in item["labels"]]
        for g in word_groups(ex.word_ids):
            assert len({chosen[p] for p in g}) == 1
            whole_multi += len(g) > 1 and chosen[g[0]]
        assert not any(chosen[p] for p, w in enumerate(ex.word_ids) if w < 0)
    assert whole_multi > 10


def test_jieba_word_ids_from_offsets():
    text = "我喜欢吃西瓜"
    assert jieba_word_ids(text, [(0, 0), (0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (0, 0)]) == [
        None,
        0,
        1,
        1,
        2,
        3,
        3,
        None,
    ]


def wwm_example_rows(
    text: str = "我喜欢吃西瓜，还喜欢跑步",
    selected_words: Sequence[str] = ("西瓜", "跑步"),
    selected_chars: Sequence[str] = ("西", "步"),
) -> list[tuple[str, str]]:
    """The Chinese BERT-wwm paper's masking example, produced by the masking code.

    Character tokens, jieba word ids and `word_groups` as in training; the selection is given (the
    words and characters the paper masked) and every selected token rendered as [MASK]. Rows:
    original, char-level mask, segmented, whole-word mask (the `step` column of wwm_example.csv).
    """
    chars = list(text)
    word_ids = jieba_word_ids(text, [(i, i + 1) for i in range(len(chars))])
    groups = word_groups(word_ids)
    segmented = " ".join("".join(chars[p] for p in group) for group in groups)

    def render(positions: Sequence[int]) -> str:
        masked, _ = replace_selected(
            chars, positions, mask_id="[MASK]", random_ids=[], rng=random.Random(0), mask_ratio=1.0
        )  # type: ignore[arg-type]
        return "".join(masked)

    missing = [w for w in selected_words if w not in {"".join(chars[p] for p in g) for g in groups}]
    if missing:
        raise ValueError(f"selected_words {missing} are not jieba words of {text!r} (segmented: {segmented})")
    word_positions = [p for g in groups if "".join(chars[q] for q in g) in selected_words for p in g]
    char_positions = [text.index(c) for c in selected_chars]
    return [
        ("original", text),
        ("char-level mask", render(char_positions)),
        ("segmented", segmented),
        ("whole-word mask", render(word_positions)),
    ]


def test_wwm_example_matches_the_paper_exactly():
    with open(PAPER_DIR / "wwm_example.csv", encoding="utf-8") as f:
        paper = [(r["step"], r["text"]) for r in csv.DictReader(f)]
    rows = wwm_example_rows()
    assert dict(rows) == dict(paper)
    assert [s for s, _ in rows] == ["original", "char-level mask", "segmented", "whole-word mask"]


def test_wwm_example_rejects_a_non_word():
    with pytest.raises(ValueError, match="not jieba words"):
        wwm_example_rows(selected_words=("瓜，",))


def test_special_ids_missing_token_is_named():
    tok = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "a": 2}, unk_token="[UNK]"))
    with pytest.raises(ValueError, match=r"\[CLS\].*\[SEP\].*\[MASK\]"):
        SpecialIds.from_tokenizer(tok)
