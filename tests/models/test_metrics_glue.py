"""GLUE metrics against scikit-learn / scipy, degenerate inputs, and the GLUE-score convention
(its membership read from conf/task/*.yaml)."""

import math

import numpy as np
import pytest
import torch
import yaml
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from bench.data.specs import TASK_DIR, task_names
from bench.results.report import glue_task_metrics
from lightning_modules.metrics import (
    GLUE_SCORE_CONVENTION,
    classification_metrics,
    compute_task_metrics,
    glue_score,
    regression_metrics,
)

# GLUE_SCORE_CONVENTION as {task: metrics whose mean is its score}: what conf/task/*.yaml must say.
CONVENTION = {"cola": ("mcc",), "mnli": ("acc_m",), "mrpc": ("f1", "acc"), "qnli": ("acc",), "qqp": ("f1", "acc"),
              "rte": ("acc",), "sst2": ("acc",), "stsb": ("pearson", "spearman"), "wnli": ("acc",)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_equal_sklearn_on_random_logits(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(97, 2))
    labels = rng.integers(0, 2, 97)
    preds = logits.argmax(1)
    got = classification_metrics(["acc", "f1", "mcc"], logits, labels)
    assert got["acc"] == pytest.approx(100 * accuracy_score(labels, preds), abs=1e-4)
    assert got["f1"] == pytest.approx(100 * f1_score(labels, preds), abs=1e-4)  # binary, positive class 1
    assert got["mcc"] == pytest.approx(100 * matthews_corrcoef(labels, preds), abs=1e-4)
    # class ids and torch tensors give the same numbers as logits
    assert classification_metrics(["acc", "f1", "mcc"], torch.tensor(preds), torch.tensor(labels)) == pytest.approx(got)


def test_f1_is_of_class_one_not_macro():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    preds = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    got = classification_metrics(["f1", "acc"], preds, labels)
    assert got["f1"] == pytest.approx(50.0)  # P=1, R=1/3
    assert got["f1"] != pytest.approx(100 * f1_score(labels, preds, average="macro"))
    assert got["acc"] == pytest.approx(75.0)


def test_multiclass_accuracy_is_micro_and_mcc_matches_sklearn():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(120, 3))
    labels = np.r_[np.zeros(80, int), rng.integers(1, 3, 40)]  # imbalanced: micro != macro
    preds = logits.argmax(1)
    got = classification_metrics(["acc", "mcc"], logits, labels)
    assert got["acc"] == pytest.approx(100 * accuracy_score(labels, preds), abs=1e-4)
    assert got["mcc"] == pytest.approx(100 * matthews_corrcoef(labels, preds), abs=1e-4)


@pytest.mark.parametrize(
    "preds, labels",
    [
        ([1, 1, 1, 1], [0, 1, 0, 1]),  # all one class predicted
        ([0, 0, 0, 0], [0, 1, 0, 1]),  # all the other class
        ([1, 1, 1, 1], [1, 1, 1, 1]),  # constant and right: torchmetrics alone says MCC 1
        ([1], [0]),  # a single example: torchmetrics alone says MCC -1
        ([0, 1, 0], [0, 0, 0]),  # constant labels
    ],
)
def test_degenerate_classification_gives_zero_like_sklearn(preds, labels):
    got = classification_metrics(["acc", "f1", "mcc"], np.array(preds), np.array(labels))
    assert all(math.isfinite(v) for v in got.values())
    assert got["mcc"] == 0.0 == matthews_corrcoef(labels, preds)
    assert got["f1"] == pytest.approx(100 * f1_score(labels, preds, zero_division=0))
    assert got["acc"] == pytest.approx(100 * accuracy_score(labels, preds))


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_equals_scipy_including_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, 80).astype(float)  # STS-B-like gold: many ties
    preds = np.round(labels + rng.normal(0, 1.5, 80))  # ties in the predictions too
    got = regression_metrics(["pearson", "spearman"], preds[:, None], labels)  # [N, 1] as a head gives it
    assert got["pearson"] == pytest.approx(100 * pearsonr(preds, labels)[0], abs=1e-9)
    assert got["spearman"] == pytest.approx(100 * spearmanr(preds, labels)[0], abs=1e-9)


