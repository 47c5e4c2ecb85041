"""ONNX Runtime as a backend (the ort_* modes), the optimum-benchmark-style statistics (percentiles,
throughput, peak memory from the timed calls only) and the inference-backends report.

Tiny random encoders only; nothing here asserts how fast anything is.
"""

import re

import numpy as np
import pytest
import torch
from torch import nn

from bench.jobs.speed import (
    PeakMemory,
    default_settings,
    measure,
    mode_accuracy_cost,
    percentile,
    prepare_mode,
    summarize,
    time_columns,
)
from bench.jobs.speed.timing import Encoded
from bench.results.report.backends import columns, fastest_ratio, render, write_report
from lightning_modules.encoder import Encoder, EncoderConfig

pytest.importorskip("onnxruntime")
FP32_TOL = 1e-4  # ONNX Runtime fp32 vs PyTorch fp32 on the hidden states (seen: ~1e-6)
INT8_TOL = 0.2  # dynamic int8 vs fp32 on the hidden states of a tiny random encoder (seen: 0.02-0.05)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**kw) -> EncoderConfig:
    d = dict(vocab_size=64, embedding_size=32, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
             max_position_embeddings=64, dropout=0.0, attention_dropout=0.0)  # fmt: skip
    return EncoderConfig(**(d | kw))


def batch_for(cfg: EncoderConfig, b: int = 3, t: int = 11) -> dict[str, torch.Tensor]:
    """Another batch and length than the export's example (dynamic axes), with one padded row."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, cfg.vocab_size, (b, t), generator=g)
    mask = torch.ones_like(ids)
    mask[-1, t // 2 :] = 0
    out = {"input_ids": ids, "attention_mask": mask}
    if cfg.type_vocab_size >= 2:
        out["token_type_ids"] = (torch.arange(t) >= t // 2).long().expand(b, t)
    return out


# Every family's shape and every sharing mode (BERT: types + pooler; ALBERT: E != H, all shared;
# RoBERTa/DistilBERT: no token types, no pooler).
ARCHS = {
    "bert": {},
    "albert_E16_all": dict(embedding_size=16, sharing="all"),
    "shared_attention": dict(sharing="attention"),
    "shared_ffn_no_types_no_pooler": dict(sharing="ffn", type_vocab_size=0, pooler=False),
}


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_export_equals_the_pytorch_encoder(arch):
    torch.manual_seed(0)
    enc = Encoder(tiny(**ARCHS[arch])).eval()
    batch = batch_for(enc.cfg)
    with torch.no_grad():
        ref = enc(**batch)
        for mode, tol in (("ort_fp32", FP32_TOL), ("ort_int8", INT8_TOL)):
            model, _ = prepare_mode(enc, mode)
            out = model(**batch)
            assert (out[0] - ref[0]).abs().max() < tol, mode
            if ref[1] is None:
                assert out[1] is None
            else:
                assert (out[1] - ref[1]).abs().max() < tol, mode
            one = {k: v[:1, :5] for k, v in batch.items()}  # batch 1, unpadded: other dynamic sizes
            assert (model(**one)[0] - enc(**one)[0]).abs().max() < tol, mode


def test_the_fused_attention_op_is_in_the_graph(tmp_path):
    import onnx

    from bench.jobs.speed.onnx_backend import export_onnx

    enc = Encoder(tiny(sharing="attention")).eval()
    export_onnx(enc, tmp_path / "m.onnx")
    ops = [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert ops.count("Attention") == enc.cfg.num_layers  # a shared block is applied once per layer
    assert "forward" not in vars(enc.attention[0])  # the export's patch is undone


def test_hugging_face_peer_exports_plainly_and_matches():
    transformers = pytest.importorskip("transformers")  # noqa: F841
    from bench.jobs.speed import build_hf_model

    cfg = tiny()
    hf = build_hf_model(cfg, "bert")[0].eval()
    batch = batch_for(cfg)
    model, _ = prepare_mode(hf, "ort_fp32")
    with torch.no_grad():
        assert (model(**batch)[0] - hf(**batch).last_hidden_state).abs().max() < FP32_TOL


def test_ort_modes_are_cpu_only_and_missing_onnxruntime_is_a_recorded_error(monkeypatch):
    enc = Encoder(tiny())
    with pytest.raises(ValueError, match="CPU only"):
        prepare_mode(enc, "ort_int8", device="cuda")
    with pytest.raises(ValueError, match="speed.gpu.modes"):
        default_settings(gpu={"modes": ["fp32", "ort_fp32"]})
    import bench.jobs.speed.onnx_backend as ob

    def missing():
        raise ImportError("the ONNX Runtime modes (ort_fp32, ort_int8) need the onnx extra")

    monkeypatch.setattr(ob, "require_onnxruntime", missing)
    encoded = [Encoded([2, 7, 8, 3], [0, 0, 0, 0])] * 3
    out = measure(enc, encoded, default_settings(modes=["fp32", "ort_int8"], warmup=1, threads=1, hf=False))
    assert "onnx extra" in out["speed/ort_int8/error"] and "speed/ort_int8/p50_ms" not in out
    assert out["speed/fp32/n_examples"] == 3  # the paper's column is unaffected


class TinyFineTuned(nn.Module):
    """A FineTuneModule-like model: forward takes one batch dict (the accuracy-cost path's contract)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.encoder, self.head = Encoder(cfg), nn.Linear(cfg.hidden_size, 2)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.head(
            self.encoder(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))[0][:, 0]
        )


