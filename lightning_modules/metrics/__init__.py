"""Evaluation metrics exactly as each benchmark scores them: GLUE, SQuAD v1.1 / v2.0, RACE.

Pure functions (numpy / torch / torchmetrics), deterministic, no Lightning. Every score is a
percentage (0-100), as the papers print them; counts (`*_total`) and SQuAD v2 thresholds
(`best_*_thresh`, in null-odds units) are the exceptions.

`compute_task_metrics` dispatches on the task spec's `type`, so the fine-tuning code has no
per-task branches:

| type | inputs | metric names |
| --- | --- | --- |
| classification | preds (logits [N, C] or ids [N]), labels [N] | acc, f1, mcc |
| regression | preds [N] or [N, 1], labels [N] | pearson, spearman |
| span_qa | examples, features, start_logits, end_logits (+ post-processing options) | v1.1: exact_match, f1; v2.0: exact, f1, HasAns_*, NoAns_*, best_* |
| multiple_choice | logits [N, K], labels [N], example_ids [N] | acc, acc_middle, acc_high |
"""

from __future__ import annotations

from collections.abc import Sequence

from lightning_modules.metrics.glue import (
    CLASSIFICATION_METRICS,
    GLUE_SCORE_CONVENTION,
    REGRESSION_METRICS,
    classification_metrics,
    glue_score,
    regression_metrics,
)
from lightning_modules.metrics.race import RACE_METRICS, multiple_choice_accuracy
from lightning_modules.metrics.squad import (
    SQUAD_V1_METRICS,
    SQUAD_V2_METRICS,
    QAPredictions,
    postprocess_qa_predictions,
    squad_references,
    squad_v1_metrics,
    squad_v2_metrics,
)

__all__ = [
    "CLASSIFICATION_METRICS",
    "GLUE_SCORE_CONVENTION",
    "QAPredictions",
    "RACE_METRICS",
    "REGRESSION_METRICS",
    "SQUAD_V1_METRICS",
    "SQUAD_V2_METRICS",
    "TASK_METRICS",
    "classification_metrics",
    "compute_task_metrics",
    "glue_score",
    "multiple_choice_accuracy",
    "postprocess_qa_predictions",
    "regression_metrics",
    "squad_references",
    "squad_v1_metrics",
    "squad_v2_metrics",
]

# The metric names each task type can give (span_qa: v1.1 and v2.0 names together).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
    "span_qa": tuple(dict.fromkeys(SQUAD_V1_METRICS + SQUAD_V2_METRICS)),
    "multiple_choice": RACE_METRICS,
}


def _squad_version_2(metric_names: Sequence[str], explicit: bool | None) -> bool:
    """Whether span_qa data is v2.0: said explicitly, or read from the spec's metric names."""
    if explicit is not None:
        return bool(explicit)
    v2_only = set(SQUAD_V2_METRICS) - set(SQUAD_V1_METRICS)
    if any(n in v2_only for n in metric_names):
        return True
    if "exact_match" in metric_names:
        return False
    raise ValueError(
        f"span_qa metrics {list(metric_names)} do not say SQuAD v1.1 (exact_match) or v2.0 (exact, HasAns_*, ...): "
        "pass version_2_with_negative"
    )


def _span_qa(
    metric_names: Sequence[str],
    examples,
    features,
    start_logits,
    end_logits,
    *,
    version_2_with_negative: bool | None = None,
    **postprocess_options,
) -> dict[str, float]:
    v2 = _squad_version_2(metric_names, version_2_with_negative)
    out = postprocess_qa_predictions(
        examples, features, start_logits, end_logits, version_2_with_negative=v2, **postprocess_options
    )
    references = squad_references(examples)
    if v2:
        threshold = postprocess_options.get("null_score_diff_threshold", 0.0)
        return squad_v2_metrics(out.predictions, references, out.null_odds, threshold)
    return squad_v1_metrics(out.predictions, references)


def compute_task_metrics(task_type: str, metric_names: Sequence[str], **inputs) -> dict[str, float]:
    """The metrics named by a task spec, from the model's raw outputs on a dev split (see the table above).

    Returns {name: value} for the names asked, in their order. A name the task type cannot give is
    an error; a name for a group with no example (RACE `acc_high` on middle-only data, SQuAD v2
    `NoAns_f1` with no unanswerable question) is left out.
    """
    if task_type not in TASK_METRICS:
        raise ValueError(f"unknown task type {task_type!r}; known: {', '.join(TASK_METRICS)}")
    names = list(metric_names)
    if not names:
        raise ValueError(f"no metric named for a {task_type} task")
    unknown = [n for n in names if n not in TASK_METRICS[task_type]]
    if unknown:
        raise ValueError(f"{task_type} tasks have no metric {unknown}; known: {', '.join(TASK_METRICS[task_type])}")
    if task_type == "classification":
        result = classification_metrics(names, **inputs)
    elif task_type == "regression":
        result = regression_metrics(names, **inputs)
    elif task_type == "span_qa":
        result = _span_qa(names, **inputs)
        version_names = SQUAD_V2_METRICS if "exact" in result else SQUAD_V1_METRICS
        wrong = [n for n in names if n not in version_names]
        if wrong:
            raise ValueError(f"metric(s) {wrong} do not exist for this SQuAD version (it gives {list(version_names)})")
    else:
        result = multiple_choice_accuracy(**inputs)
    return {n: float(result[n]) for n in names if n in result}
