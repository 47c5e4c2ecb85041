"""RACE accuracy overall and per level (middle / high) on a hand-made batch."""

import math

import numpy as np
import pytest
import torch

from lightning_modules.metrics import compute_task_metrics, multiple_choice_accuracy

LOGITS = np.array(
    [
        [3.0, 1.0, 0.0, 0.0],  # middle, gold A: right
        [0.0, 2.0, 1.0, 0.0],  # middle, gold C: wrong
        [0.0, 0.0, 0.0, 5.0],  # high, gold D: right
        [1.0, 0.0, 0.0, 0.0],  # high, gold B: wrong
        [0.0, 0.0, 4.0, 1.0],  # high, gold C: right
    ]
)
LABELS = [0, 2, 3, 1, 2]
IDS = ["middle1.txt", "middle2.txt", "high1.txt", "high2.txt", "high3.txt"]


def test_accuracy_overall_and_per_level_by_hand():
    got = multiple_choice_accuracy(LOGITS, LABELS, IDS)
    assert got == pytest.approx({"acc": 60.0, "acc_middle": 50.0, "acc_high": 200 / 3})
    # tensors and the hub's answer letters give the same
    assert multiple_choice_accuracy(torch.tensor(LOGITS), ["A", "C", "D", "B", "C"], IDS) == pytest.approx(got)
    assert multiple_choice_accuracy(LOGITS, LABELS) == pytest.approx({"acc": 60.0})  # no ids: overall only


def test_a_level_without_questions_is_left_out():
    got = multiple_choice_accuracy(LOGITS[:2], LABELS[:2], IDS[:2])
    assert got == pytest.approx({"acc": 50.0, "acc_middle": 50.0})
    assert all(math.isfinite(v) for v in got.values())
    via_dispatch = compute_task_metrics(
        "multiple_choice",
        ["acc", "acc_middle", "acc_high"],
        logits=LOGITS[:2],
        labels=np.array(LABELS[:2]),
        example_ids=IDS[:2],
    )
    assert via_dispatch == pytest.approx({"acc": 50.0, "acc_middle": 50.0})


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="neither 'middle' nor 'high'"):
        multiple_choice_accuracy(LOGITS, LABELS, [str(i) for i in range(5)])
    with pytest.raises(ValueError, match=r"option indices in \[0, 4\)"):
        multiple_choice_accuracy(LOGITS, [0, 1, 2, 3, 4], IDS)
    with pytest.raises(ValueError, match="5 questions but labels has 4"):
        multiple_choice_accuracy(LOGITS, LABELS[:4], IDS)
    with pytest.raises(ValueError, match="no metric"):
        compute_task_metrics("multiple_choice", ["f1"], logits=LOGITS, labels=LABELS, example_ids=IDS)
