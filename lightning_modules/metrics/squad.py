"""SQuAD v1.1 / v2.0: from per-token logits to answer texts, and the official scores of those texts.

Post-processing follows Hugging Face's `utils_qa.py:postprocess_qa_predictions` (the reference
that `run_qa.py` uses), so that our numbers compare with every BERT-family paper and repo:
- an example's context is split into overlapping windows (features); each feature carries
  `offset_mapping` with the (start, end) character span of each token and None for tokens outside
  the context (question, special tokens, padding), as `prepare_validation_features` sets them;
- in every window the `n_best_size` best start and end logits are paired; a pair is kept when both
  tokens are context tokens, end >= start and the answer has at most `max_answer_length` tokens;
  its score is start_logit + end_logit and its text is cut from the context by the offsets;
- v2.0 only: the null ("no answer") score is start[0] + end[0] at the [CLS] position, minimised
  over the windows (every window must agree there is no answer); the answer is "" when
  null_score - best_non_null_score > `null_score_diff_threshold`, and that difference is the
  example's null odds (the official script's `na_prob`).

Scores follow the official evaluation scripts: v1.1 through torchmetrics' SQuAD (the official
normalisation, max over gold answers); v2.0 re-written from `evaluate-v2.0.py`, which no library
ships: an unanswerable question's only gold is "", HasAns / NoAns split the questions, and
best_exact / best_f1 are the scores at the best null-odds threshold. Values are percentages.
"""

from __future__ import annotations

import collections
import json
import re
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torchmetrics.functional.text import squad as _torchmetrics_squad

SQUAD_V1_METRICS = ("exact_match", "f1")
SQUAD_V2_METRICS = (
    "exact",
    "f1",
    "total",
    "HasAns_exact",
    "HasAns_f1",
    "HasAns_total",
    "NoAns_exact",
    "NoAns_f1",
    "NoAns_total",
    "best_exact",
    "best_exact_thresh",
    "best_f1",
    "best_f1_thresh",
)


class QAPredictions(NamedTuple):
    """What post-processing gives: the answer per example id, its null odds (v2 only) and its n-best list."""

    predictions: dict[str, str]
    null_odds: dict[str, float] | None
    nbest: dict[str, list[dict[str, Any]]]


# ---------------------------------------------------------------------------------------------
# Post-processing: logits -> answer texts
# ---------------------------------------------------------------------------------------------


def _column(rows, key: str, what: str, required: bool = True) -> list | None:
    """One column of a Hugging Face Dataset (read at once, fast) or of a sequence of dicts."""
    names = getattr(rows, "column_names", None)
    if names is not None:
        if key not in names:
            if required:
                raise KeyError(f"{what} has no column {key!r} (columns: {names})")
            return None
        return list(rows[key])
    values = []
    for i, row in enumerate(rows):
        if key not in row:
            if required:
                raise KeyError(f"{what}[{i}] has no key {key!r}")
            return None
        values.append(row[key])
    return values


def _logit_rows(logits, n_features: int, what: str) -> list[np.ndarray]:
    """Per-feature 1-D float arrays from an array [F, T], a tensor, or a list of variable-length rows."""
    if isinstance(logits, torch.Tensor):
        logits = logits.detach().float().cpu().numpy()
    rows = [
        np.asarray(r.detach().float().cpu().numpy() if isinstance(r, torch.Tensor) else r, dtype=np.float64)
        for r in logits
    ]
    if len(rows) != n_features:
        raise ValueError(f"{what} has {len(rows)} rows but there are {n_features} features")
    for i, r in enumerate(rows):
        if r.ndim != 1:
            raise ValueError(f"{what}[{i}] must be 1-D (one logit per token), got shape {list(r.shape)}")
    return rows


def _top_indices(logits: np.ndarray, k: int) -> list[int]:
    """Indices of the k largest logits, best first; ties go to the earlier token (deterministic)."""
    return np.argsort(-logits, kind="stable")[:k].tolist()


def _is_context_token(offsets: Sequence[Sequence[int] | None], index: int) -> bool:
    return index < len(offsets) and offsets[index] is not None and len(offsets[index]) >= 2


