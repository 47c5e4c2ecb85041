"""The Sliding Window baseline of the RACE paper (Lai et al. 2017, Table 4: 32.2% on RACE), the
lexical matcher of Richardson et al. (2013, MCTest): for each option, slide a window as wide as
(question words + option words) over the article and score the best window by the summed inverse
counts of the words it shares with them; pick the best option. No training, no model.

It answers whether a multiple-choice data set can be read at all (the synthetic RACE-like data must
be answerable from its article), independently of any encoder's capacity:

    python -m bench.benchmarks.sliding_window                  # the tiny synthetic RACE dev and test sets
    python -m bench.benchmarks.sliding_window --task race_middle --split validation
"""

from __future__ import annotations

import argparse
import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def sliding_window_scores(article: str, question: str, options: Sequence[str]) -> list[float]:
    passage = words(article)
    counts = Counter(passage)
    weight = {w: math.log(1.0 + 1.0 / c) for w, c in counts.items()}  # rare words count more
    scores = []
    for option in options:
        target = set(words(question)) | set(words(option))
        width = max(1, len(target))
        hits = [weight[w] if w in target else 0.0 for w in passage]
        window = sum(hits[:width])
        best = window
        for j in range(width, len(hits)):  # running sum over each window of `width` words
            window += hits[j] - hits[j - width]
            best = max(best, window)
        scores.append(best)
    return scores


def sliding_window_choice(article: str, question: str, options: Sequence[str]) -> int:
    """Index of the best-scoring option (the first on ties)."""
    scores = sliding_window_scores(article, question, options)
    return scores.index(max(scores))


def sliding_window_accuracy(rows, columns: dict, label_names: Sequence[str]) -> float:
    """Accuracy in % over rows with the spec's column roles (article, question, options, answer)."""
    if len(rows) == 0:
        raise ValueError("sliding_window_accuracy: no rows")
    a, q, o, y = (columns[k] for k in ("article", "question", "options", "answer"))
    right = sum(sliding_window_choice(r[a], r[q], r[o]) == list(label_names).index(r[y]) for r in rows)
    return 100.0 * right / len(rows)


def main(argv: list[str] | None = None) -> None:
    from bench.config.compose import compose_config
    from bench.data import load_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="race", help="a multiple_choice task config (race, race_middle, race_high)")
    parser.add_argument("--split", nargs="*", help="dev/test splits (default: the task's evaluation splits)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. profile=tiny data=hub")
    args = parser.parse_args(argv)
    cfg = compose_config([f"task={args.task}", *args.overrides])
    if cfg.task.type != "multiple_choice":
        raise SystemExit(f"--task {args.task}: type is {cfg.task.type}, the sliding window needs multiple_choice")
    ds = load_task(cfg.task, cfg.data)
    for split in args.split or list(cfg.task.splits.eval):
        rows = ds[split]
        majority = 100.0 * Counter(rows[cfg.task.columns.answer]).most_common(1)[0][1] / len(rows)
        acc = sliding_window_accuracy(rows, cfg.task.columns, cfg.task.label_names)
        print(f"{args.task} {split}: sliding window {acc:.1f}%  majority {majority:.1f}%  ({len(rows)} questions)")


if __name__ == "__main__":
    main()
