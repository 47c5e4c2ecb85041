"""GLUE metrics as the benchmark scores them, and the one GLUE-score convention the reports use.

Every value is a percentage (0-100), as the papers print them: accuracy 92.7, F1 88.6, and the
correlations times 100 too (a CoLA Matthews correlation of 0.563 is reported as 56.3).

Metric names (what a task spec's `metrics:` lists):
- `acc`: accuracy, micro-averaged (fraction of examples right; torchmetrics' multiclass default is
  macro, hence the explicit `average="micro"`);
- `f1`: binary F1 of the positive class 1 (MRPC "paraphrase", QQP "duplicate");
- `mcc`: Matthews correlation (CoLA), multiclass form, equal to scikit-learn's;
- `pearson`, `spearman`: correlations of a regression output with the gold score (STS-B).

A degenerate input (all predictions one class, a constant regression output, constant labels, a
single example) makes a correlation undefined (0/0). GLUE's reference implementation
(scikit-learn's `matthews_corrcoef`) scores it 0, and so do we for every correlation: a report
shows 0, never NaN, and a run never crashes in its last step. torchmetrics alone would give MCC 1
or -1 and Pearson NaN there, which is why the guard comes first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torchmetrics.functional import pearson_corrcoef
from torchmetrics.functional.classification import binary_f1_score, multiclass_accuracy, multiclass_matthews_corrcoef

CLASSIFICATION_METRICS = ("acc", "f1", "mcc")
REGRESSION_METRICS = ("pearson", "spearman")

# The convention as reports print it; which tasks and metrics count is data (conf/task `glue_score`).
GLUE_SCORE_CONVENTION = (
    "GLUE score = unweighted mean, over the GLUE tasks present, of each task's score; a task's score is "
    "the mean of its GLUE metrics: CoLA Matthews corr.; STS-B mean of Pearson and Spearman; MRPC and QQP "
    "mean of F1 and accuracy; MNLI matched accuracy only (mismatched ignored); SST-2, QNLI, RTE, WNLI "
    "accuracy. All values in percent."
)


def _to_numpy(x, what: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.size == 0:
        raise ValueError(f"{what} is empty: there is nothing to score")
    return arr


def _class_ids(preds, labels) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Class ids from logits [N, C] or ids [N]; labels as ids [N]; and the number of classes."""
    p = _to_numpy(preds, "preds")
    y = _to_numpy(labels, "labels").reshape(-1)
    if p.ndim == 2:
        num_classes = p.shape[1]
        p = p.argmax(axis=1)
    elif p.ndim == 1:
        if not np.all(np.equal(np.mod(p, 1), 0)):
            raise ValueError("preds must be class ids [N] or logits [N, C]; got non-integer values of shape [N]")
        num_classes = 0
    else:
        raise ValueError(f"preds must be class ids [N] or logits [N, C], got shape {list(p.shape)}")
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise ValueError("labels must be integer class ids for a classification task")
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"preds has {p.shape[0]} examples but labels has {y.shape[0]}")
    if (y < 0).any():
        raise ValueError("labels contain negative ids (-1 marks GLUE's unlabelled test split): score a dev split")
    p_t = torch.as_tensor(p.astype(np.int64))
    y_t = torch.as_tensor(y.astype(np.int64))
    num_classes = max(num_classes, int(p_t.max()) + 1, int(y_t.max()) + 1, 2)
    return p_t, y_t, num_classes


def _finite_or_zero(value: torch.Tensor | float) -> float:
    v = float(value)
    return v if math.isfinite(v) else 0.0


