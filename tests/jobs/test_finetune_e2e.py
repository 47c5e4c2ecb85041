"""End to end at the tiny profile: one tiny encoder pretrained through the checkpoint store (the
RoBERTa recipe, dynamic masking), then the real fine-tuning job on SST-2-, MNLI-, SQuAD v2- and
RACE-M-like data, each scored by its official metric on its dev set, must beat the trivial baseline
of that dev set: the majority class (letter) or the all-no-answer prediction.

Each job runs the tiny profile's own budget (profile.finetune.max_steps, 1,200 steps; for RACE
profile.finetune_by_type's 2,000 steps of 16 questions; minutes in all on CPU); the margins sit well
below what the runs reach and well above the noise of a 400-question dev set (one standard error is
2-2.5 points here). Why these budgets and margins: docs/notes/tiny-finetune-budget.md and
docs/notes/pooler-vs-cls.md.
"""

from collections import Counter

import pytest
from omegaconf import open_dict

from bench.config.compose import compose_config
from bench.data import load_task
from bench.jobs.finetune import finetune, finetune_hparams

PRETRAINING = ["objective=roberta"]  # the tiny recipe: 1000 steps x 32 sequences of 128 tokens


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE_DIR", str(root / "cache"))
        yield root


def majority_share(labels) -> float:
    return 100.0 * Counter(labels).most_common(1)[0][1] / len(labels)


def no_answer_f1(split) -> float:
    """SQuAD v2 F1 (and EM) of predicting "" for every question: the share of unanswerable ones."""
    return 100.0 * sum(not a["text"] for a in split["answers"]) / len(split)


# task, the metric, its dev split and baseline, the margin in points
CASES = [
    ("sst2", "sst2/acc", lambda d: majority_share(d["validation"]["label"]), 20.0),
    ("mnli", "mnli/acc_m", lambda d: majority_share(d["validation_matched"]["label"]), 6.0),
    ("squad_v2", "squad_v2/f1", lambda d: no_answer_f1(d["validation"]), 10.0),
    # RACE-M-like with the tiny profile's multiple-choice settings (docs/notes/race-at-tiny.md)
    ("race_middle", "race_middle/acc", lambda d: majority_share(d["validation"]["answer"]), 8.0),
]


@pytest.mark.parametrize("task, metric, baseline, margin", CASES, ids=[c[0] for c in CASES])
def test_pretrained_tiny_encoder_beats_the_baseline(task, metric, baseline, margin, cache):
    cfg = compose_config([f"task={task}", "profile=tiny", *PRETRAINING])
    with open_dict(cfg):
        cfg.job_dir = str(cache / "jobs" / task)
    summary = finetune(cfg, None)
    assert summary["init"] == "store:roberta"  # fine-tuned from the pretrained encoder, not from scratch
    assert summary["head_input"] == "cls"  # no NSP: the pooler is untrained (bench/jobs/encoders.py)
    floor = baseline(load_task(cfg.task, cfg.data))
    steps = summary["finetune/steps"]
    assert steps == finetune_hparams(cfg)["max_steps"]  # the profile's budget for this task type
    print(f"{metric} = {summary[metric]:.1f} after {steps} steps; baseline {floor:.1f}")  # pytest -rP shows it
    assert summary[metric] > floor + margin, (metric, summary[metric], "baseline", floor, summary)