def postprocess_qa_predictions(
    examples,
    features,
    start_logits,
    end_logits,
    *,
    version_2_with_negative: bool,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
    output_dir: str | Path | None = None,
    prefix: str | None = None,
) -> QAPredictions:
    """Answer texts from start / end logits, window by window, as Hugging Face's utils_qa.py.

    Args:
        examples: rows with `id` and `context` (a Dataset or a list of dicts).
        features: one row per window with `example_id` and `offset_mapping` (None for non-context
            tokens); an optional `token_is_max_context` ({str(token): bool}) drops spans whose start
            token has more context in another window.
        start_logits, end_logits: one row per feature ([F, T] or a list of 1-D rows; padding may be
            trimmed), in the order of `features`.
        version_2_with_negative: True for SQuAD v2.0 (null answer possible). Scoring v2.0 data
            with False never predicts "" and silently zeroes NoAns_f1.
        n_best_size: start and end candidates per window, and the length of the n-best list.
        max_answer_length: longest answer, in tokens.
        null_score_diff_threshold: predict "" when null_score - best_non_null_score exceeds it.
        output_dir, prefix: if given, write `[prefix_]predictions.json`, `[prefix_]nbest_predictions.json`
            and (v2) `[prefix_]null_odds.json` there, the files the official scripts read
            (`evaluate-v2.0.py data.json predictions.json --na-prob-file null_odds.json`).

    Returns:
        QAPredictions(predictions {id: text}, null_odds {id: score diff} or None for v1, nbest {id: [...]}).
    """
    example_ids = [str(i) for i in _column(examples, "id", "examples")]
    contexts = _column(examples, "context", "examples")
    feature_example_ids = [str(i) for i in _column(features, "example_id", "features")]
    offsets = _column(features, "offset_mapping", "features")
    max_context = _column(features, "token_is_max_context", "features", required=False)
    starts = _logit_rows(start_logits, len(feature_example_ids), "start_logits")
    ends = _logit_rows(end_logits, len(feature_example_ids), "end_logits")

    index_of = {eid: i for i, eid in enumerate(example_ids)}
    features_per_example: dict[int, list[int]] = collections.defaultdict(list)
    for f, eid in enumerate(feature_example_ids):
        if eid not in index_of:
            raise ValueError(f"features[{f}] has example_id {eid!r}, which is not an id of examples")
        features_per_example[index_of[eid]].append(f)

    predictions: dict[str, str] = {}
    null_odds: dict[str, float] | None = {} if version_2_with_negative else None
    nbest_json: dict[str, list[dict[str, Any]]] = {}
    for e, eid in enumerate(example_ids):
        if not features_per_example[e]:
            raise ValueError(f"example {eid!r} has no feature: every example needs at least one window")
        null = None
        candidates = []
        for f in features_per_example[e]:
            s_logits, e_logits, offs = starts[f], ends[f], offsets[f]
            feature_null = float(s_logits[0] + e_logits[0])
            if null is None or null["score"] > feature_null:
                null = {
                    "span": None,
                    "score": feature_null,
                    "start_logit": float(s_logits[0]),
                    "end_logit": float(e_logits[0]),
                }
            keep = max_context[f] if max_context is not None else None
            for s in _top_indices(s_logits, n_best_size):
                for t in _top_indices(e_logits, n_best_size):
                    if not (_is_context_token(offs, s) and _is_context_token(offs, t)):
                        continue
                    if t < s or t - s + 1 > max_answer_length:
                        continue
                    if keep is not None and not keep.get(str(s), False):
                        continue
                    candidates.append(
                        {
                            "span": (int(offs[s][0]), int(offs[t][1])),
                            "score": float(s_logits[s] + e_logits[t]),
                            "start_logit": float(s_logits[s]),
                            "end_logit": float(e_logits[t]),
                        }
                    )
        if version_2_with_negative:
            candidates.append(null)
        best = sorted(candidates, key=lambda c: c["score"], reverse=True)[:n_best_size]
        if version_2_with_negative and not any(c["span"] is None for c in best):
            best.append(null)  # the null answer stays in the list even when it scored low

        context = contexts[e]
        nbest = []
        for c in best:
            text = "" if c["span"] is None else context[c["span"][0] : c["span"][1]]
            nbest.append(
                {"start_logit": c["start_logit"], "end_logit": c["end_logit"], "text": text, "score": c["score"]}
            )
        if not nbest or (len(nbest) == 1 and nbest[0]["text"] == ""):
            # Not a single span in any window (utils_qa.py's fallback, kept for the same numbers).
            nbest.insert(0, {"start_logit": 0.0, "end_logit": 0.0, "text": "empty", "score": 0.0})
        scores = np.array([p.pop("score") for p in nbest])
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        for p, prob in zip(nbest, probs):
            p["probability"] = float(prob)

        if not version_2_with_negative:
            predictions[eid] = nbest[0]["text"]
        else:
            non_null = next((p for p in nbest if p["text"] != ""), None)
            if non_null is None:  # only empty texts: compare against the fallback, as utils_qa.py would
                non_null = {"start_logit": 0.0, "end_logit": 0.0, "text": "empty"}
            score_diff = null["score"] - non_null["start_logit"] - non_null["end_logit"]
            null_odds[eid] = float(score_diff)
            predictions[eid] = "" if score_diff > null_score_diff_threshold else non_null["text"]
        nbest_json[eid] = nbest

    if output_dir is not None:
        _write_outputs(Path(output_dir), prefix, predictions, nbest_json, null_odds)
    return QAPredictions(predictions, null_odds, nbest_json)


