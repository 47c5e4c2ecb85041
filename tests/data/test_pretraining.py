"""Segment-pair builder (NSP / SOP / none), the four RoBERTa input formats, the collator, the
objective recipes, and a tiny pretraining through the Lightning Trainer that lowers the MLM loss."""

import random
from collections import Counter

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import OmegaConf

from bench.data.masking import IGNORE_INDEX
from bench.data.pretraining import (
    PretrainingCollator,
    SpecialIds,
    TokenizedSentence,
    build_examples,
    build_pretraining_dataset,
    pretraining_dataloader,
)
from bench.io import CONF_DIR
from lightning_modules.encoder import EncoderConfig
from lightning_modules.pretrain import ObjectiveConfig, PretrainModule, pretraining_trainer, warmup_linear_decay

SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
FIRST_ID = 10


def _tagged_documents(n_docs=40, seed=0, min_sents=3, max_sents=8):
    """Every token of sentence s of document d is the id FIRST_ID + 20 d + s: any token names the
    sentence it comes from, so pair semantics can be checked from the ids alone."""
    rng = random.Random(seed)
    docs, word = [], 0
    for d in range(n_docs):
        doc = []
        for s in range(rng.randint(min_sents, max_sents)):
            n = rng.randint(2, 6)
            doc.append(TokenizedSentence([FIRST_ID + 20 * d + s] * n, list(range(word, word + n))))
            word += n
        docs.append(doc)
    return docs


def _source(token):
    return divmod(token - FIRST_ID, 20)  # (document, sentence)


def _segments(ex):
    """The sentences (doc, sent) of A and B of a [CLS] A [SEP] B [SEP] example, in order."""
    ids = ex.input_ids
    assert ids[0] == SPECIAL.cls and ids[-1] == SPECIAL.sep
    first_sep = ids.index(SPECIAL.sep)
    a, b = ids[1:first_sep], ids[first_sep + 1 : -1]
    assert ex.token_type_ids == [0] * (first_sep + 1) + [1] * (len(b) + 1)

    def sentences(tokens):
        out = []
        for t in tokens:
            if not out or out[-1] != _source(t):
                out.append(_source(t))
        return out

    return sentences(a), sentences(b)


def _build(fmt, task, seed=0, max_len=64, docs=None):
    docs = docs or _tagged_documents(seed=seed)
    return build_examples(
        docs,
        input_format=fmt,
        sentence_task=task,
        max_seq_length=max_len,
        special=SPECIAL,
        rng=random.Random(seed),
        short_seq_prob=0.0,
    )


@pytest.mark.parametrize("fmt", ["segment_pair", "sentence_pair"])
def test_nsp_balance_and_positives_are_consecutive(fmt):
    examples = [ex for seed in range(5) for ex in _build(fmt, "nsp", seed)]
    labels = Counter(ex.sentence_label for ex in examples)
    assert set(labels) == {0, 1}
    assert labels[1] / len(examples) == pytest.approx(0.5, abs=0.08)
    for ex in examples:
        a, b = _segments(ex)
        if fmt == "sentence_pair":
            assert len(a) == len(b) == 1
        if ex.sentence_label == 0:  # IsNext: B continues A (a lone sentence may be cut in two)
            assert a[-1][0] == b[0][0] and b[0][1] in (a[-1][1], a[-1][1] + 1)
            assert all(y == (x[0], x[1] + 1) for x, y in zip(a, a[1:])) and all(
                y == (x[0], x[1] + 1) for x, y in zip(b, b[1:])
            )
        else:  # NotNext: B comes from another document
            assert all(s[0] != a[0][0] for s in b)


@pytest.mark.parametrize("fmt", ["segment_pair", "sentence_pair"])
def test_sop_balance_and_negatives_are_swapped(fmt):
    examples = [ex for seed in range(5) for ex in _build(fmt, "sop", seed)]
    labels = Counter(ex.sentence_label for ex in examples)
    assert labels[1] / len(examples) == pytest.approx(0.5, abs=0.08)
    for ex in examples:
        a, b = _segments(ex)
        assert {s[0] for s in a + b} == {a[0][0]}  # SOP never uses another document
        first, second = (a, b) if ex.sentence_label == 0 else (b, a)
        # in document order, `first` ends where `second` starts (a long sentence may be cut in two)
        assert second[0][1] in (first[-1][1], first[-1][1] + 1)
        if ex.sentence_label == 1:
            assert a[0][1] >= b[-1][1]