@pytest.mark.parametrize(
    "preds, labels",
    [([2.5, 2.5, 2.5, 2.5], [0.0, 1.0, 4.0, 5.0]), ([1.0, 2.0, 3.0], [3.0, 3.0, 3.0]), ([0.7], [4.2])],
    ids=["constant-output", "constant-labels", "single-example"],
)
def test_degenerate_regression_gives_zero_not_nan(preds, labels):
    got = regression_metrics(["pearson", "spearman"], torch.tensor(preds), torch.tensor(labels))
    assert got == {"pearson": 0.0, "spearman": 0.0}
    if len(preds) > 1:  # where scipy defines nothing, it says NaN: the case the guard exists for
        with pytest.warns(Warning):
            assert math.isnan(pearsonr(preds, labels)[0])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="binary F1 of class 1"):
        classification_metrics(["f1"], np.array([0, 1, 2]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="unknown classification metric"):
        classification_metrics(["pearson"], np.array([0, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match="test split"):
        classification_metrics(["acc"], np.array([0, 1]), np.array([-1, -1]))
    with pytest.raises(ValueError, match="3 examples but labels has 2"):
        classification_metrics(["acc"], np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="empty"):
        regression_metrics(["pearson"], np.array([]), np.array([]))


def test_compute_task_metrics_dispatches_glue_types():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    labels = np.array([0, 1, 0, 0])
    got = compute_task_metrics("classification", ["f1", "acc"], preds=logits, labels=labels)
    assert list(got) == ["f1", "acc"]
    assert got == pytest.approx({"f1": 100 * 2 / 3, "acc": 75.0})
    reg = compute_task_metrics(
        "regression", ["spearman"], preds=np.array([[1.0], [2.0], [3.0]]), labels=np.array([1.0, 3.0, 2.0])
    )
    assert reg == pytest.approx({"spearman": 50.0})
    with pytest.raises(ValueError, match="no metric"):
        compute_task_metrics("classification", ["pearson"], preds=logits, labels=labels)
    with pytest.raises(ValueError, match="unknown task type"):
        compute_task_metrics("ranking", ["acc"], preds=logits, labels=labels)


def test_glue_score_by_hand():
    results = {
        "cola": {"mcc": 50.0, "acc": 80.0},  # acc is not CoLA's GLUE metric: ignored
        "mrpc": {"f1": 90.0, "acc": 80.0},  # 85
        "stsb": {"pearson": 88.0, "spearman": 86.0},  # 87
        "mnli": {"acc_m": 84.0, "acc_mm": 10.0},  # matched only
        "SST-2": {"acc": 92.0},
        "squad_v1": {"f1": 1.0},  # not a member: not scored
    }
    assert glue_score(results, CONVENTION) == pytest.approx((50 + 85 + 87 + 84 + 92) / 5)
    assert glue_score({"mnli": {"acc_m": 80.0}, "qqp": {"f1": 70.0, "acc": 90.0}}, CONVENTION) == pytest.approx(80.0)
    assert "MNLI matched" in GLUE_SCORE_CONVENTION and "Pearson and Spearman" in GLUE_SCORE_CONVENTION


def test_glue_score_errors():
    with pytest.raises(ValueError, match="lacks metric 'f1'"):
        glue_score({"mrpc": {"acc": 80.0}}, CONVENTION)
    with pytest.raises(ValueError, match="lacks metric 'acc_m'"):
        glue_score({"mnli": {"acc_mm": 80.0}}, CONVENTION)
    with pytest.raises(ValueError, match="no GLUE task"):
        glue_score({"mnli_mismatched": {"acc": 80.0}, "squad_v1": {"f1": 80.0}}, CONVENTION)
    with pytest.raises(ValueError, match="twice"):
        glue_score({"sst2": {"acc": 1.0}, "SST-2": {"acc": 2.0}}, CONVENTION)


def test_membership_read_from_conf_task_is_the_convention():
    assert glue_task_metrics() == CONVENTION  # every GLUE task spec has the key; SQuAD, RACE, XNLI have none
    glue_hub = {n for n in task_names() if yaml.safe_load((TASK_DIR / f"{n}.yaml").read_text())["hub"]["path"] == "nyu-mll/glue"}
    assert set(CONVENTION) == glue_hub
    for name in ("CoLA", "STS-B", "MRPC", "QQP", "MNLI", "SST-2", "QNLI", "RTE", "WNLI"):
        assert name in GLUE_SCORE_CONVENTION
    # a task spec without the key is not scored
    cola = yaml.safe_load((TASK_DIR / "cola.yaml").read_text())
    del cola["glue_score"]
    assert glue_task_metrics([cola, "sst2", "squad_v1"]) == {"sst2": ("acc",)}
    # MNLI logs acc_m and acc_mm, never a bare acc: a key naming a metric the task does not log is refused
    mnli = yaml.safe_load((TASK_DIR / "mnli.yaml").read_text()) | {"glue_score": ["acc"]}
    with pytest.raises(ValueError, match="glue_score"):
        glue_task_metrics([mnli])
