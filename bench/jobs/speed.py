"""Inference time, measured the DistilBERT paper's way (Sanh et al. 2019, Table 3).

The paper times one full pass over STS-B dev (1,500 pairs) on CPU at batch size 1: BERT-base
668 s, DistilBERT 410 s. Such figures compare only when the scope is exact, so here:
- every pair is tokenized and turned into tensors BEFORE the clock starts;
- each column (our encoder in an inference mode, Hugging Face's model of the same architecture)
  gets `warmup` untimed forwards first;
- the thread count is fixed, the models are in eval mode, under `torch.inference_mode()`;
- columns are interleaved example by example (rotating who goes first), so on a shared machine
  the load falls on all columns alike and the ratios (ours/HF, DistilBERT/BERT) stay meaningful;
- on CUDA every batch is timed with CUDA events and synchronized.
Weights are random: the time of a dense forward does not depend on their values. The accuracy
cost of the faster modes is measured separately, on a fine-tuned model (`mode_accuracy_cost`).

    bench-speed                                  # BERT-base, tiny profile (300 pairs, fp32)
    bench-speed model=distilbert_base profile=paper data.source=hub
"""

from __future__ import annotations

import copy
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from lightning_modules.encoder import Encoder, EncoderConfig, count_parameters, describe

MODES = ("fp32", "bf16", "bf16_autocast", "int8_dynamic", "compile")
CPU_ONLY_MODES = ("int8_dynamic",)  # quantized dynamic linears run on CPU kernels only
HF_FAMILIES = ("bert", "roberta", "albert", "distilbert")
ContextFactory = Callable[[], AbstractContextManager]


@dataclass
class SpeedSettings:
    """`cfg.speed` (conf/speed/default.yaml), checked: a wrong key or value names `speed.<key>`."""

    max_examples: int | None = None
    modes: list[str] = field(default_factory=lambda: ["fp32"])
    full_size: bool = True
    split: str = "validation"
    max_length: int = 128
    batch_size: int = 1
    warmup: int = 10
    threads: int = 2
    device: str = "cpu"
    interleave: bool = True
    full_pass_examples: int = 1500
    hf: bool = True
    hf_family: str | None = None
    hf_modes: list[str] = field(default_factory=lambda: ["fp32"])
    gpu_modes: list[str] = field(default_factory=lambda: ["fp32", "bf16"])
    gpu_batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    skip_emulated_bf16: bool = True

    def __post_init__(self) -> None:
        for key in ("modes", "hf_modes", "gpu_modes"):
            bad = [m for m in getattr(self, key) if m not in MODES]
            if bad:
                raise ValueError(f"speed.{key}: unknown mode(s) {bad}; known: {', '.join(MODES)}")
        for key in ("batch_size", "threads", "max_length", "full_pass_examples"):
            if getattr(self, key) < 1:
                raise ValueError(f"speed.{key} must be >= 1, got {getattr(self, key)}")
        if self.warmup < 0 or (self.max_examples is not None and self.max_examples < 1):
            raise ValueError(
                f"speed.warmup must be >= 0 and speed.max_examples >= 1 or null, got {self.warmup}, {self.max_examples}"
            )
        gpu_cpu_only = [m for m in self.gpu_modes if m in CPU_ONLY_MODES]
        if gpu_cpu_only:
            raise ValueError(f"speed.gpu.modes: {gpu_cpu_only} run on CPU only")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"speed.device must be cpu or cuda, got {self.device!r}")
        if self.hf_family is not None and self.hf_family not in HF_FAMILIES:
            raise ValueError(f"speed.hf_family must be one of {', '.join(HF_FAMILIES)} or null, got {self.hf_family!r}")

    @classmethod
    def from_cfg(cls, node: DictConfig | dict) -> SpeedSettings:
        d = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
        d.pop("profiles", None)  # per-profile defaults, already resolved into max_examples / modes
        gpu = d.pop("gpu", None) or {}
        d.setdefault("gpu_modes", gpu.get("modes", ["fp32", "bf16"]))
        d.setdefault("gpu_batch_sizes", gpu.get("batch_sizes", [1, 32]))
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown speed config key(s): {', '.join('speed.' + k for k in unknown)}")
        return cls(**d)

    def columns(self) -> tuple[list[str], list[int]]:
        """(modes, batch sizes) of our encoder on this device; the first batch size is the headline."""
        if self.device == "cuda":
            return list(self.gpu_modes), [self.batch_size] + [b for b in self.gpu_batch_sizes if b != self.batch_size]
        return list(self.modes), [self.batch_size]


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
        T = max(len(e.input_ids) for e in chunk)
        ids = torch.full((len(chunk), T), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), T), dtype=torch.long)
        types = torch.zeros((len(chunk), T), dtype=torch.long)
        for j, e in enumerate(chunk):
            n = len(e.input_ids)
            ids[j, :n], mask[j, :n], types[j, :n] = torch.tensor(e.input_ids), 1, torch.tensor(e.token_type_ids)
        batch = {"input_ids": ids, "attention_mask": mask}
        if with_types:
            batch["token_type_ids"] = types.clamp(max=1)
        batches.append({k: v.to(device) for k, v in batch.items()})
    return batches


