"""The inference-backends report (reports/inference_backends.md + .png): every inference mode of the
suite beside ONNX Runtime's peer columns, optimum-benchmark style (p50/p90/p99, std, throughput, peak
memory), with each mode's drift and accuracy cost, and the environment it ran on.

Input: speed summaries as `measure` writes them (`speed/<mode>/<stat>`, `speed/hf/<mode>/<stat>`),
one per (model, batch size, max length): a sweep over two batch sizes is two groups of rows. Pure on
dicts: the benchmark (bench.benchmarks.inference_backends) and bench-report (run summaries) both feed it.
The paper's DistilBERT table (distilbert_speed) is left as it is: fp32 PyTorch at batch 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ACCURACY_BUDGET = 0.5  # points: a mode that costs more is not a candidate for "fastest suite mode"
BACKEND = {"ort_fp32": "ONNX Runtime", "ort_int8": "ONNX Runtime"}
STATS = ("p50_ms", "p90_ms", "p99_ms", "std_ms", "examples_per_s", "tokens_per_s", "peak_memory_mb", "call_memory_mb")
ENV_KEYS = ("cpu", "cpu_flags", "threads", "device", "gpu", "torch", "onnxruntime", "onnx", "transformers", "python",
            "memory", "interleaved", "warmup")  # fmt: skip


def columns(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per timed column of a summary: who (suite / Hugging Face), mode, backend and its stats."""
    out = []
    for who, prefix in (("suite", "speed/"), ("Hugging Face", "speed/hf/")):
        modes = [k[len(prefix) : -len("/p50_ms")] for k in summary if k.startswith(prefix) and k.endswith("/p50_ms")]
        for mode in modes:
            # Skipped: the headline copy (speed/p50_ms), the other prefix's columns, other batch sizes' (bs<B>/).
            if not mode or "/" in mode:
                continue
            col = {"who": who, "mode": mode, "backend": BACKEND.get(mode, "PyTorch")}
            col |= {k: summary.get(f"{prefix}{mode}/{k}") for k in (*STATS, "max_abs_diff")}
            out.append(col)
    return out


def fastest_ratio(cols: Sequence[dict], accuracy_cost: Mapping[str, float] | None) -> tuple[float, dict, dict] | None:
    """(fastest suite mode / fastest ONNX Runtime peer, by p50) among suite modes within the accuracy
    budget (every suite mode when no accuracy cost was measured), or None without both sides."""
    ours = [c for c in cols if c["who"] == "suite" and _within_budget(c["mode"], accuracy_cost)]
    peers = [c for c in cols if c["who"] == "Hugging Face" and c["backend"] == "ONNX Runtime"]
    if not ours or not peers:
        return None
    a, b = min(ours, key=lambda c: c["p50_ms"]), min(peers, key=lambda c: c["p50_ms"])
    return a["p50_ms"] / b["p50_ms"], a, b


def _within_budget(mode: str, cost: Mapping[str, float] | None) -> bool:
    return cost is None or mode == "fp32" or (mode in cost and cost[mode] <= ACCURACY_BUDGET)


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float) and 0 < abs(v) < 10**-digits:
        return f"{v:.0e}"
    return f"{v:,.{digits}f}"