def test_no_sentence_task_pairs_have_no_label():
    examples = _build("segment_pair", "none")
    assert examples and all(ex.sentence_label == IGNORE_INDEX for ex in examples)


def test_full_sentences_cross_documents_with_an_extra_separator():
    docs = _tagged_documents(n_docs=10)
    examples = _build("full_sentences", "none", docs=docs, max_len=40)
    corpus = [t for d in docs for s in d for t in s.ids]
    packed, crossing = [], 0
    for ex in examples:
        assert len(ex.input_ids) <= 40 and ex.input_ids[0] == SPECIAL.cls and ex.input_ids[-1] == SPECIAL.sep
        assert set(ex.token_type_ids) == {0} and ex.sentence_label == IGNORE_INDEX
        body = ex.input_ids[1:-1]
        for i, t in enumerate(body):
            if t == SPECIAL.sep:  # a separator only where one document ends and the next begins
                crossing += 1
                assert _source(body[i + 1])[0] == _source(body[i - 1])[0] + 1
                assert _source(body[i + 1])[1] == 0
        packed += [t for t in body if t != SPECIAL.sep]
        # whole sentences only: a sequence starts at a sentence start
        d, s = _source(body[0])
        assert body[: len(docs[d][s].ids)] == docs[d][s].ids
    assert packed == corpus  # every token once, in order
    assert crossing > 0


def test_doc_sentences_never_cross_documents():
    docs = _tagged_documents(n_docs=10)
    examples = _build("doc_sentences", "none", docs=docs, max_len=40)
    assert [t for ex in examples for t in ex.input_ids[1:-1]] == [t for d in docs for s in d for t in s.ids]
    for ex in examples:
        assert SPECIAL.sep not in ex.input_ids[1:-1]
        assert len({_source(t)[0] for t in ex.input_ids[1:-1]}) == 1


def test_a_sentence_longer_than_a_sequence_is_cut():
    docs = [[TokenizedSentence(list(range(10, 60)), list(range(50)))]]
    examples = _build("full_sentences", "none", docs=docs, max_len=20)
    assert [len(ex.input_ids) for ex in examples] == [20, 20, 16]


@pytest.mark.parametrize(
    "fmt,task",
    [
        ("segment_pair", "nsp"),
        ("sentence_pair", "nsp"),
        ("segment_pair", "sop"),
        ("full_sentences", "none"),
        ("doc_sentences", "none"),
    ],
)
def test_max_seq_length_is_respected(fmt, task):
    docs = _tagged_documents(n_docs=20, min_sents=2, max_sents=12)
    for ex in build_examples(
        docs, input_format=fmt, sentence_task=task, max_seq_length=12, special=SPECIAL, rng=random.Random(0)
    ):
        assert len(ex.input_ids) <= 12


def test_bad_combinations_are_named():
    docs = _tagged_documents(n_docs=3)
    with pytest.raises(ValueError, match="sentence_task=nsp needs a pair input_format"):
        build_examples(
            docs,
            input_format="full_sentences",
            sentence_task="nsp",
            max_seq_length=64,
            special=SPECIAL,
            rng=random.Random(0),
        )
    with pytest.raises(ValueError, match="input_format must be one of"):
        build_examples(
            docs,
            input_format="segments",
            sentence_task="none",
            max_seq_length=64,
            special=SPECIAL,
            rng=random.Random(0),
        )


def test_collator_pads_and_masks_only_real_tokens():
    docs = _tagged_documents(n_docs=8)
    ds = build_pretraining_dataset(
        docs,
        masking="dynamic",
        input_format="segment_pair",
        sentence_task="nsp",
        max_seq_length=48,
        special=SPECIAL,
        vocab_size=200,
    )
    batch = PretrainingCollator(SPECIAL, 200, dynamic=True, seed=0)([ds[0], ds[1], ds[2]])
    lengths = [len(ds[i]["input_ids"]) for i in range(3)]
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["input_ids"][batch["attention_mask"] == 0] == SPECIAL.pad).all()
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE_INDEX).all()
    assert batch["sentence_label"].tolist() == [ds[i]["sentence_label"] for i in range(3)]


# --- recipes -------------------------------------------------------------------------------------


def _objective(name: str, profile: str) -> ObjectiveConfig:
    return ObjectiveConfig.from_cfg(OmegaConf.load(CONF_DIR / "objective" / f"{name}.yaml"), profile)