# ----------------------------------------------------------------------------- inference modes
def prepare_mode(module: nn.Module, mode: str, device: str = "cpu") -> tuple[nn.Module, ContextFactory]:
    """The module to run in `mode` and the context to run it under. The given module is never changed.

    fp32: as is. bf16: a bfloat16 copy. bf16_autocast: fp32 weights, bf16 matmuls under autocast.
    int8_dynamic: a copy with int8 dynamically quantized nn.Linear layers (CPU). compile: torch.compile
    (dynamic shapes, as the sequence length varies; shares the weights).
    """
    if mode not in MODES:
        raise ValueError(f"unknown inference mode {mode!r}; known: {', '.join(MODES)}")
    if mode in CPU_ONLY_MODES and device != "cpu":
        raise ValueError(f"mode {mode} runs on CPU only, not on {device}")
    if mode == "fp32":
        return module, nullcontext
    if mode == "bf16":
        return copy.deepcopy(module).to(torch.bfloat16), nullcontext
    if mode == "bf16_autocast":
        return module, lambda: torch.autocast(device_type=device, dtype=torch.bfloat16)
    if mode == "int8_dynamic":
        with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            return quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8, inplace=False), nullcontext
    return torch.compile(module, dynamic=True), nullcontext


def native_bf16(device: str) -> bool:
    """Whether bf16 matmuls run natively (CUDA, or a CPU with AVX-512 BF16 / AMX); else they are emulated."""
    if device == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


# ----------------------------------------------------------------------------- the timer
def _timed_call(fn: Callable[[dict], Any], batch: dict, device: str) -> float:
    if device == "cuda":
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


# ----------------------------------------------------------------------------- one measurement
def _caller(module: nn.Module, ctx: ContextFactory) -> Callable[[dict], Any]:
    def call(batch: dict) -> Any:
        with ctx():
            return module(**batch)

    return call


def measure(
    encoder: Encoder,
    encoded: Sequence[Encoded],
    settings: SpeedSettings,
    hf_model: nn.Module | None = None,
) -> dict[str, Any]:
    """Time our encoder (each mode) and optionally `hf_model` over the pre-tokenized examples.

    Keys: `speed/<stat>` for fp32 at the headline batch size (the column compared with the paper),
    `speed/<mode>/<stat>` per mode (`speed/<mode>/bs<B>/<stat>` at other batch sizes),
    `speed/hf_<stat>` and `speed/ours_over_hf` for Hugging Face's fp32, `speed/<mode>/over_hf_fp32`.
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
    ours = {m: _caller(*prepare_mode(encoder, m, device)) for m in modes}
    theirs = {}
    if hf_model is not None:
        hf_model = hf_model.eval().to(device)
        theirs = {m: _caller(*prepare_mode(hf_model, m, device)) for m in s.hf_modes if m not in skipped}

    headline = batch_sizes[0]
    for bs in batch_sizes:
        batches = make_batches(encoded, bs, cfg.pad_token_id, cfg.type_vocab_size >= 2, device)
        sizes = [len(b["input_ids"]) for b in batches]
        columns = {f"ours/{m}": f for m, f in ours.items()} | {f"hf/{m}": f for m, f in theirs.items()}
        optional = [n for n in columns if n != "ours/fp32"]
        times, errors = time_columns(columns, batches, s.warmup, device, s.interleave, optional)
        tag = "" if bs == headline else f"/bs{bs}"
        for name, err in errors.items():
            who, mode = name.split("/")
            out[f"speed/{'hf/' if who == 'hf' else ''}{mode}{tag}/error"] = err
        stats = {name: summarize(t, sizes, s.full_pass_examples) for name, t in times.items()}
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
            "speed/seq_len_mean": statistics.fmean(lengths),
            "speed/seq_len_max": max(lengths),
            "speed/architecture": describe(cfg),
        }
    )
    out.update({f"params/{k}": v for k, v in count_parameters(encoder).items()})
    return out


# ----------------------------------------------------------------------------- the job
def build_hf_model(cfg: EncoderConfig, family: str | None = None) -> tuple[nn.Module, str]:
    """Hugging Face's model of this architecture (random weights) and its family (inferred if None)."""
    from lightning_modules.hf import hf_reference_model, infer_family

    family = family or infer_family(cfg)
    return hf_reference_model(cfg, family), family