def classification_metrics(names: Sequence[str], preds, labels) -> dict[str, float]:
    """`names` (from acc, f1, mcc) for predictions `preds` (logits [N, C] or ids [N]) against `labels` [N].

    Returns {name: percent}. `f1` is the binary F1 of class 1, so it needs labels and predictions in
    {0, 1}; on a multi-class task it is an error rather than a silently different average.
    """
    unknown = [n for n in names if n not in CLASSIFICATION_METRICS]
    if unknown:
        raise ValueError(f"unknown classification metric(s) {unknown}; known: {', '.join(CLASSIFICATION_METRICS)}")
    p, y, num_classes = _class_ids(preds, labels)
    out: dict[str, float] = {}
    for name in names:
        if name == "acc":
            value = multiclass_accuracy(p, y, num_classes=num_classes, average="micro")
        elif name == "f1":
            if num_classes > 2:
                raise ValueError(f"f1 is the binary F1 of class 1 (MRPC, QQP) but the task has {num_classes} classes")
            value = binary_f1_score(p, y)  # no positive predicted or gold: 0, as scikit-learn's zero_division=0
        else:  # mcc: 0 when either side is constant (scikit-learn's 0/0 convention)
            degenerate = p.unique().numel() < 2 or y.unique().numel() < 2
            value = 0.0 if degenerate else multiclass_matthews_corrcoef(p, y, num_classes=num_classes)
        out[name] = 100.0 * _finite_or_zero(value)
    return out


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N, tied values sharing the mean of their ranks (scipy's `rankdata(method="average")`)."""
    _, inverse, counts = torch.unique(x, return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0).double()  # rank of the last copy of each distinct value
    return (last - (counts.double() - 1) / 2)[inverse]


def regression_metrics(names: Sequence[str], preds, labels) -> dict[str, float]:
    """`names` (from pearson, spearman) for a regression output `preds` ([N] or [N, 1]) against `labels` [N].

    Computed in float64 so that the values equal scipy's `pearsonr` / `spearmanr` to ~1e-12; Spearman
    gives ties their average rank, as scipy does (STS-B gold scores have many ties).
    A constant output, constant labels, a single example or a non-finite output score 0.
    """
    unknown = [n for n in names if n not in REGRESSION_METRICS]
    if unknown:
        raise ValueError(f"unknown regression metric(s) {unknown}; known: {', '.join(REGRESSION_METRICS)}")
    p = _to_numpy(preds, "preds").astype(np.float64)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.ndim != 1:
        raise ValueError(f"regression preds must have shape [N] or [N, 1], got {list(p.shape)}")
    y = _to_numpy(labels, "labels").astype(np.float64).reshape(-1)
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"preds has {p.shape[0]} examples but labels has {y.shape[0]}")
    p_t, y_t = torch.from_numpy(p), torch.from_numpy(y)
    degenerate = len(p) < 2 or not (np.isfinite(p).all() and np.isfinite(y).all()) or np.ptp(p) == 0 or np.ptp(y) == 0
    out: dict[str, float] = {}
    for name in names:
        if degenerate:
            out[name] = 0.0
            continue
        if name == "pearson":
            value = pearson_corrcoef(p_t, y_t)
        else:  # Spearman = Pearson of the average ranks (torchmetrics' own adds 1e-6 to the denominator)
            value = pearson_corrcoef(_average_ranks(p_t), _average_ranks(y_t))
        out[name] = 100.0 * _finite_or_zero(value)
    return out


def _task_key(name: str) -> str:
    """A task name whatever its spelling: SST-2, sst_2 and sst2 are one task."""
    return name.lower().replace("-", "").replace("_", "")


def glue_score(results: Mapping[str, Mapping[str, float]], task_metrics: Mapping[str, Sequence[str]]) -> float:
    """The GLUE average of per-task results {task: {metric: percent}} (see GLUE_SCORE_CONVENTION).

    `task_metrics` is the membership, {task: the metrics whose mean is its score} (the suite reads
    it from the `glue_score` key of conf/task/*.yaml): a task not in it is not scored, and extra
    metrics (CoLA accuracy, MNLI `acc_mm`) are ignored.
    """
    members = {_task_key(t): (t, tuple(ms)) for t, ms in task_metrics.items()}
    per_task: dict[str, float] = {}
    for task, metrics in results.items():
        key = _task_key(task)
        if key not in members:
            continue
        if key in per_task:
            raise ValueError(f"glue_score: task {task!r} appears twice in the results (as {members[key][0]!r})")
        needed = members[key][1]
        if lacking := [m for m in needed if m not in metrics]:
            raise ValueError(f"glue_score: task {task!r} lacks metric {lacking[0]!r} (needs {list(needed)}, "
                             f"has {sorted(metrics)})")
        per_task[key] = sum(float(metrics[m]) for m in needed) / len(needed)
    if not per_task:
        raise ValueError("glue_score: no GLUE task in the results")
    return sum(per_task.values()) / len(per_task)
