"""RACE accuracy, overall and per school level, as the RACE / ALBERT / RoBERTa papers report it.

RACE questions come from middle-school (RACE-M) and high-school (RACE-H) exams; papers print the
accuracy on all questions and on each level. In the hub set `ehovy/race` (config `all`) the level
is the prefix of `example_id` (the source file name, e.g. `high1234.txt`, `middle567.txt`).
Values are percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

RACE_METRICS = ("acc", "acc_middle", "acc_high")
LEVELS = ("middle", "high")
_ANSWER_LETTERS = "ABCDEFGH"


def _labels_tensor(labels) -> torch.Tensor:
    """Labels as option indices; the hub's answer letters "A".."D" are accepted too."""
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().long().reshape(-1)
    values = list(np.asarray(labels).reshape(-1))
    if values and isinstance(values[0], str):
        bad = [v for v in values if v not in _ANSWER_LETTERS]
        if bad:
            raise ValueError(f"labels must be option indices or letters A-D, got {bad[0]!r}")
        values = [_ANSWER_LETTERS.index(v) for v in values]
    return torch.as_tensor(np.asarray(values, dtype=np.int64))


def level_of(example_id: str) -> str:
    """'middle' or 'high' from a RACE example id; anything else is an error (wrong ids passed)."""
    for level in LEVELS:
        if str(example_id).startswith(level):
            return level
    raise ValueError(f"RACE example_id {example_id!r} starts with neither 'middle' nor 'high'")


def multiple_choice_accuracy(logits, labels, example_ids: Sequence[str] | None = None) -> dict[str, float]:
    """Accuracy (percent) of the argmax of the softmax over options, overall and per RACE level.

    Args:
        logits: [N, K] one score per option (K = 4 for RACE).
        labels: [N] the right option, as an index (or a letter A-D).
        example_ids: [N] RACE example ids; gives `acc_middle` / `acc_high`. A level with no question
            in the batch is left out (not 0, not NaN). Without ids only `acc` is returned.
    """
    scores = logits.detach().float().cpu() if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"logits must have shape [N, num_options] with N > 0, got {list(scores.shape)}")
    y = _labels_tensor(labels)
    if y.numel() != scores.shape[0]:
        raise ValueError(f"logits has {scores.shape[0]} questions but labels has {y.numel()}")
    if (y < 0).any() or (y >= scores.shape[1]).any():
        raise ValueError(f"labels must be option indices in [0, {scores.shape[1]})")
    correct = torch.softmax(scores.double(), dim=-1).argmax(dim=-1).eq(y)
    out = {"acc": 100.0 * correct.double().mean().item()}
    if example_ids is None:
        return out
    ids = list(example_ids)
    if len(ids) != scores.shape[0]:
        raise ValueError(f"example_ids has {len(ids)} entries but logits has {scores.shape[0]} questions")
    levels = np.array([level_of(i) for i in ids])
    for level in LEVELS:
        mask = torch.as_tensor(levels == level)
        if mask.any():
            out[f"acc_{level}"] = 100.0 * correct[mask].double().mean().item()
    return out
