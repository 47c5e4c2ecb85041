"""One measurement: our encoder in each inference mode, and Hugging Face's model of the same
architecture, timed as columns over the same pre-tokenized examples.

What is timed, so the figures compare with the paper's: tokenization and tensors are built before the
clock starts; each column gets `warmup` untimed forwards; the thread count is fixed, the models are in
eval mode under `torch.inference_mode()`; the columns are interleaved; on CUDA each batch is timed with
events. Weights are random: a dense forward takes the same time whatever their values.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from bench.jobs.speed.modes import MODES, ContextFactory, native_bf16, prepare_mode
from bench.jobs.speed.settings import SpeedSettings
from bench.jobs.speed.timing import Encoded, PeakMemory, environment, make_batches, summarize, time_columns
from lightning_modules.encoder import Encoder, count_parameters, describe

DRIFT_BATCHES = 8


def _caller(module: nn.Module, ctx: ContextFactory) -> Callable[[dict], Any]:
    def call(batch: dict) -> Any:
        with ctx():
            return module(**batch)

    return call


def _hidden(out: Any) -> torch.Tensor:
    """The last hidden states of any column's output (our tuple, a ModelOutput, an ONNX Runtime tuple)."""
    return (out if isinstance(out, torch.Tensor) else out[0]).float()


def max_abs_diff(
    columns: dict[str, Callable[[dict], Any]], reference: str, batches: Sequence[dict]
) -> dict[str, float]:
    """Each column's largest |difference| from `reference` in the hidden states over `batches` (untimed)."""
    out = {}
    with torch.inference_mode():
        ref = [_hidden(columns[reference](b)) for b in batches]
        for name, fn in columns.items():
            if name != reference:
                out[name] = max(float((_hidden(fn(b)) - r).abs().max()) for b, r in zip(batches, ref))
    return out


def _prepared(module: nn.Module, modes: list[str], device: str, out: dict, prefix: str) -> dict[str, Callable]:
    """A caller per mode; a mode other than fp32 that cannot be prepared (no onnxruntime, an export
    the exporter refuses) is recorded as `<prefix><mode>/error`, never timed, as a failed warm-up."""
    callers = {}
    for m in modes:
        try:
            callers[m] = _caller(*prepare_mode(module, m, device))
        except Exception as e:  # noqa: BLE001 - an extra column must not sink the paper's column
            if m == "fp32":
                raise
            out[f"{prefix}{m}/error"] = f"{type(e).__name__}: {e}"[:500]
    return callers


def measure(
    encoder: Encoder,
    encoded: Sequence[Encoded],
    settings: SpeedSettings,
    hf_model: nn.Module | None = None,
) -> dict[str, Any]:
    """Time our encoder (each mode) and optionally `hf_model` over the pre-tokenized examples.

    Keys: `speed/<stat>` for fp32 at the headline batch size (the column compared with the paper),
    `speed/<mode>/<stat>` per mode (`speed/<mode>/bs<B>/<stat>` at other batch sizes),
    `speed/hf_<stat>` and `speed/ours_over_hf` for Hugging Face's fp32, `speed/<mode>/over_hf_fp32`;
    `speed/hf/<mode>/<stat>` for Hugging Face's other modes. Stats: summarize's (p50/p90/p99, std,
    examples/s, tokens/s, peak memory over the timed calls only); `.../max_abs_diff`: the mode's hidden
    states against the same model's fp32 on the first `DRIFT_BATCHES` batches (untimed, after timing).
    """
    s = settings
    device = s.device
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("speed.device=cuda but torch.cuda.is_available() is False")
    cfg = encoder.cfg
    modes, batch_sizes = s.columns()
    if "fp32" not in modes:
        modes = ["fp32", *modes]  # the column compared with the paper is always measured
    out: dict[str, Any] = {}
    skipped = set()
    if s.skip_emulated_bf16 and not native_bf16(device):
        skipped = {m for m in MODES if m.startswith("bf16")}
        for m in skipped & {*modes, *s.hf_modes}:
            out[f"speed/{m}/skipped"] = (
                "no native bf16 on this CPU (emulated: ~4x slower than fp32); speed.skip_emulated_bf16=false times it"
            )
        modes = [m for m in modes if m not in skipped]
    encoder = encoder.eval().to(device)
    ours = _prepared(encoder, modes, device, out, "speed/")
    theirs = {}
    if hf_model is not None:
        hf_model = hf_model.eval().to(device)
        theirs = _prepared(hf_model, [m for m in s.hf_modes if m not in skipped], device, out, "speed/hf/")

    headline = batch_sizes[0]
    for bs in batch_sizes:
        batches = make_batches(encoded, bs, cfg.pad_token_id, cfg.type_vocab_size >= 2, device)
        sizes = [len(b["input_ids"]) for b in batches]
        columns = {f"ours/{m}": f for m, f in ours.items()} | {f"hf/{m}": f for m, f in theirs.items()}
        tokens = [int(b["attention_mask"].sum()) for b in batches]  # real tokens, padding not counted
        optional = [n for n in columns if n != "ours/fp32"]
        memory: dict[str, list[tuple[int, int]]] = {}
        times, errors = time_columns(columns, batches, s.warmup, device, s.interleave, optional, memory)
        tag = "" if bs == headline else f"/bs{bs}"
        for name, err in errors.items():
            who, mode = name.split("/")
            out[f"speed/{'hf/' if who == 'hf' else ''}{mode}{tag}/error"] = err
        stats = {name: summarize(t, sizes, s.full_pass_examples, tokens, memory[name]) for name, t in times.items()}
        if bs == headline:
            for who in ("ours", "hf"):
                cols = {n: columns[n] for n in times if n.startswith(who + "/")}
                if f"{who}/fp32" in cols and len(cols) > 1:
                    for name, d in max_abs_diff(cols, f"{who}/fp32", batches[:DRIFT_BATCHES]).items():
                        stats[name]["max_abs_diff"] = d
        for name, st in stats.items():
            who, mode = name.split("/")
            prefix = f"speed/{mode}{tag}/" if who == "ours" else f"speed/hf/{mode}{tag}/"
            out.update({prefix + k: v for k, v in st.items()})
            if "hf/fp32" in stats and who == "ours":
                out[f"speed/{mode}{tag}/over_hf_fp32"] = st["total_s"] / stats["hf/fp32"]["total_s"]
        if bs == headline:
            out.update({f"speed/{k}": v for k, v in stats["ours/fp32"].items()})
            if "hf/fp32" in stats:
                out.update({f"speed/hf_{k}": v for k, v in stats["hf/fp32"].items() if k != "n_examples"})
                out["speed/ours_over_hf"] = stats["ours/fp32"]["total_s"] / stats["hf/fp32"]["total_s"]

    lengths = [len(e.input_ids) for e in encoded]
    out.update({f"speed/{k}": v for k, v in environment(device).items()})
    out.update(
        {
            "speed/dtype": "float32",
            "speed/batch_size": headline,
            "speed/warmup": s.warmup,
            "speed/modes": ",".join(modes),
            "speed/interleaved": s.interleave,
            "speed/memory": PeakMemory(device).source,
            "speed/seq_len_mean": statistics.fmean(lengths),
            "speed/seq_len_max": max(lengths),
            "speed/architecture": describe(cfg),
        }
    )
    out.update({f"params/{k}": v for k, v in count_parameters(encoder).items()})
    return out
