"""The timer and what surrounds it: inputs built before the clock starts, columns timed interleaved,
the statistics of one column's pass, and the environment the times were taken in."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.data.batching import pad


# ----------------------------------------------------------------------------- inputs, untimed
@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    token_type_ids: list[int]


def encode_pairs(pairs: Sequence[tuple[str, str | None]], tokenizer: Any, max_length: int) -> list[Encoded]:
    """Tokenize every pair up front (never inside the timer), truncated to `max_length` tokens.

    `tokenizer` is a `tokenizers.Tokenizer` (a truncating copy is made, the caller's is left alone)
    or anything with `encode(a, b) -> .ids, .type_ids`.
    """
    try:
        from tokenizers import Tokenizer

        if isinstance(tokenizer, Tokenizer):
            tokenizer = Tokenizer.from_str(tokenizer.to_str())
            tokenizer.enable_truncation(max_length)
    except ImportError:
        pass
    out = []
    for a, b in pairs:
        e = tokenizer.encode(a, b) if b is not None else tokenizer.encode(a)
        out.append(Encoded(list(e.ids)[:max_length], list(e.type_ids)[:max_length]))
    if not out:
        raise ValueError("no examples to time (empty split or speed.max_examples=0)")
    return out


def make_batches(
    encoded: Sequence[Encoded], batch_size: int, pad_id: int, with_types: bool, device: str
) -> list[dict[str, torch.Tensor]]:
    """Padded tensors, already on the device: the timed loop only runs the model."""
    batches = []
    for i in range(0, len(encoded), batch_size):
        chunk = encoded[i : i + batch_size]
        ids = [e.input_ids for e in chunk]
        batch = {"input_ids": pad(ids, pad_id), "attention_mask": pad([[1] * len(x) for x in ids], 0)}
        if with_types:
            batch["token_type_ids"] = pad([e.token_type_ids for e in chunk], 0).clamp(max=1)
        batches.append({k: v.to(device) for k, v in batch.items()})
    return batches


# ----------------------------------------------------------------------------- the timer
def _timed_call(fn: Callable[[dict], Any], batch: dict, device: str) -> float:
    if device == "cuda":  # CUDA runs asynchronously: events, and wait for the end one
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(batch)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn(batch)
    return time.perf_counter() - t0


def time_columns(
    columns: dict[str, Callable[[dict], Any]],
    batches: Sequence[dict],
    warmup: int,
    device: str = "cpu",
    interleave: bool = True,
    optional: Iterable[str] = (),
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per batch for each column, and the errors of dropped columns.

    Each column first gets `warmup` untimed calls; an `optional` column that raises during its
    warm-up (e.g. torch.compile without a C++ compiler) is dropped with its error, never timed.
    Interleaved, the columns take turns example by example, so a shared machine's load falls on
    all alike and their ratios stay meaningful.
    """
    optional = set(optional)
    errors: dict[str, str] = {}
    with torch.inference_mode():
        for name in list(columns):
            try:
                for i in range(warmup):
                    columns[name](batches[i % len(batches)])
            except Exception as e:  # noqa: BLE001 - an extra column must not sink the paper's column
                if name not in optional:
                    raise
                errors[name] = f"{type(e).__name__}: {e}"[:500]
        names = [n for n in columns if n not in errors]
        if device == "cuda":
            torch.cuda.synchronize()
        times: dict[str, list[float]] = {name: [] for name in names}
        if interleave:
            for i, batch in enumerate(batches):
                k = i % len(names)  # rotate the order: no column always runs first (or right after another)
                for name in names[k:] + names[:k]:
                    times[name].append(_timed_call(columns[name], batch, device))
        else:
            for name in names:
                times[name] = [_timed_call(columns[name], batch, device) for batch in batches]
    return times, errors


# ----------------------------------------------------------------------------- what is reported
def summarize(seconds: Sequence[float], sizes: Sequence[int], full_pass_examples: int) -> dict[str, Any]:
    """Totals and per-example latencies (a batch's time over its size) of one column's pass."""
    n, total = sum(sizes), float(sum(seconds))
    per_example_ms = sorted(1e3 * s / b for s, b in zip(seconds, sizes))
    p90 = per_example_ms[min(len(per_example_ms) - 1, max(0, -(-9 * len(per_example_ms) // 10) - 1))]  # nearest rank
    return {
        "total_s": total,
        "n_examples": n,
        "mean_ms": 1e3 * total / n,
        "median_ms": statistics.median(per_example_ms),
        "p90_ms": p90,
        "examples_per_s": n / total if total > 0 else float("inf"),
        "total_s_full_pass": total / n * full_pass_examples,
        "total_s_full_pass_extrapolated": n != full_pass_examples,
    }


def environment(device: str) -> dict[str, Any]:
    env = {
        "device": device,
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    try:
        import transformers

        env["transformers"] = transformers.__version__
    except ImportError:
        pass
    return env


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
