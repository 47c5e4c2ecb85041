"""The pretraining data a store fit sees: held-out documents split off before any static copy is
built, and a train loader whose saved position resumes a pass exactly."""

import pytest
import torch
from omegaconf import OmegaConf

from bench.data.masking import IGNORE_INDEX
from bench.data.pretraining import (
    PretrainingCollator,
    build_for_objective,
    build_pretraining_dataset,
    pretraining_dataloader,
)
from bench.io import CONF_DIR
from lightning_modules.pretrain import ObjectiveConfig
from tests.data.test_pretraining import FIRST_ID, SPECIAL, _source, _tagged_documents


@pytest.mark.parametrize("name", ["bert", "roberta_static", "roberta"])
def test_validation_sequences_are_held_out(name):
    """Documents are split before the static copies are built: no token of a validation sequence
    (each token names its document and sentence) is in a training sequence, under any mask or pairing."""
    obj = ObjectiveConfig.from_cfg(OmegaConf.load(CONF_DIR / "objective" / f"{name}.yaml"), "tiny")

    def sentences(dataset):
        out = set()
        for item in dataset.items:  # the original tokens: a static mask's label holds what it hid
            labels = item.get("labels") or [IGNORE_INDEX] * len(item["input_ids"])
            out |= {lab if lab != IGNORE_INDEX else t for t, lab in zip(item["input_ids"], labels)}
        return {t for t in out if t >= FIRST_ID}

    data = build_for_objective(obj, _tagged_documents(), SPECIAL, vocab_size=FIRST_ID + 20 * 40, seed=0)
    train, val = sentences(data.train), sentences(data.val)
    assert val and train and not train & val
    assert len({d for d, _ in map(_source, val)}) == 2 and len({d for d, _ in map(_source, train)}) == 38
    assert data.val.static == data.train.static == (obj.masking != "dynamic")


@pytest.mark.parametrize("stop", [3, 10])
def test_loader_state_resumes_mid_pass_and_after_a_pass(stop):
    """The position Lightning saves: the rest of the pass (and the next one) as if never stopped,
    the same order and the same dynamic masks."""
    docs = _tagged_documents()
    ds = build_pretraining_dataset(docs, masking="dynamic", input_format="full_sentences", sentence_task="none",
                                   max_seq_length=16, special=SPECIAL, vocab_size=FIRST_ID + 800)

    def loader():
        return pretraining_dataloader(ds, PretrainingCollator(SPECIAL, FIRST_ID + 800, dynamic=True, seed=0), 8, seed=0)

    ref = loader()
    assert len(ref) == 10
    expected = [*ref, *ref]  # two passes
    first = loader()
    batches = iter(first)
    seen = [next(batches) for _ in range(stop)]
    again = loader()
    again.load_state_dict(first.state_dict())
    rest = [*again, *again][: len(expected) - stop]
    assert len(rest) == len(expected) - stop
    for got, want in zip(seen + rest, expected):
        assert torch.equal(got["input_ids"], want["input_ids"]) and torch.equal(got["labels"], want["labels"])
