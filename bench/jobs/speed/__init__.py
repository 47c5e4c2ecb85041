"""Inference time, measured the DistilBERT paper's way (Sanh et al. 2019, Table 3: one pass over
STS-B dev, 1,500 pairs, at batch size 1 on CPU), beside Hugging Face's model and faster modes.

modes: the inference modes; timing: untimed inputs, the interleaved timer, the statistics;
measurement: one measurement (`measure`); settings: `cfg.speed`, checked; job: `speed_job`
(job_type=speed); accuracy: what the faster modes cost on a fine-tuned model; cli: `bench-speed`;
onnx_backend: ONNX Runtime as a backend (the ort_* modes: export, int8 quantization, the session).
"""

from bench.jobs.speed.accuracy import accuracy_drops, mode_accuracy_cost
from bench.jobs.speed.cli import main
from bench.jobs.speed.job import build_hf_model, load_pairs, load_tokenizer, speed_job, task_name
from bench.jobs.speed.measurement import max_abs_diff, measure
from bench.jobs.speed.modes import CPU_ONLY_MODES, MODES, native_bf16, prepare_mode
from bench.jobs.speed.settings import SpeedSettings, default_settings, speed_yaml
from bench.jobs.speed.timing import (
    Encoded,
    PeakMemory,
    cpu_flags,
    cpu_model,
    encode_pairs,
    environment,
    make_batches,
    percentile,
    summarize,
    time_columns,
)  # fmt: skip

__all__ = [
    "CPU_ONLY_MODES", "MODES", "Encoded", "PeakMemory", "SpeedSettings", "accuracy_drops", "build_hf_model",
    "cpu_flags", "cpu_model", "default_settings", "encode_pairs", "environment", "load_pairs", "load_tokenizer",
    "main", "make_batches", "max_abs_diff", "measure", "mode_accuracy_cost", "native_bf16", "percentile",
    "prepare_mode", "speed_job", "speed_yaml", "summarize", "task_name", "time_columns",
]  # fmt: skip