EXPECTED = {  # name: (masking, sentence_task, input_format)
    "bert": ("static", "nsp", "segment_pair"),
    "albert": ("static", "sop", "segment_pair"),
    "roberta": ("dynamic", "none", "full_sentences"),
    "roberta_static": ("static", "none", "full_sentences"),
    "roberta_segment_pair_nsp": ("dynamic", "nsp", "segment_pair"),
    "roberta_sentence_pair_nsp": ("dynamic", "nsp", "sentence_pair"),
    "roberta_doc_sentences": ("dynamic", "none", "doc_sentences"),
    "wwm_zh": ("wwm_zh", "none", "full_sentences"),
    "distil": ("dynamic", "none", "full_sentences"),
    "none": ("none", "none", "full_sentences"),
    "roberta_bsz256": ("dynamic", "none", "full_sentences"),
    "roberta_bsz2k": ("dynamic", "none", "full_sentences"),
    "roberta_bsz8k": ("dynamic", "none", "full_sentences"),
}


RECIPES = sorted(p.stem for p in (CONF_DIR / "objective").glob("*.yaml"))


@pytest.mark.parametrize("name", RECIPES)
@pytest.mark.parametrize("profile", ["tiny", "paper"])
def test_every_recipe_resolves(name, profile):
    cfg = OmegaConf.load(CONF_DIR / "objective" / f"{name}.yaml")
    assert cfg.name == name
    obj = _objective(name, profile)
    if name in EXPECTED:
        assert (obj.masking, obj.sentence_task, obj.input_format) == EXPECTED[name]
        assert obj.mlm_probability == 0.15
    if obj.masking in ("static", "wwm_zh"):
        assert obj.dupe_factor >= 10
    if name != "none":
        assert obj.micro_batch_size * obj.accumulate_grad_batches == obj.batch_size


def test_every_papers_recipe_has_a_file():
    assert set(EXPECTED) <= set(RECIPES)


def test_masking_ablation_differs_only_in_masking():
    for profile in ("tiny", "paper"):
        dyn, sta = _objective("roberta", profile).to_dict(), _objective("roberta_static", profile).to_dict()
        assert {k for k in dyn if dyn[k] != sta[k]} == {"name", "masking", "dupe_factor"}
        assert sta["dupe_factor"] == 10


def test_batch_size_table_paper_values_and_equal_passes():
    rows = {
        n: (_objective(n, "paper"), _objective(n, "tiny")) for n in ("roberta_bsz256", "roberta_bsz2k", "roberta_bsz8k")
    }
    assert [(p.batch_size, p.max_steps, p.lr) for p, _ in rows.values()] == [
        (256, 1_000_000, 1e-4),
        (2048, 125_000, 7e-4),
        (8192, 31_000, 1e-3),
    ]
    seqs = {t.batch_size * t.max_steps for _, t in rows.values()}
    assert len(seqs) == 1  # the same number of sequences (passes over the data) for every row
    assert len({p.batch_size / t.batch_size for p, t in rows.values()}) == 1  # batch divided by one factor
    assert len({t.micro_batch_size for _, t in rows.values()}) == 1  # big batches by accumulation
    lr_ratios = [p.lr / t.lr for p, t in rows.values()]
    assert max(lr_ratios) == pytest.approx(min(lr_ratios))


def test_unknown_recipe_key_names_file_and_key():
    cfg = OmegaConf.load(CONF_DIR / "objective" / "bert.yaml")
    cfg.tiny.lrr = 0.1
    with pytest.raises(ValueError, match=r"bert\.yaml.*lrr"):
        ObjectiveConfig.from_cfg(cfg, "tiny")
    with pytest.raises(ValueError, match=r"bert\.yaml.*no `cpu:` section"):
        ObjectiveConfig.from_cfg(OmegaConf.load(CONF_DIR / "objective" / "bert.yaml"), "cpu")
    with pytest.raises(ValueError, match="sentence_task must be one of"):
        ObjectiveConfig(name="x", sentence_task="nxp")


def test_warmup_then_linear_decay():
    f = warmup_linear_decay(10, 110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5) and f(110) == 0.0


# --- a tiny pretraining ---------------------------------------------------------------------------


