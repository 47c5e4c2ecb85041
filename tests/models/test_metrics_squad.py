"""SQuAD post-processing and the official v1.1 / v2.0 scores, on hand-made inputs computed by hand."""

import json
import re

import numpy as np
import pytest
import torch

from lightning_modules.metrics import compute_task_metrics, postprocess_qa_predictions
from lightning_modules.metrics.squad import compute_f1, normalize_answer, squad_v1_metrics, squad_v2_metrics

CONTEXT = "alpha beta gamma delta epsilon zeta eta theta iota kappa"  # one word = one token
PREFIX = 4  # [CLS] q1 q2 [SEP]: positions outside the context, offsets None
LOW = -10.0


def windows(example_id: str, context: str, window: int, stride: int) -> list[dict]:
    """Features as run_qa.py's prepare_validation_features lays them out, with a whitespace tokenizer."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", context)]
    starts = list(range(0, max(len(words) - window, 0) + 1, stride))
    if starts[-1] + window < len(words):
        starts.append(len(words) - window)
    return [
        {
            "example_id": example_id,
            "offset_mapping": [None] * PREFIX + [list(o) for o in words[s : s + window]] + [None],
            "first_word": s,
        }
        for s in starts
    ]


def logits(feature: dict, cls: float = 0.0, **at_word: float) -> np.ndarray:
    """LOW everywhere, `cls` at position 0, and the given logit at context words named `w<index>`."""
    row = np.full(len(feature["offset_mapping"]), LOW)
    row[0] = cls
    for key, value in at_word.items():
        row[PREFIX + int(key[1:]) - feature["first_word"]] = value
    return row


def test_official_normalization_and_f1_by_hand():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert compute_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)  # P 2/3, R 1
    assert compute_f1("", "") == 1.0 and compute_f1("", "cat") == 0.0  # no-answer agrees or not


def test_multi_window_answer_in_second_window_maps_back_through_offsets():
    feats = windows("q", CONTEXT, window=6, stride=4)
    assert [f["first_word"] for f in feats] == [0, 4]
    # window 1: the answer "theta iota" (words 7-8); window 0: a weaker span; question tokens: huge but not context
    start = [logits(feats[0], w2=3.0), logits(feats[1], w7=5.0)]
    end = [logits(feats[0], w3=3.0), logits(feats[1], w8=5.0)]
    for row in start + end:
        row[1] = row[2] = 100.0
    out = postprocess_qa_predictions(
        [{"id": "q", "context": CONTEXT}], feats, start, end, version_2_with_negative=False
    )
    assert out.predictions == {"q": "theta iota"}  # window-relative positions 7, 8 would read "delta epsilon"
    assert out.null_odds is None
    assert out.nbest["q"][1]["text"] == "gamma delta"  # the first window's span comes second
    v2 = postprocess_qa_predictions([{"id": "q", "context": CONTEXT}], feats, start, end, version_2_with_negative=True)
    assert v2.predictions == {"q": "theta iota"} and v2.null_odds == {"q": pytest.approx(0.0 - 10.0)}


def test_max_answer_length_limits_the_span():
    (feat,) = windows("q", CONTEXT, window=10, stride=10)
    start = [logits(feat, w1=10.0, w6=7.0)]
    end = [logits(feat, w8=10.0, w2=8.0)]
    ex = [{"id": "q", "context": CONTEXT}]
    long = postprocess_qa_predictions(ex, [feat], start, end, version_2_with_negative=False)
    assert long.predictions["q"] == "beta gamma delta epsilon zeta eta theta iota"  # words 1-8, score 20
    short = postprocess_qa_predictions(ex, [feat], start, end, version_2_with_negative=False, max_answer_length=3)
    assert short.predictions["q"] == "beta gamma"  # (1, 2): 18 beats (6, 8): 17; (1, 8) has 8 tokens
    assert [p["text"] for p in short.nbest["q"][:2]] == ["beta gamma", "eta theta iota"]


def test_n_best_size_limits_candidates_and_list():
    (feat,) = windows("q", CONTEXT, window=10, stride=10)
    start = [logits(feat, w5=10.0, w2=9.0)]
    end = [logits(feat, w3=10.0, w6=8.0)]
    ex = [{"id": "q", "context": CONTEXT}]
    one = postprocess_qa_predictions(ex, [feat], start, end, version_2_with_negative=False, n_best_size=1)
    assert one.predictions["q"] == "empty"  # the only pair (5, 3) ends before it starts: utils_qa.py's fallback
    two = postprocess_qa_predictions(ex, [feat], start, end, version_2_with_negative=False, n_best_size=2)
    assert two.predictions["q"] == "gamma delta"  # (2, 3): 19 > (5, 6): 18 > (2, 6): 17
    assert [p["text"] for p in two.nbest["q"]] == ["gamma delta", "zeta eta"]
    assert sum(p["probability"] for p in two.nbest["q"]) == pytest.approx(1.0)


def test_null_score_is_the_minimum_over_windows_and_threshold_applies():
    feats = windows("q", CONTEXT, window=6, stride=4)
    start = [logits(feats[0], cls=3.0, w1=2.0), logits(feats[1], cls=0.5)]
    end = [logits(feats[0], cls=2.0, w1=1.0), logits(feats[1], cls=0.5)]
    ex = [{"id": "q", "context": CONTEXT}]
    out = postprocess_qa_predictions(ex, feats, start, end, version_2_with_negative=True)
    # null = min(3 + 2, 0.5 + 0.5) = 1; best span "beta" = 2 + 1; diff = -2 (max or first window: +2, "")
    assert out.null_odds == {"q": pytest.approx(-2.0)} and out.predictions == {"q": "beta"}
    assert any(p["text"] == "" for p in out.nbest["q"])  # the null answer is kept in the n-best list
    strict = postprocess_qa_predictions(
        ex, feats, start, end, version_2_with_negative=True, null_score_diff_threshold=-2.5
    )
    assert strict.predictions == {"q": ""}


def test_output_files_are_what_the_official_scripts_read(tmp_path):
    (feat,) = windows("q", CONTEXT, window=10, stride=10)
    out = postprocess_qa_predictions(
        [{"id": "q", "context": CONTEXT}],
        [feat],
        [logits(feat, cls=9.0, w0=1.0)],
        [logits(feat, cls=9.0, w0=1.0)],
        version_2_with_negative=True,
        output_dir=tmp_path / "dev",
        prefix="eval",
    )
    assert json.loads((tmp_path / "dev" / "eval_predictions.json").read_text()) == {"q": ""}
    assert json.loads((tmp_path / "dev" / "eval_null_odds.json").read_text()) == {"q": 16.0}
    nbest = json.loads((tmp_path / "dev" / "eval_nbest_predictions.json").read_text())
    assert nbest["q"][0] == {"start_logit": 9.0, "end_logit": 9.0, "text": "", "probability": pytest.approx(1.0)}
    assert out.nbest == nbest


def test_squad_v1_metrics_by_hand():
    refs = {"q1": ["Denver Broncos", "The Denver Broncos"], "q2": ["Santa Clara, California"], "q3": ["1990"]}
    preds = {"q1": "the Denver Broncos!", "q2": "Santa Clara", "q3": "in 1991"}
    # q1: EM 1, F1 1; q2: EM 0, F1 0.8 (P 1, R 2/3); q3: 0, 0
    assert squad_v1_metrics(preds, refs) == pytest.approx({"exact_match": 100 / 3, "f1": 60.0}, abs=1e-4)
    del preds["q3"]  # as the official script: an unanswered question scores 0 and still counts
    assert squad_v1_metrics(preds, refs) == pytest.approx({"exact_match": 100 / 3, "f1": 60.0}, abs=1e-4)
    with pytest.raises(ValueError, match="no unanswerable questions"):
        squad_v1_metrics({"q": ""}, {"q": []})


REFS_V2 = {"a": ["Paris"], "b": ["blue whale", "the blue whale"], "c": [], "d": []}
PREDS_V2 = {"a": "Paris", "b": "whale", "c": "", "d": "London"}
ODDS_V2 = {"a": -3.0, "b": -1.0, "c": 2.0, "d": -0.5}  # consistent with the predictions at threshold 0


def test_squad_v2_metrics_by_hand():
    got = squad_v2_metrics(PREDS_V2, REFS_V2, ODDS_V2)
    # raw: a 1/1, b 0/(2/3) (P 1, R 1/2), c 1/1 ("" vs gold ""), d 0/0
    assert got == pytest.approx(
        {
            "exact": 50.0,
            "f1": 100 * (1 + 2 / 3 + 1) / 4,
            "total": 4,
            "HasAns_exact": 50.0,
            "HasAns_f1": 100 * (1 + 2 / 3) / 2,
            "HasAns_total": 2,
            "NoAns_exact": 50.0,
            "NoAns_f1": 50.0,
            "NoAns_total": 2,
            # find_best_thresh: start at 2 (both no-answer right), add by rising odds a +1 (3), b +2/3 (3.67,
            # best, thresh -1), d -1, c 0 -> best_f1 = 3.67/4; exact: a +1 (3, thresh -3), b +0, d -1, c 0
            "best_exact": 75.0,
            "best_exact_thresh": -3.0,
            "best_f1": 100 * (3 + 2 / 3) / 4,
            "best_f1_thresh": -1.0,
        }
    )
    # d's odds -0.5 exceed a threshold of -0.75: it counts as answered "", right for an unanswerable question
    shifted = squad_v2_metrics(PREDS_V2, REFS_V2, ODDS_V2, null_score_diff_threshold=-0.75)
    assert shifted["exact"] == 75.0 and shifted["NoAns_f1"] == 100.0
    plain = squad_v2_metrics(PREDS_V2, REFS_V2)
    assert "best_f1" not in plain and plain["f1"] == got["f1"]  # no null odds: no threshold search
    only_answerable = squad_v2_metrics({"a": "Paris"}, {"a": ["Paris"]})
    assert "NoAns_f1" not in only_answerable and only_answerable["HasAns_f1"] == 100.0
    with pytest.raises(ValueError, match="no prediction"):
        squad_v2_metrics({"a": "Paris"}, REFS_V2)


def _v2_dataset():
    """Two answerable and two unanswerable questions, with logits a trained model would give."""
    examples, features, start, end = [], [], [], []
    for qid, answer in [("a1", (1, 2)), ("a2", (6, 6)), ("n1", None), ("n2", None)]:
        examples.append(
            {
                "id": qid,
                "context": CONTEXT,
                "answers": {
                    "text": [] if answer is None else [" ".join(CONTEXT.split()[answer[0] : answer[1] + 1])],
                    "answer_start": [],
                },
            }
        )
        (feat,) = windows(qid, CONTEXT, window=10, stride=10)
        features.append(feat)
        if answer is None:  # [CLS] wins, the best span ("kappa") is a poor second
            start.append(logits(feat, cls=5.0, w9=1.0))
            end.append(logits(feat, cls=5.0, w9=1.0))
        else:
            start.append(logits(feat, cls=-2.0, **{f"w{answer[0]}": 4.0}))
            end.append(logits(feat, cls=-2.0, **{f"w{answer[1]}": 4.0}))
    return examples, features, start, end


def test_v2_scored_without_the_no_answer_path_zeroes_noans_f1():
    examples, features, start, end = _v2_dataset()
    refs = {e["id"]: e["answers"]["text"] for e in examples}
    full = postprocess_qa_predictions(examples, features, start, end, version_2_with_negative=True)
    assert full.predictions == {"a1": "beta gamma", "a2": "eta", "n1": "", "n2": ""}
    v1_style = postprocess_qa_predictions(examples, features, start, end, version_2_with_negative=False)
    assert v1_style.predictions["n1"] == "kappa"  # never "": the silent bug
    good = squad_v2_metrics(full.predictions, refs, full.null_odds)
    bad = squad_v2_metrics(v1_style.predictions, refs)
    assert good["NoAns_f1"] == 100.0 and good["f1"] == 100.0
    assert bad["NoAns_f1"] == 0.0 and bad["HasAns_f1"] == 100.0 and bad["f1"] == 50.0


def test_compute_task_metrics_span_qa_on_hub_style_datasets():
    datasets = pytest.importorskip("datasets")
    examples, features, start, end = _v2_dataset()
    ex_ds = datasets.Dataset.from_list(examples)
    feat_ds = datasets.Dataset.from_list([{k: f[k] for k in ("example_id", "offset_mapping")} for f in features])
    names = ["exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1", "best_f1_thresh"]
    got = compute_task_metrics(
        "span_qa",
        names,
        examples=ex_ds,
        features=feat_ds,
        start_logits=torch.tensor(np.stack(start)),
        end_logits=list(end),
    )
    assert list(got) == names  # v2.0 read from the metric names
    assert got["exact"] == got["f1"] == got["NoAns_f1"] == got["best_f1"] == 100.0
    # v1.1 on v2 data, forced: through the dispatcher the classic bug is an error, not a silent 0
    with pytest.raises(ValueError, match="no unanswerable questions"):
        compute_task_metrics(
            "span_qa",
            ["f1"],
            examples=examples,
            features=features,
            start_logits=start,
            end_logits=end,
            version_2_with_negative=False,
        )
    answerable = [e for e in examples if e["answers"]["text"]]
    v1 = compute_task_metrics(
        "span_qa",
        ["exact_match", "f1"],
        examples=answerable,
        features=features[:2],
        start_logits=start[:2],
        end_logits=end[:2],
    )
    assert v1 == pytest.approx({"exact_match": 100.0, "f1": 100.0})
    with pytest.raises(ValueError, match="do not exist for this SQuAD version"):
        compute_task_metrics(
            "span_qa",
            ["exact"],
            examples=answerable,
            features=features[:2],
            start_logits=start[:2],
            end_logits=end[:2],
            version_2_with_negative=False,
        )


def test_postprocess_input_errors_are_named():
    (feat,) = windows("q", CONTEXT, window=10, stride=10)
    row = [logits(feat)]
    with pytest.raises(ValueError, match="not an id of examples"):
        postprocess_qa_predictions([{"id": "x", "context": CONTEXT}], [feat], row, row, version_2_with_negative=True)
    with pytest.raises(ValueError, match="2 rows but there are 1 features"):
        postprocess_qa_predictions(
            [{"id": "q", "context": CONTEXT}], [feat], row * 2, row, version_2_with_negative=True
        )
    with pytest.raises(KeyError, match="offset_mapping"):
        postprocess_qa_predictions(
            [{"id": "q", "context": CONTEXT}], [{"example_id": "q"}], row, row, version_2_with_negative=True
        )