def load_pairs(cfg: DictConfig, split: str, max_examples: int | None) -> list[tuple[str, str | None]]:
    """The first `max_examples` text pairs of `cfg.task`'s split (STS-B dev for the paper's table)."""
    from bench.data import load_task

    ds = load_task(cfg.task, cfg.data)
    if split not in ds:
        raise KeyError(f"task {task_name(cfg)!r} has no split {split!r} (speed.split); it has {', '.join(ds)}")
    part = ds[split]
    cols = cfg.task.columns
    a, b = cols.get("text_a"), cols.get("text_b")
    for key, col in (("text_a", a), ("text_b", b)):
        if col is not None and col not in part.column_names:
            raise KeyError(
                f"task.columns.{key}={col!r} is not a column of the {split} split ({', '.join(part.column_names)})"
            )
    n = len(part) if max_examples is None else min(max_examples, len(part))
    part = part.select(range(n))
    return list(zip(part[a], part[b] if b is not None else [None] * n))


def task_name(cfg: DictConfig) -> str:
    """The task group's choice (`stsb`) inside a Hydra app, else the task node's own `name`."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices["task"])
    except (ValueError, KeyError):  # not inside a Hydra app
        return str(cfg.task.get("name", "?"))


def load_tokenizer(cfg: DictConfig) -> Any:
    from bench.data import get_tokenizer

    return get_tokenizer(cfg.data, cfg.task.get("language", "en"))


def speed_job(cfg: DictConfig, run: Any = None) -> dict[str, Any]:
    """job_type=speed: the summary entries of one inference-time measurement (`run` is not needed)."""
    from bench.config.architecture import effective_encoder_config
    from bench.config.schema import encoder_config

    s = SpeedSettings.from_cfg(cfg.speed)
    pairs = load_pairs(cfg, s.split, s.max_examples)
    tokenizer = load_tokenizer(cfg)
    vocab = tokenizer.get_vocab_size()
    enc_cfg = encoder_config(cfg.model) if s.full_size else effective_encoder_config(cfg, vocab_size=vocab)
    if vocab > enc_cfg.vocab_size:
        raise ValueError(
            f"the tokenizer has {vocab} tokens but model.vocab_size is {enc_cfg.vocab_size}: ids would overflow"
        )
    encoded = encode_pairs(pairs, tokenizer, s.max_length)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        torch.manual_seed(int(cfg.get("seed", 0)))
        encoder = Encoder(enc_cfg)
        hf_model, family, skipped = None, s.hf_family, None
        if s.hf:
            try:
                hf_model, family = build_hf_model(enc_cfg, s.hf_family)
            except (ImportError, NotImplementedError, ValueError) as e:  # no transformers, or no HF twin
                skipped = f"{type(e).__name__}: {e}"
        out = measure(encoder, encoded, s, hf_model)
    finally:
        torch.set_num_threads(previous_threads)
    out.update(
        {
            "speed/task": task_name(cfg),
            "speed/split": s.split,
            "speed/data_source": str(cfg.data.get("source", "?")),
            "speed/full_size": s.full_size,
            "speed/max_length": s.max_length,
        }
    )
    if s.hf:
        out["speed/hf_family"] = family or "?"
        if skipped:
            out["speed/hf_skipped"] = skipped
    return out


# ----------------------------------------------------------------------------- accuracy cost
def mode_accuracy_cost(
    module: nn.Module,
    dataloader: Iterable[dict],
    metric_fn: Callable[[torch.Tensor, torch.Tensor], float],
    modes: Sequence[str],
    *,
    forward: Callable[[nn.Module, dict], torch.Tensor] | None = None,
    label_key: str = "labels",
    device: str = "cpu",
) -> dict[str, float]:
    """The metric of a fine-tuned `module` evaluated in each inference mode: {mode: metric}.

    `forward(module, batch)` gives the predictions (default `module(batch)`, as FineTuneModule);
    `metric_fn(predictions, labels)` is called once on the whole set. The module is not changed.
    """
    forward = forward or (lambda m, batch: m(batch))
    was_training = module.training
    module.eval()
    results: dict[str, float] = {}
    try:
        for mode in modes:
            model, ctx = prepare_mode(module, mode, device)
            preds, labels = [], []
            with torch.inference_mode():
                for batch in dataloader:
                    with ctx():
                        preds.append(forward(model, batch).float())
                    labels.append(batch[label_key])
            results[mode] = float(metric_fn(torch.cat(preds), torch.cat(labels)))
    finally:
        module.train(was_training)
    return results


def accuracy_drops(results: dict[str, float], reference: str = "fp32") -> dict[str, float]:
    """Points lost by each mode against the reference mode (positive = worse)."""
    if reference not in results:
        raise KeyError(f"reference mode {reference!r} not among the evaluated modes {sorted(results)}")
    return {m: results[reference] - v for m, v in results.items()}


def main() -> None:
    """`bench-speed`: `bench-run` with job_type=speed and task=stsb unless given."""
    given = {a.split("=", 1)[0].lstrip("+~") for a in sys.argv[1:] if "=" in a}
    sys.argv += [o for o, key in (("job_type=speed", "job_type"), ("task=stsb", "task")) if key not in given]
    from bench.jobs.run import main as run_main

    run_main()


if __name__ == "__main__":
    main()