def _learnable_documents(n_docs=60, seed=0, vocab=64):
    """Each sentence repeats one token 4-10 times: a masked token is predictable from its
    unmasked neighbours, so a tiny encoder learns it in a hundred steps."""
    rng = random.Random(seed)
    docs, word = [], 0
    for _ in range(n_docs):
        doc = []
        for _ in range(rng.randint(3, 6)):
            token, n = FIRST_ID + rng.randrange(vocab), rng.randint(4, 10)
            doc.append(TokenizedSentence([token] * n, list(range(word, word + n))))
            word += n
        docs.append(doc)
    return docs


class _Record(Callback):
    def __init__(self, *keys):
        self.keys, self.history = keys, {k: [] for k in keys}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        for k in self.keys:
            self.history[k].append(float(trainer.callback_metrics[k]))


def _tiny_model(vocab=FIRST_ID + 64):
    return EncoderConfig(
        vocab_size=vocab,
        embedding_size=32,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        dropout=0.0,
        attention_dropout=0.0,
    )


@pytest.mark.parametrize("recipe", ["roberta", "bert"])
def test_tiny_pretraining_lowers_the_mlm_loss(recipe, tmp_path, one_torch_thread):
    torch.manual_seed(0)
    obj = ObjectiveConfig.from_cfg(OmegaConf.load(CONF_DIR / "objective" / f"{recipe}.yaml"), "tiny")
    obj.max_steps, obj.max_seq_length, obj.batch_size, obj.lr, obj.dupe_factor = 120, 48, 16, 1e-2, 2
    model_cfg = _tiny_model()
    ds = build_pretraining_dataset(
        _learnable_documents(),
        masking=obj.masking,
        input_format=obj.input_format,
        sentence_task=obj.sentence_task,
        max_seq_length=obj.max_seq_length,
        special=SPECIAL,
        vocab_size=model_cfg.vocab_size,
        dupe_factor=obj.dupe_factor,
        seed=0,
    )
    loader = pretraining_dataloader(
        ds,
        PretrainingCollator(SPECIAL, model_cfg.vocab_size, dynamic=not ds.static, seed=0),
        obj.micro_batch_size,
        seed=0,
    )
    keys = ["pretrain/mlm_loss", "pretrain/mlm_acc", "pretrain/ppl"] + (
        ["pretrain/nsp_loss"] if recipe == "bert" else []
    )
    record = _Record(*keys)
    module = PretrainModule(model_cfg, obj)
    trainer = pretraining_trainer(
        tmp_path,
        obj,
        callbacks=[record],
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        checkpoint_every_n_steps=1000,
    )
    trainer.fit(module, loader)
    loss = record.history["pretrain/mlm_loss"]
    assert len(loss) == 120
    first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
    assert last < 0.6 * first, (first, last)
    assert sum(record.history["pretrain/mlm_acc"][-5:]) > sum(record.history["pretrain/mlm_acc"][:5])
    assert record.history["pretrain/ppl"][-1] == pytest.approx(torch.tensor(loss[-1]).exp().item(), rel=1e-4)
    assert (module.sentence_head is not None) == (recipe == "bert")


def test_validation_logs_held_out_perplexity(tmp_path, one_torch_thread):
    obj = ObjectiveConfig(name="t", masking="static", max_steps=2, batch_size=8, max_seq_length=48)
    model_cfg = _tiny_model()
    ds = build_pretraining_dataset(
        _learnable_documents(n_docs=10),
        masking="static",
        input_format="full_sentences",
        sentence_task="none",
        max_seq_length=48,
        special=SPECIAL,
        vocab_size=model_cfg.vocab_size,
    )
    loader = pretraining_dataloader(
        ds, PretrainingCollator(SPECIAL, model_cfg.vocab_size, dynamic=False), 8, shuffle=False
    )
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        limit_val_batches=3,
    )
    trainer.fit(PretrainModule(model_cfg, obj), loader, loader)
    m = trainer.callback_metrics
    assert float(m["pretrain/val_ppl"]) == pytest.approx(float(torch.exp(m["pretrain/val_mlm_loss"])), rel=1e-5)


def test_sentence_task_without_pooler_is_refused():
    with pytest.raises(ValueError, match="no pooler"):
        PretrainModule(
            EncoderConfig(
                vocab_size=50,
                embedding_size=16,
                hidden_size=16,
                num_layers=1,
                num_heads=2,
                intermediate_size=32,
                pooler=False,
            ),
            ObjectiveConfig(name="b", masking="static", sentence_task="nsp", input_format="segment_pair"),
        )
