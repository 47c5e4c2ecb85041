"""Benchmark: the encoder's forward at batch 1 (random weights), median ms and achieved GFLOP/s.

    python -m bench.benchmarks.encoder [--threads 2] [--repeats 30]

The matmul peak of the 2-core reference machine is about 190 GFLOP/s; the aim is >= 70% of it at
seq 128 for BERT-base. Numbers are only comparable on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lightning_modules.encoder import Encoder, EncoderConfig, forward_flops

MODELS = {
    "bert_base": EncoderConfig(dropout=0.0, attention_dropout=0.0),
    "distilbert_base": EncoderConfig(num_layers=6, type_vocab_size=0, pooler=False, dropout=0.0, attention_dropout=0.0),
}


def matmul_peak(threads: int, n: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        t.append(time.perf_counter() - t0)
    return 2 * n**3 / min(t) / 1e9


def time_forward(enc: Encoder, seq: int, repeats: int) -> list[float]:
    ids = torch.randint(1000, 2000, (1, seq))
    with torch.inference_mode():
        for _ in range(5):
            enc(ids)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            enc(ids)
            times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seqs", type=int, nargs="+", default=[32, 64, 128])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = matmul_peak(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, measured matmul peak {peak:.0f} GFLOP/s")
    print(f"{'model':<16} {'seq':>4} {'median ms':>10} {'GFLOP/s':>8} {'% of peak':>9}")
    for name, cfg in MODELS.items():
        enc = Encoder(cfg).eval()
        for seq in args.seqs:
            med = statistics.median(time_forward(enc, seq, args.repeats))
            gflops = forward_flops(cfg, seq) / med / 1e9
            print(f"{name:<16} {seq:>4} {med * 1e3:>10.1f} {gflops:>8.1f} {gflops / peak:>8.0%}")


if __name__ == "__main__":
    main()
