"""ONNX Runtime as an inference backend: a module exported to ONNX (dynamic batch and sequence axes),
run by an `onnxruntime.InferenceSession` (all graph optimizations, fixed intra-op threads), in fp32
or int8 (dynamic quantization). Needs the `onnx` extra (onnx, onnxruntime).

Our encoder goes out with each attention block as ONNX Runtime's fused `com.microsoft.Attention`
op (one QKV GEMM + softmax attention in one kernel; `QAttention` once quantized): our QKV projection
is already one [H, 3H] matrix, which is exactly that op's weight. Any other module (Hugging Face's
models: the peer column) is exported plainly, as `optimum`-less users do. Why this recipe and what
did not pay (the transformers optimizer's fusions, per-channel weights): docs/notes/inference-backends.md.
"""

from __future__ import annotations

import inspect
import logging
import tempfile
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.encoder import Attention, Encoder

ORT_MODES = ("ort_fp32", "ort_int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


def require_onnxruntime() -> Any:
    try:
        import onnx  # noqa: F401 - the exporter and the quantizer need it
        import onnxruntime
    except ImportError as e:
        raise ImportError(
            "the ONNX Runtime modes (ort_fp32, ort_int8) need the onnx extra: pip install -e '.[onnx]'"
        ) from e
    return onnxruntime


# ----------------------------------------------------------------------------- fused attention export
class _FusedAttention(torch.autograd.Function):
    """Our attention block's core in PyTorch, exported as one `com.microsoft.Attention` node."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, keep: torch.Tensor, heads: int):
        B, T, H = x.shape
        q, k, v = (x @ weight + bias).view(B, T, 3, heads, H // heads).permute(2, 0, 3, 1, 4)
        add = torch.zeros(keep.shape, dtype=x.dtype).masked_fill(keep == 0, torch.finfo(x.dtype).min)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=add[:, None, None, :]).transpose(1, 2).reshape(B, T, H)

    @staticmethod
    def symbolic(g: Any, x: Any, weight: Any, bias: Any, keep: Any, heads: int) -> Any:
        out = g.op("com.microsoft::Attention", x, weight, bias, keep, num_heads_i=heads)
        out.setType(x.type())
        return out


def _fused_forward(self: Attention, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # The encoder hands an additive mask [B, 1, 1, T] (0 = keep); the op takes a 0/1 int32 mask [B, T].
    keep = (mask[:, 0, 0, :] == 0).to(torch.int32) if mask is not None else torch.ones(x.shape[:2], dtype=torch.int32)
    y = _FusedAttention.apply(x, self.qkv.weight.t(), self.qkv.bias, keep, self.num_heads)
    return self.norm(x + self.dropout(self.out(y)))


@contextmanager
def fused_attention(module: nn.Module) -> Iterator[int]:
    """While exporting: every attention block of our encoder(s) inside `module` traces as the fused op."""
    blocks = [m for m in module.modules() if isinstance(m, Attention)]
    for b in blocks:
        b.forward = types.MethodType(_fused_forward, b)
    try:
        yield len(blocks)
    finally:
        for b in blocks:
            del b.forward


# ----------------------------------------------------------------------------- export
def _inputs_of(module: nn.Module) -> tuple[list[str], int]:
    """The input names the module takes (token types only where the model uses them) and its vocab size."""
    enc = next((m for m in module.modules() if isinstance(m, Encoder)), None)
    if enc is not None:
        names = ["input_ids", "attention_mask"] + (["token_type_ids"] if enc.cfg.type_vocab_size >= 2 else [])
        return names, enc.cfg.vocab_size
    config = getattr(module, "config", None)
    if config is None:
        raise TypeError(f"cannot export {type(module).__name__}: neither our encoder inside nor a Hugging Face config")
    takes = inspect.signature(module.forward).parameters
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in takes and getattr(config, "type_vocab_size", 0) >= 2:
        names.append("token_type_ids")
    return names, config.vocab_size


class _Positional(nn.Module):
    """Positional tensors in, a flat tuple of tensors out: what the exporter traces. A module whose
    forward takes one `batch` dict (FineTuneModule) gets the dict; any other gets keywords."""

    def __init__(self, module: nn.Module, names: list[str]):
        super().__init__()
        self.module, self.names = module, names
        self.takes_batch = list(inspect.signature(module.forward).parameters) == ["batch"]

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        batch = dict(zip(self.names, tensors))
        out = self.module(batch) if self.takes_batch else self.module(**batch)
        return _flatten(out)


def _flatten(out: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(out, torch.Tensor):
        return (out,)
    if hasattr(out, "to_tuple"):  # a Hugging Face ModelOutput
        out = out.to_tuple()
    return tuple(t for t in out if t is not None)


def _structure(out: Any) -> Any:
    """Where the tensors sit in the module's own output: "tensor", or a tuple of True (tensor) / None."""
    if isinstance(out, torch.Tensor):
        return "tensor"
    if hasattr(out, "to_tuple"):
        out = out.to_tuple()
    return tuple(None if t is None else True for t in out)


def export_onnx(module: nn.Module, path: str | Path, fuse_attention: bool = True) -> tuple[list[str], Any]:
    """Export `module` (eval mode, CPU) to `path` with dynamic batch and sequence axes.

    The example batch has a padded row, so the traced graph always applies the attention mask (our
    encoder skips it when nothing is padded). Returns (input names, output structure).
    """
    names, vocab = _inputs_of(module)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(min(5, vocab - 1), vocab, (2, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    example = {"input_ids": ids, "attention_mask": mask, "token_type_ids": (torch.arange(7) >= 3).long().expand(2, 7)}
    args = tuple(example[n] for n in names)
    wrapper = _Positional(module, names).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: the mask branch is traced taken, on purpose
        with fused_attention(module) if fuse_attention else _nothing():
            flat = wrapper(*args)
            structure = _structure(wrapper.module(dict(zip(names, args))) if wrapper.takes_batch
                                   else wrapper.module(**dict(zip(names, args))))  # fmt: skip
            outputs = [f"output_{i}" for i in range(len(flat))]
            dyn = {n: {0: "batch", 1: "sequence"} for n in names}
            for name, t in zip(outputs, flat):  # dim 0 is the batch; a second dim of the input's length is the sequence
                dyn[name] = {0: "batch"} | ({1: "sequence"} if t.dim() >= 3 and t.shape[1] == ids.shape[1] else {})
            torch.onnx.export(
                wrapper, args, str(path), input_names=names, output_names=outputs, dynamic_axes=dyn,
                opset_version=OPSET, dynamo=False,
            )  # fmt: skip
    return names, structure


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def quantize_int8(src: str | Path, dst: str | Path) -> None:
    """Dynamic int8 quantization (weights int8 per tensor, activations uint8 at run time), ORT's default."""
    require_onnxruntime()
    from onnxruntime.quantization import quantize_dynamic

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # its "consider pre-processing" hint
    quantize_dynamic(str(src), str(dst))


# ----------------------------------------------------------------------------- run
class OrtModule(nn.Module):
    """An ONNX Runtime session that is called like the module it was exported from (keywords, or one
    batch dict), and returns torch tensors in that module's output structure."""

    def __init__(self, session: Any, names: list[str], structure: Any, nbytes: int):
        super().__init__()
        self.session, self.names, self.structure, self.nbytes = session, names, structure, nbytes
        self.graph_inputs = [i.name for i in session.get_inputs()]

    def forward(self, batch: dict | None = None, **kwargs: torch.Tensor) -> Any:
        batch = {**(batch or {}), **kwargs}
        missing = [n for n in self.graph_inputs if n not in batch]
        if missing:
            raise KeyError(f"the exported model needs input(s) {missing}; got {sorted(batch)}")
        feeds = {n: batch[n].detach().cpu().numpy() for n in self.graph_inputs}
        outs = iter(torch.from_numpy(o) for o in self.session.run(None, feeds))
        if self.structure == "tensor":
            return next(outs)
        return tuple(None if s is None else next(outs) for s in self.structure)


def ort_module(module: nn.Module, mode: str, threads: int | None = None) -> OrtModule:
    """`module` exported and loaded in ONNX Runtime in `mode` (ort_fp32 | ort_int8). The module is not changed."""
    if mode not in ORT_MODES:
        raise ValueError(f"unknown ONNX Runtime mode {mode!r}; known: {', '.join(ORT_MODES)}")
    ort = require_onnxruntime()
    was_training = module.training
    module.eval()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            names, structure = export_onnx(module, path)
            if mode == "ort_int8":
                quantize_int8(path, Path(tmp) / "model.int8.onnx")
                path = Path(tmp) / "model.int8.onnx"
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.intra_op_num_threads = threads or torch.get_num_threads()  # fixed, as torch's
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.log_severity_level = 3
            # No spin-waiting between calls: spinning pool threads steal the cores from the next column of an
            # interleaved pass (PyTorch fp32 ran 5x slower beside spinning sessions on 2 cores); it also won here.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            nbytes = path.stat().st_size
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])  # read: file not needed
    finally:
        module.train(was_training)
    return OrtModule(session, names, structure, nbytes)