def render(
    groups: Sequence[dict[str, Any]], accuracy: Mapping[str, Any] | None = None, title: str | None = None
) -> str:
    """Markdown. `groups`: {"model", "batch_size", "max_length", "summary"}; `accuracy`: {"task", "metric",
    "steps", "cost": {mode: points lost against fp32}} from `mode_accuracy_cost` on a fine-tuned model."""
    if not groups:
        raise ValueError("no speed summaries to report")
    cost = accuracy["cost"] if accuracy else None
    lines = [f"# {title or 'Inference backends: the suite vs ONNX Runtime'}", ""]
    head = ["model", "batch", "max len", "column", "backend", "mode", "p50 ms", "p90 ms", "p99 ms", "std ms",
            "examples/s", "tokens/s", "peak MB", "call +MB", "max abs diff", "accuracy cost (pts)"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    verdicts = []
    for g in groups:
        cols = columns(g["summary"])
        for c in cols:
            acc = cost.get(c["mode"]) if cost and c["who"] == "suite" else None
            cells = [g["model"], str(g["batch_size"]), str(g["max_length"]), c["who"], c["backend"], c["mode"],
                     *(_fmt(c[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "std_ms", "examples_per_s")),
                     _fmt(c["tokens_per_s"], 0), _fmt(c["peak_memory_mb"], 0), _fmt(c["call_memory_mb"], 1),
                     "ref." if c["mode"] == "fp32" else _fmt(c["max_abs_diff"], 3), _fmt(acc, 2)]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        r = fastest_ratio(cols, cost)
        if r is not None:
            ratio, a, b = r
            verdicts.append(
                f"- {g['model']}, batch {g['batch_size']}, max len {g['max_length']}: "
                f"fastest suite mode / fastest ONNX Runtime = {ratio:.2f} "
                f"(suite {a['backend']} {a['mode']} {a['p50_ms']:.1f} ms vs Hugging Face's model in "
                f"ONNX Runtime {b['mode']} {b['p50_ms']:.1f} ms, p50){' — target met' if ratio <= 1 else ''}"
            )
    dropped = [f"- {g['model']}: {k[6:]}: {v}" for g in groups for k, v in g["summary"].items()
               if k.endswith(("/error", "/skipped"))]  # fmt: skip
    lines += ["", "Columns not timed:", "", *dropped] if dropped else []
    lines += ["", "## Fastest suite mode vs fastest ONNX Runtime (target <= 1.00)", "", *verdicts] if verdicts else []
    lines += ["", "## How it was measured", "", _caption(groups, accuracy), "", "## Environment", ""]
    env = groups[0]["summary"]
    lines += [f"- {k}: {env[f'speed/{k}']}" for k in ENV_KEYS if f"speed/{k}" in env]
    return "\n".join(lines) + "\n"


def _caption(groups: Sequence[dict], accuracy: Mapping[str, Any] | None) -> str:
    s = groups[0]["summary"]
    acc = (
        f"Accuracy cost: points of {accuracy['metric']} lost against fp32 by a model fine-tuned on {accuracy['task']} "
        f"({accuracy['steps']} steps, {accuracy.get('note', 'tiny profile')}), evaluated in each mode "
        f"(`mode_accuracy_cost`); a suite mode costing more than {ACCURACY_BUDGET} points is not a candidate."
        if accuracy
        else "No accuracy cost was measured with these runs: every suite mode is a candidate."
    )
    return (
        f"Latency per example in ms over the timed calls only ({s.get('speed/n_examples', '?')} examples, "
        f"mean length {_fmt(s.get('speed/seq_len_mean'))} tokens), after {s.get('speed/warmup', '?')} untimed "
        "warm-up calls per column, tokenization before the clock, every column on the same inputs, interleaved "
        "example by example. Percentiles are nearest-rank; throughput counts real tokens (no padding); peak MB is "
        f"the {s.get('speed/memory', 'process peak RSS')} during a column's timed calls (every model of the run "
        "is loaded, so it is alike across columns); call +MB: the most one call added to the memory in use just before "
        "it (activations, workspace). Max abs diff: the column's last hidden states against "
        "the same model's fp32 PyTorch output. "
        + ("Full-size models" if s.get("speed/full_size", True) else "The profile's (small) models")
        + ", random weights. Suite ONNX Runtime modes: our "
        "encoder exported with ONNX Runtime's fused Attention op (int8: `quantize_dynamic` of that graph, QAttention). "
        "Hugging Face ONNX Runtime columns: Hugging Face's model exported plainly with `torch.onnx.export` and "
        "quantized with `quantize_dynamic`'s defaults, run with the same session settings. " + acc
    )


def figure(groups: Sequence[dict[str, Any]], accuracy: Mapping[str, Any] | None, path: str | Path) -> Path:
    """Horizontal bars: p50 latency per column, one panel per (model, batch, max len); accuracy cost beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cost = accuracy["cost"] if accuracy else {}
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 0.45 * sum(len(columns(g["summary"])) for g in groups) + 1.2))
    for ax, g in zip(axes if len(groups) > 1 else [axes], groups):
        cols = columns(g["summary"])
        labels = [f"{'suite' if c['who'] == 'suite' else 'HF'} {c['mode']}" for c in cols]
        colors = ["tab:blue" if c["who"] == "suite" else "tab:gray" for c in cols]
        ax.barh(labels, [c["p50_ms"] for c in cols], color=colors)
        for i, c in enumerate(cols):
            acc = cost.get(c["mode"]) if c["who"] == "suite" else None
            note = f" {c['p50_ms']:.1f} ms" + (f" (acc. cost {acc:+.2f})" if acc is not None else "")
            ax.text(c["p50_ms"], i, note, va="center", fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{g['model']}, batch {g['batch_size']}, max len {g['max_length']}: p50 latency (ms)", fontsize=9)
        ax.margins(x=0.35)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(groups: Sequence[dict], accuracy: Mapping[str, Any] | None, out_dir: str | Path,
                 name: str = "inference_backends") -> Path:  # fmt: skip
    """Write `<out_dir>/<name>.md` and its figure; returns the markdown path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = figure(groups, accuracy, out / f"{name}.png")
    md = render(groups, accuracy) + f"\n![latency per backend and mode]({png.name})\n"
    (out / f"{name}.md").write_text(md)
    return out / f"{name}.md"


def groups_from_runs(frame: Any, model_labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The report's groups from finished speed runs (a `bench.results.runs.read_runs` frame): the hook for
    `bench-report` (bench-speed -m speed.batch_size=1,8 speed.max_length=32,128 gives one group per run)."""
    groups = []
    for _, row in frame.iterrows():
        if row.get("state") != "finished" or row.get("job_type") != "speed":
            continue
        summary = {k[len("summary.") :]: v for k, v in row.items() if k.startswith("summary.") and _present(v)}
        if "speed/p50_ms" not in summary:
            continue
        name = str(row.get("config.model.name", "?"))
        groups.append({"model": (model_labels or {}).get(name, name), "batch_size": summary.get("speed/batch_size"),
                       "max_length": summary.get("speed/max_length"), "summary": summary})  # fmt: skip
    return sorted(groups, key=lambda g: (g["model"], g["batch_size"] or 0, g["max_length"] or 0))


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))
