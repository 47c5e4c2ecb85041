"""The inference modes a column can run in: fp32 as the paper, and the faster ones beside it."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

MODES = ("fp32", "bf16", "bf16_autocast", "int8_dynamic", "compile", "ort_fp32", "ort_int8")
# Quantized dynamic linears run on CPU kernels only; the ONNX Runtime modes use its CPU provider.
CPU_ONLY_MODES = ("int8_dynamic", "ort_fp32", "ort_int8")
ContextFactory = Callable[[], AbstractContextManager]


def prepare_mode(module: nn.Module, mode: str, device: str = "cpu") -> tuple[nn.Module, ContextFactory]:
    """The module to run in `mode` and the context to run it under. The given module is never changed.

    fp32: as is. bf16: a bfloat16 copy. bf16_autocast: fp32 weights, bf16 matmuls under autocast.
    int8_dynamic: a copy with int8 dynamically quantized nn.Linear layers (CPU). compile: torch.compile
    (dynamic shapes, as the sequence length varies; shares the weights). ort_fp32 / ort_int8: exported to
    ONNX and run by ONNX Runtime, int8 dynamically quantized (bench.jobs.speed.onnx_backend; the onnx extra).
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
    if mode.startswith("ort_"):
        from bench.jobs.speed.onnx_backend import ort_module  # imports onnxruntime only when asked for

        return ort_module(module, mode), nullcontext
    return torch.compile(module, dynamic=True), nullcontext


def native_bf16(device: str) -> bool:
    """Whether bf16 matmuls run natively (CUDA, or a CPU with AVX-512 BF16 / AMX); else they are emulated."""
    if device == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