def test_accuracy_cost_path_runs_the_onnx_modes():
    torch.manual_seed(0)
    model = TinyFineTuned(tiny(type_vocab_size=0)).eval()
    batches = [batch_for(model.encoder.cfg, b=4, t=9) | {"labels": torch.tensor([0, 1, 0, 1])} for _ in range(2)]
    agree = lambda p, y: 100.0 * float((p.argmax(-1) == y).float().mean())  # noqa: E731
    res = mode_accuracy_cost(model, batches, agree, ["fp32", "ort_fp32"])
    assert res["ort_fp32"] == res["fp32"]  # same logits up to ~1e-6: same argmax


# ----------------------------------------------------------------------------- statistics and memory
def test_percentiles_are_nearest_rank_over_the_timed_calls():
    s = summarize([0.001 * i for i in range(1, 101)], [1] * 100, 100, tokens=[10] * 100, memory=[(2**20, 2**19)] * 100)
    assert (s["p50_ms"], s["p90_ms"], s["p99_ms"]) == pytest.approx((50, 90, 99))
    assert s["std_ms"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert s["tokens_per_s"] == pytest.approx(1000 / 5.05) and (s["peak_memory_mb"], s["call_memory_mb"]) == (1, 0.5)
    assert percentile([1.0] * 69 + [2.0], 90) == 1.0  # 0.9 * 70 is 63.000000000000001 in floats: still rank 63


def test_peak_memory_counts_the_timed_calls_only():
    if not PeakMemory().resettable:
        pytest.skip("the peak RSS cannot be reset on this system")
    calls = {"n": 0}

    def big_in_warmup(batch):
        calls["n"] += 1
        np.ones(50_000_000 if calls["n"] <= 2 else 10_000_000).sum()  # warm-up: 400 MB touched, timed: 80 MB

    memory = {}
    times, _ = time_columns({"x": big_in_warmup}, [{}] * 4, warmup=2, memory=memory)
    assert len(times["x"]) == len(memory["x"]) == 4  # one sample per timed call
    assert max(p for p, _ in memory["x"]) < PeakMemory().peak() + 300 * 2**20  # the 400 MB warm-up peak is not in them
    # what a timed call added: the median of the four (one sample can catch another thread's allocation or the
    # kernel's page accounting mid-way; a fresh clone's CI once saw one outside the range)
    added = sorted(d for _, d in memory["x"])
    assert 60 * 2**20 < (added[1] + added[2]) / 2 < 300 * 2**20, [round(d / 2**20) for d in added]


# ----------------------------------------------------------------------------- the report
def test_a_sweep_over_two_batch_sizes_yields_two_rows_per_column(tmp_path):
    torch.manual_seed(0)
    enc = Encoder(tiny(type_vocab_size=0, pooler=False)).eval()
    encoded = [Encoded([2] + [7 + i % 20] * (3 + i % 5) + [3], [0] * (5 + i % 5)) for i in range(6)]
    groups = []
    for bs in (1, 2):
        s = default_settings(modes=["fp32", "ort_fp32"], warmup=1, threads=1, hf=False, batch_size=bs)
        r = measure(enc, encoded, s)
        for k in ("p50_ms", "p90_ms", "p99_ms", "std_ms", "tokens_per_s", "peak_memory_mb", "call_memory_mb"):
            assert r[f"speed/ort_fp32/{k}"] >= 0
        assert r["speed/ort_fp32/max_abs_diff"] < FP32_TOL
        groups.append({"model": "tiny", "batch_size": bs, "max_length": 128, "summary": r})
    md = render(groups, {"task": "toy", "metric": "acc", "steps": 1, "cost": {"fp32": 0.0, "ort_fp32": 0.0}})
    rows = [line for line in md.splitlines() if re.match(r"\| tiny \| \d \| 128 \| suite \| ONNX Runtime", line)]
    assert [r.split("|")[2].strip() for r in rows] == ["1", "2"]
    assert "cpu_flags" in md and "onnxruntime" in md
    assert "fastest suite mode / fastest ONNX Runtime" not in md  # no ONNX Runtime peer column was timed
    path = write_report(groups, None, tmp_path)
    assert path.read_text().endswith("(inference_backends.png)\n")
    assert (tmp_path / "inference_backends.png").read_bytes()[:4] == b"\x89PNG"


def test_fastest_ratio_leaves_out_modes_over_the_accuracy_budget():
    summary = {f"speed/{m}/p50_ms": v for m, v in (("fp32", 20.0), ("int8_dynamic", 5.0), ("ort_int8", 8.0))}
    summary |= {"speed/hf/ort_int8/p50_ms": 10.0, "speed/hf/fp32/p50_ms": 30.0}
    cols = columns(summary)
    assert fastest_ratio(cols, None)[0] == 0.5  # int8_dynamic
    ratio, ours, peer = fastest_ratio(cols, {"int8_dynamic": 0.9, "ort_int8": 0.1})
    assert (ratio, ours["mode"], peer["mode"]) == (0.8, "ort_int8", "ort_int8")


def test_groups_from_runs_one_group_per_finished_speed_run():
    import pandas as pd

    from bench.results.report.backends import groups_from_runs

    base = {"job_type": "speed", "config.model.name": "distilbert_base", "summary.speed/p50_ms": 9.0,
            "summary.speed/fp32/p50_ms": 9.0, "summary.speed/max_length": 128}  # fmt: skip
    frame = pd.DataFrame([
        base | {"state": "finished", "summary.speed/batch_size": 8},
        base | {"state": "finished", "summary.speed/batch_size": 1},
        base | {"state": "failed", "summary.speed/batch_size": 32},
    ])  # fmt: skip
    groups = groups_from_runs(frame, {"distilbert_base": "DistilBERT"})
    assert [(g["model"], g["batch_size"]) for g in groups] == [("DistilBERT", 1), ("DistilBERT", 8)]
    assert columns(groups[0]["summary"])[0]["p50_ms"] == 9.0
