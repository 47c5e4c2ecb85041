"""RACE-like data at the tiny profile, beside the end-to-end check (test_finetune_e2e.py, whose
RACE-M-like case shows that the tiny encoder learns to read them): the questions can be read from
their article (the Sliding Window baseline, bench/benchmarks/sliding_window.py, beats the majority letter by
far), the probe of the first step of that reading (bench/benchmarks/mc_probe.py) builds what it claims,
and the multiple-choice path fits training questions."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

from bench.benchmarks.mc_probe import main as probe_main
from bench.benchmarks.mc_probe import probe_batch
from bench.benchmarks.sliding_window import main, sliding_window_accuracy, sliding_window_choice, sliding_window_scores
from bench.config.architecture import effective_encoder_config
from bench.config.compose import compose_config
from bench.data import build_features, get_tokenizer, load_task, load_task_spec, make_dataloader, special_ids
from bench.jobs.finetune import predict
from lightning_modules.finetune import FineTuneModule
from lightning_modules.metrics import multiple_choice_accuracy
from tests.support.world import small_data_cfg


def test_scores_are_the_best_window_of_inverse_counts():
    # passage a b a c: a counts 2 (weight log 1.5), b and c count 1 (log 2)
    scores = sliding_window_scores("A b, a c.", "", ["b c", "a c", "z"])
    # "b c": width 2, every window holds one of them -> log 2; "a c": window (a, c) -> log 1.5 + log 2
    assert scores == pytest.approx([math.log(2), math.log(1.5) + math.log(2), 0.0])


def test_question_words_join_the_option_words():
    article = "Tom works as a doctor in a small town by the sea. Ann works as a nurse."
    assert sliding_window_choice(article, "What does Ann do?", ["doctor", "nurse", "teacher", "cat"]) == 1
    assert sliding_window_choice(article, "What does Tom do?", ["nurse", "teacher", "doctor", "dog"]) == 2


def test_no_rows_is_an_error():
    with pytest.raises(ValueError, match="no rows"):
        sliding_window_accuracy([], {"article": "a", "question": "q", "options": "o", "answer": "y"}, "ABCD")


def test_race_like_questions_are_answerable_from_the_article(tmp_path):
    """The synthetic data can be read: the lexical matcher beats the majority answer letter by far
    (figures: docs/notes/race-at-tiny.md)."""
    cfg = small_data_cfg(tmp_path, {"train": 10, "eval": 400, "test": 10, "corpus": {"en": 20, "zh": 20}})
    spec = load_task_spec("race")
    dev = load_task("race", cfg)["validation"]
    majority = 100.0 * Counter(dev["answer"]).most_common(1)[0][1] / len(dev)
    acc = sliding_window_accuracy(dev, spec.columns, spec.label_names)
    assert acc > majority + 20, (acc, majority)


def test_cli_refuses_a_task_that_is_not_multiple_choice():
    with pytest.raises(SystemExit, match="sst2.*multiple_choice"):
        main(["--task", "sst2"])


def test_probe_batch_puts_one_passage_word_among_the_options():
    batch = probe_batch(64, passage=12, vocab=50, gen=torch.Generator().manual_seed(0))
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == (64, 4, 12 + 4)
    assert (ids[:, :, 1:13] == ids[:, :1, 1:13]).all()  # the same passage under every option
    options = ids[:, :, 14]
    gold = options[torch.arange(64), labels]
    assert all(g in ids[i, 0, 1:13] for i, g in enumerate(gold))
    assert (batch["token_type_ids"][..., 14:] == 1).all() and (batch["token_type_ids"][..., :14] == 0).all()
    assert set(labels.tolist()) == {0, 1, 2, 3}


def test_probe_trains_the_multiple_choice_head_and_reports(capsys):
    probe_main(["--steps", "4", "--every", "2", "--passage", "6", "--vocab", "40"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("H=64 L=2 heads=2 passage=6")  # the tiny profile's encoder by default
    assert [line.split()[1] for line in lines[1:]] == ["2", "4"]
    assert all(0.5 < float(line.split()[3]) < 3.0 for line in lines[1:])  # losses near ln 4


def test_the_multiple_choice_path_fits_race_like_questions(tmp_path):
    """Through the real features, head and evaluation (`predict`, `multiple_choice_accuracy`), the
    tiny encoder fits 32 training questions in 60 steps (chance is 25%)."""
    cfg = small_data_cfg(tmp_path, {"train": 32, "eval": 10, "test": 10, "corpus": {"en": 200, "zh": 20}})
    tok = get_tokenizer(cfg, "en")
    ids = special_ids(tok)
    train = build_features("race_middle", cfg, tok, "train", 256)
    arch = effective_encoder_config(compose_config(["profile=tiny"]), vocab_size=ids.vocab_size)  # the jobs' own
    torch.manual_seed(0)
    module = FineTuneModule(
        arch.to_dict(),
        "multiple_choice",
        lr=1e-3,
        total_steps=60,
        warmup_ratio=0.0,
    )
    opt = module.configure_optimizers()["optimizer"]
    batch = next(iter(make_dataloader(train, 32, shuffle=False, seed=0, pad_id=ids.pad)))
    before = multiple_choice_accuracy(np.stack(predict(module, train, 32, ids.pad)), train["labels"])["acc"]
    for _ in range(60):
        module.train()
        loss = module.loss(module(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = multiple_choice_accuracy(np.stack(predict(module, train, 32, ids.pad)), train["labels"])["acc"]
    assert before < 50 and after >= 75, (before, after, loss.item())
