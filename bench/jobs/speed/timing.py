"""The timer and what surrounds it: inputs built before the clock starts, columns timed interleaved,
the statistics of one column's pass, and the environment the times were taken in."""

from __future__ import annotations

import importlib
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


class PeakMemory:
    """The peak memory of one call, sampled around it (never inside the timer): on CPU the process's
    peak RSS (Linux resets the high-water mark through /proc/self/clear_refs; elsewhere the lifetime
    peak `ru_maxrss`, which cannot be reset), on CUDA `torch.cuda.max_memory_allocated`."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.source = "cuda max_memory_allocated" if device == "cuda" else "process peak RSS"
        self.resettable = device == "cuda" or self._reset_rss()
        if not self.resettable:
            self.source = "process lifetime peak RSS (ru_maxrss)"

    @staticmethod
    def _status(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        return 0

    @staticmethod
    def _reset_rss() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
            return True
        except OSError:
            return False

    def reset(self) -> int:
        """Start a new peak; returns the memory in use now (bytes), the call's baseline."""
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            return int(torch.cuda.memory_allocated())
        if self.resettable:
            self._reset_rss()
            return self._status("VmRSS:")
        return 0

    def peak(self) -> int:
        """Bytes: the peak since the last reset."""
        if self.device == "cuda":
            return int(torch.cuda.max_memory_allocated())
        if self.resettable:
            return self._status("VmHWM:")
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(kb) * (1 if platform.system() == "Darwin" else 1024)  # macOS reports bytes


def time_columns(
    columns: dict[str, Callable[[dict], Any]],
    batches: Sequence[dict],
    warmup: int,
    device: str = "cpu",
    interleave: bool = True,
    optional: Iterable[str] = (),
    memory: dict[str, list[tuple[int, int]]] | None = None,
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Seconds per batch for each column, and the errors of dropped columns.

    With a `memory` dict, it is filled with (peak bytes, peak minus the bytes in use just before) per
    timed call of each column: reset before the clock starts, read after it stops, so warm-up calls
    never count. The second is what the call itself needed (activations, workspace): the process
    peak is dominated by every model the run holds.

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
        tracker = PeakMemory(device) if memory is not None else None
        if memory is not None:
            memory.clear()
            memory.update({name: [] for name in names})

        def timed(name: str, batch: dict) -> None:
            before = tracker.reset() if tracker is not None else 0
            times[name].append(_timed_call(columns[name], batch, device))
            if tracker is not None:
                peak = tracker.peak()
                memory[name].append((peak, max(0, peak - before)))

        if interleave:
            for i, batch in enumerate(batches):
                k = i % len(names)  # rotate the order: no column always runs first (or right after another)
                for name in names[k:] + names[:k]:
                    timed(name, batch)
        else:
            for name in names:
                for batch in batches:
                    timed(name, batch)
    return times, errors


# ----------------------------------------------------------------------------- what is reported
def percentile(sorted_values: Sequence[float], q: int) -> float:
    """The nearest-rank percentile: a value that was measured (integer arithmetic: no 0.9 * 70 = 63.000001)."""
    return sorted_values[min(len(sorted_values) - 1, max(0, -(-q * len(sorted_values) // 100) - 1))]


def summarize(
    seconds: Sequence[float],
    sizes: Sequence[int],
    full_pass_examples: int,
    tokens: Sequence[int] | None = None,
    memory: Sequence[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Totals and per-example latencies (a batch's time over its size) of one column's timed calls;
    `tokens` (real tokens per batch) adds tokens/s, `memory` (time_columns' per timed call) the peak
    memory and the most a call added to what was in use before it."""
    n, total = sum(sizes), float(sum(seconds))
    per_example_ms = sorted(1e3 * s / b for s, b in zip(seconds, sizes))
    batch_ms = [1e3 * s for s in seconds]
    out = {
        "total_s": total,
        "n_examples": n,
        "mean_ms": 1e3 * total / n,
        "median_ms": statistics.median(per_example_ms),
        "p50_ms": percentile(per_example_ms, 50),
        "p90_ms": percentile(per_example_ms, 90),
        "p99_ms": percentile(per_example_ms, 99),
        "std_ms": statistics.stdev(per_example_ms) if len(per_example_ms) > 1 else 0.0,
        "batch_median_ms": statistics.median(batch_ms),
        "examples_per_s": n / total if total > 0 else float("inf"),
        "total_s_full_pass": total / n * full_pass_examples,
        "total_s_full_pass_extrapolated": n != full_pass_examples,
    }
    if tokens is not None:
        out["tokens_per_s"] = sum(tokens) / total if total > 0 else float("inf")
    if memory:
        out["peak_memory_mb"] = max(p for p, _ in memory) / 2**20
        out["call_memory_mb"] = max(d for _, d in memory) / 2**20
    return out


def environment(device: str) -> dict[str, Any]:
    env = {
        "device": device,
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    env["cpu_flags"] = ",".join(cpu_flags()) or "none"
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    for lib in ("transformers", "onnxruntime", "onnx"):
        try:
            env[lib] = importlib.import_module(lib).__version__
        except ImportError:
            pass
    return env


# The CPU features that decide which kernels run: AVX-512, VNNI (int8 dot products), native bf16, AMX.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "avx_vnni")


def cpu_flags() -> list[str]:
    """Those of SPEED_FLAGS this CPU has (from /proc/cpuinfo; empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [flag for flag in SPEED_FLAGS if flag in have]
    except OSError:
        pass
    return []


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
