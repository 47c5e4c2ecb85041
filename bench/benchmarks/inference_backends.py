"""Benchmark and report: every inference mode of the suite beside ONNX Runtime, for BERT-base and
DistilBERT at full size, written as reports/inference_backends.md + .png (bench.results.report.backends).

    python -m bench.benchmarks.inference_backends --out reports            # ~4-5 min on 2 cores
    python -m bench.benchmarks.inference_backends --batch-sizes 1 8 --max-lengths 32 128 --out /tmp/r

Per (model, batch size, max length): one interleaved pass (bench.jobs.speed.measure: untimed
tokenization and warm-up, the same STS-B-like inputs for every column) with the suite's modes (PyTorch
fp32, int8 dynamic, bf16 where the CPU has it natively, ONNX Runtime fp32/int8 of our encoder with the
fused Attention op) and Hugging Face's model in PyTorch fp32 and in ONNX Runtime fp32/int8 (plain
export + `quantize_dynamic` defaults: the peer). Then the accuracy cost of each suite mode on a
tiny-profile model fine-tuned on synthetic STS-B (`mode_accuracy_cost`, as speed_modes --accuracy).
Ratios measured interleaved hold on a shared machine; absolute times do not.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.benchmarks.speed_modes import MODELS, accuracy_cost, stsb_like
from bench.jobs.speed import Encoded, accuracy_drops, build_hf_model, default_settings, measure, native_bf16
from bench.results.report.backends import columns, fastest_ratio, write_report
from lightning_modules.encoder import Encoder

NAMES = {"bert_base": "BERT-base", "distilbert_base": "DistilBERT"}
PEER_MODES = ["fp32", "ort_fp32", "ort_int8"]


def suite_modes() -> list[str]:
    return ["fp32", "int8_dynamic", *(["bf16_autocast"] if native_bf16("cpu") else []), "ort_fp32", "ort_int8"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="reports", help="folder of inference_backends.md + .png")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--examples", type=int, default=80)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[1])
    ap.add_argument("--max-lengths", nargs="+", type=int, default=[128])
    ap.add_argument("--modes", nargs="+", default=None, help="suite modes (default: fp32, int8, bf16 if native, ORT)")
    ap.add_argument("--accuracy-steps", type=int, default=400, help="fine-tuning steps; 0 skips the accuracy cost")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    modes = args.modes or suite_modes()
    t0 = time.perf_counter()
    accuracy = None
    if args.accuracy_steps:
        res = accuracy_cost("stsb", args.accuracy_steps, modes)
        accuracy = {"task": "synthetic STS-B", "metric": "Pearson", "steps": args.accuracy_steps,
                    "cost": accuracy_drops(res), "note": "tiny profile"}  # fmt: skip
        print(
            "accuracy (Pearson):",
            ", ".join(f"{m} {v:.2f}" for m, v in res.items()),
            f"[{time.perf_counter() - t0:.0f} s]",
        )
    pairs_source = stsb_like(args.examples)
    groups = []
    for name in args.models:
        torch.manual_seed(0)
        cfg = MODELS[name]
        encoder, hf = Encoder(cfg).eval(), build_hf_model(cfg)[0].eval()
        for max_length in args.max_lengths:
            # The pre-tokenized STS-B-like pairs (128 tokens at most), cut to this sweep's max length.
            encoded = [Encoded(e.input_ids[:max_length], e.token_type_ids[:max_length]) for e in pairs_source[0]]
            for bs in args.batch_sizes:
                s = default_settings(modes=modes, warmup=args.warmup, threads=args.threads, hf_modes=PEER_MODES,
                                     batch_size=bs, max_length=max_length, skip_emulated_bf16=True)  # fmt: skip
                r = measure(encoder, encoded, s, hf)
                g = {"model": NAMES[name], "batch_size": bs, "max_length": max_length, "summary": r}
                groups.append(g)
                ratio = fastest_ratio(columns(r), accuracy["cost"] if accuracy else None)
                print(
                    f"{NAMES[name]} bs={bs} len={max_length}: "
                    + ", ".join(f"{c['who'][:5]} {c['mode']} {c['p50_ms']:.1f} ms" for c in columns(r))
                    + (f"; fastest suite / fastest ORT = {ratio[0]:.2f}" if ratio else "")
                    + f" [{time.perf_counter() - t0:.0f} s]"
                )
    path = write_report(groups, accuracy, args.out)
    print(f"wrote {path} (+ .png) in {time.perf_counter() - t0:.0f} s; inputs: {pairs_source[1]}")


if __name__ == "__main__":
    main()