def _write_outputs(output_dir: Path, prefix: str | None, predictions, nbest, null_odds) -> None:
    """The three JSON files of utils_qa.py, same names and layout."""
    output_dir.mkdir(parents=True, exist_ok=True)
    files = {"predictions.json": predictions, "nbest_predictions.json": nbest}
    if null_odds is not None:
        files["null_odds.json"] = null_odds
    for base, payload in files.items():
        name = base if prefix is None else f"{prefix}_{base}"
        (output_dir / name).write_text(json.dumps(payload, indent=4) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# SQuAD v1.1
# ---------------------------------------------------------------------------------------------


def _check_predictions(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> None:
    if not references:
        raise ValueError("references is empty: there is nothing to score")
    bad = [k for k, v in predictions.items() if not isinstance(v, str)]
    if bad:
        raise TypeError(f"predictions must map id -> answer text; id {bad[0]!r} maps to {type(predictions[bad[0]])}")


def squad_v1_metrics(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Official SQuAD v1.1 exact match and F1 (percent) of {id: text} against {id: [gold texts]}.

    As the official script: the max over a question's gold answers, a question without a
    prediction scores 0 (and counts), predictions for unknown ids are ignored.
    """
    _check_predictions(predictions, references)
    empty = [qid for qid, golds in references.items() if len(golds) == 0]
    if empty:
        raise ValueError(
            f"SQuAD v1.1 has no unanswerable questions but reference {empty[0]!r} has no gold answer "
            "(use squad_v2_metrics for v2.0 data)"
        )
    preds = [{"prediction_text": text, "id": qid} for qid, text in predictions.items()]
    target = [{"answers": {"text": list(golds)}, "id": qid} for qid, golds in references.items()]
    scores = _torchmetrics_squad(preds, target)
    return {"exact_match": float(scores["exact_match"]), "f1": float(scores["f1"])}


# ---------------------------------------------------------------------------------------------
# SQuAD v2.0 (the official evaluate-v2.0.py, function by function)
# ---------------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower case, drop punctuation, articles (a, an, the) and extra whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", s).split())


def get_tokens(s: str) -> list[str]:
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold: str, a_pred: str) -> int:
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """Token-overlap F1; when either side is empty (no answer), 1 if both are, else 0."""
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return float(gold_toks == pred_toks)
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_toks)
    recall = num_same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def get_raw_scores(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> tuple[dict[str, int], dict[str, float]]:
    """Per-question exact and F1, max over the gold answers; [""] is the gold of an unanswerable one."""
    exact, f1 = {}, {}
    for qid, golds in references.items():
        gold_answers = [a for a in golds if normalize_answer(a)] or [""]
        pred = predictions[qid]
        exact[qid] = max(compute_exact(a, pred) for a in gold_answers)
        f1[qid] = max(compute_f1(a, pred) for a in gold_answers)
    return exact, f1


def apply_no_ans_threshold(scores, na_probs, qid_to_has_ans, na_prob_thresh: float) -> dict[str, float]:
    """A question whose null odds exceed the threshold is answered "": right iff it is unanswerable."""
    return {qid: float(not qid_to_has_ans[qid]) if na_probs[qid] > na_prob_thresh else s for qid, s in scores.items()}


def make_eval_dict(exact_scores, f1_scores, qid_list: Sequence[str] | None = None) -> dict[str, float]:
    qids = list(qid_list) if qid_list else list(exact_scores)
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact_scores[k] for k in qids) / total,
        "f1": 100.0 * sum(f1_scores[k] for k in qids) / total,
        "total": total,
    }


def find_best_thresh(predictions, scores, na_probs, qid_to_has_ans) -> tuple[float, float]:
    """The score (percent) at the best null-odds threshold, and that threshold.

    Start with every question answered "" (all unanswerable ones right), then walk the questions
    by increasing null odds, answering each with its prediction: +score for an answerable one,
    -1 for an unanswerable one given a non-empty answer. The best running total wins; ties keep
    the lower threshold. The threshold is the null odds of the last question answered.
    """
    num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
    cur_score = best_score = num_no_ans
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if predictions[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), float(best_thresh)


def squad_v2_metrics(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    null_odds: Mapping[str, float] | None = None,
    null_score_diff_threshold: float = 0.0,
) -> dict[str, float]:
    """The outputs of the official SQuAD v2.0 script for {id: text} against {id: [gold texts]}.

    An empty gold list marks an unanswerable question. `null_odds` ({id: null_score - best_non_null},
    from post-processing) plays the official `--na-prob-file`: a question whose odds exceed
    `null_score_diff_threshold` counts as answered "", and best_exact / best_f1 (with their
    thresholds) are searched over it; without null_odds these four keys are absent, as in the
    official script. HasAns_* / NoAns_* are absent when that group has no question. Exact and F1
    in percent; *_total are counts; *_thresh are in null-odds units.
    """
    _check_predictions(predictions, references)
    missing = [qid for qid in references if qid not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} question(s) have no prediction, e.g. {missing[:3]}")
    if null_odds is not None:
        missing = [qid for qid in references if qid not in null_odds]
        if missing:
            raise ValueError(f"null_odds lacks {len(missing)} question id(s), e.g. {missing[:3]}")
    na_probs = dict(null_odds) if null_odds is not None else {qid: 0.0 for qid in predictions}
    qid_to_has_ans = {qid: bool(golds) for qid, golds in references.items()}
    has_ans = [qid for qid, v in qid_to_has_ans.items() if v]
    no_ans = [qid for qid, v in qid_to_has_ans.items() if not v]

    exact_raw, f1_raw = get_raw_scores(predictions, references)
    exact_thr = apply_no_ans_threshold(exact_raw, na_probs, qid_to_has_ans, null_score_diff_threshold)
    f1_thr = apply_no_ans_threshold(f1_raw, na_probs, qid_to_has_ans, null_score_diff_threshold)
    out = make_eval_dict(exact_thr, f1_thr)
    for group, qids in (("HasAns", has_ans), ("NoAns", no_ans)):
        if qids:
            out.update({f"{group}_{k}": v for k, v in make_eval_dict(exact_thr, f1_thr, qids).items()})
    if null_odds is not None:
        out["best_exact"], out["best_exact_thresh"] = find_best_thresh(predictions, exact_raw, na_probs, qid_to_has_ans)
        out["best_f1"], out["best_f1_thresh"] = find_best_thresh(predictions, f1_raw, na_probs, qid_to_has_ans)
    return out


def squad_references(examples) -> dict[str, list[str]]:
    """{id: [gold texts]} from hub-schema examples (`answers: {"text": [...], "answer_start": [...]}`)."""
    ids = _column(examples, "id", "examples")
    answers = _column(examples, "answers", "examples")
    refs = {}
    for qid, ans in zip(ids, answers):
        if not isinstance(ans, Mapping) or "text" not in ans:
            raise ValueError(f"examples: answers of {qid!r} must be a dict with a 'text' list, got {ans!r}")
        refs[str(qid)] = list(ans["text"])
    return refs
