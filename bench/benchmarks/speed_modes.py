"""Benchmark: our encoder against Hugging Face's, and the faster inference modes, at full size.

    python -m bench.benchmarks.speed_modes [--threads 1] [--examples 100] [--models bert_base distilbert_base]
    python -m bench.benchmarks.speed_modes --accuracy sst2 stsb [--steps 400]   # accuracy cost per mode

For each model: one interleaved pass (bench.jobs.speed.measure: batch 1, untimed tokenization and
warm-up) over STS-B-like pairs, with every mode of our encoder and Hugging Face's fp32 model as
columns, then the output drift of each mode against fp32 (relative error of the hidden states;
a proxy only: the accuracy cost is measured on a fine-tuned model by `mode_accuracy_cost`).
`--accuracy` instead fine-tunes a tiny-profile model on the synthetic task (a short plain loop) and
evaluates it on the validation split in each mode with `mode_accuracy_cost`: how the lead's
wiring to a real fine-tuned checkpoint looks, and a first reading of each mode's accuracy cost.
The pairs come from the data layer's synthetic STS-B when it is installed; otherwise token ids
with a seeded STS-B-like length distribution (labelled in the output).
Ratios measured interleaved hold on a shared machine; absolute times do not.
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from bench.jobs.speed import (
    MODES,
    Encoded,
    accuracy_drops,
    build_hf_model,
    default_settings,
    encode_pairs,
    make_batches,
    measure,
    mode_accuracy_cost,
    native_bf16,
    prepare_mode,
)
from lightning_modules.encoder import Encoder, EncoderConfig

MODELS = {
    "bert_base": EncoderConfig(),
    "distilbert_base": EncoderConfig(num_layers=6, type_vocab_size=0, pooler=False),
}
PAPER_DISTILBERT_OVER_BERT = 410 / 668


def stsb_like(n: int, seed: int = 0) -> tuple[list[Encoded], str]:
    """STS-B dev-like inputs: the data layer's synthetic set, else seeded random ids."""
    try:
        from bench.config.compose import compose_config
        from bench.jobs.speed import load_pairs, load_tokenizer

        cfg = compose_config(["task=stsb", "data=synthetic"])
        return encode_pairs(load_pairs(cfg, "validation", n), load_tokenizer(cfg), 128), "synthetic STS-B (bench.data)"
    except Exception as e:  # noqa: BLE001 - the data layer may not be there yet
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            a, b = (max(4, min(60, round(rng.lognormvariate(2.45, 0.4)))) for _ in range(2))  # ~12 tokens each
            ids = (
                [101]
                + [rng.randrange(1000, 30000) for _ in range(a)]
                + [102]
                + [rng.randrange(1000, 30000) for _ in range(b)]
                + [102]
            )
            out.append(Encoded(ids, [0] * (a + 2) + [1] * (b + 1)))
        return out, f"seeded random ids, STS-B-like lengths (data layer unavailable: {type(e).__name__})"


def drift(encoder: Encoder, encoded: list[Encoded], modes: list[str], n: int = 20) -> dict[str, float]:
    """Relative L2 error of the last hidden states of each mode against fp32 (max over n examples)."""
    batches = make_batches(encoded[:n], 1, 0, encoder.cfg.type_vocab_size >= 2, "cpu")
    out = {}
    with torch.inference_mode():
        ref = [encoder(**b)[0] for b in batches]
        for mode in modes:
            model, ctx = prepare_mode(encoder, mode)
            errs = []
            for b, r in zip(batches, ref):
                with ctx():
                    h = model(**b)[0].float()
                errs.append(float((h - r).norm() / r.norm()))
            out[mode] = max(errs)
    return out


def accuracy_cost(task: str, steps: int, modes: list[str], seed: int = 0) -> dict[str, float]:
    """Fine-tune the tiny-profile encoder on the synthetic `task`, then its metric (points) per mode."""
    from bench.config.architecture import effective_encoder_config
    from bench.config.compose import compose_config
    from bench.data import build_features, get_tokenizer, make_dataloader, special_ids
    from bench.jobs.finetune import finetune_arch, finetune_hparams, head_dropout
    from lightning_modules.finetune import FineTuneModule

    cfg = compose_config([f"task={task}", "profile=tiny", f"seed={seed}"])
    ft = finetune_hparams(cfg)  # the job's own: the profile's, then its entry for the task's type
    tok = get_tokenizer(cfg.data, cfg.task.language)
    pad = special_ids(tok).pad
    enc_cfg = effective_encoder_config(cfg, vocab_size=tok.get_vocab_size())
    enc_cfg.pad_token_id = pad
    torch.manual_seed(seed)
    model = FineTuneModule(finetune_arch(enc_cfg, ft), cfg.task.type, len(cfg.task.label_names or []) or None,
                           **head_dropout(ft))
    opt = torch.optim.AdamW(model.parameters(), lr=ft["lr"], weight_decay=ft["weight_decay"])
    train = make_dataloader(
        build_features(cfg.task, cfg.data, tok, "train", ft["max_length"]), ft["batch_size"], True, seed, pad
    )
    step = 0
    while step < steps:
        for batch in train:
            loss = model.loss(model(batch), batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == steps:
                break
    val = make_dataloader(build_features(cfg.task, cfg.data, tok, "validation", ft["max_length"]), 64, False, seed, pad)
    if cfg.task.type == "regression":
        metric = lambda p, y: 100 * torch.corrcoef(torch.stack([p, y.float()]))[0, 1].item()  # noqa: E731 - Pearson
    else:
        metric = lambda p, y: 100 * (p.argmax(-1) == y).float().mean().item()  # noqa: E731
    return mode_accuracy_cost(model, list(val), metric, modes)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--examples", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    default_modes = ["fp32", "int8_dynamic", "compile"] + (["bf16_autocast", "bf16"] if native_bf16("cpu") else [])
    ap.add_argument(
        "--modes", nargs="+", default=default_modes, choices=MODES, help="bf16 modes only by default where native"
    )
    ap.add_argument("--no-drift", action="store_true")
    ap.add_argument(
        "--accuracy", nargs="+", metavar="TASK", help="measure accuracy cost per mode on these tasks instead"
    )
    ap.add_argument("--steps", type=int, default=400, help="fine-tuning steps for --accuracy")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.accuracy:
        for task in args.accuracy:
            res = accuracy_cost(task, args.steps, args.modes)
            drops = accuracy_drops(res)
            print(
                f"{task} (tiny profile, {args.steps} steps): "
                + ", ".join(f"{m} {v:.2f} (drop {drops[m]:+.2f})" for m, v in res.items())
            )
        return
    encoded, source = stsb_like(args.examples)
    lengths = [len(e.input_ids) for e in encoded]
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {len(encoded)} examples from {source}, "
        f"seq len mean {sum(lengths) / len(lengths):.1f} max {max(lengths)}"
    )
    totals = {}
    for name in args.models:
        torch.manual_seed(0)
        cfg = MODELS[name]
        encoder, hf = Encoder(cfg).eval(), build_hf_model(cfg)[0].eval()
        s = default_settings(
            modes=args.modes, warmup=args.warmup, threads=args.threads, hf_modes=["fp32"], skip_emulated_bf16=False
        )
        t0 = time.perf_counter()
        r = measure(encoder, encoded, s, hf)
        dr = {} if args.no_drift else drift(encoder, encoded, [m for m in args.modes if m != "fp32"])
        print(f"\n{name} ({r['speed/architecture']}), {time.perf_counter() - t0:.0f} s wall")
        print(f"{'column':<16} {'total s':>8} {'median ms':>10} {'p90 ms':>8} {'/ HF fp32':>9} {'drift':>8}")
        for col in [f"speed/{m}" for m in args.modes] + ["speed/hf/fp32"]:
            if f"{col}/error" in r:
                print(f"{col[6:]:<16} error: {r[col + '/error'][:80]}")
                continue
            ratio = r[f"{col}/total_s"] / r["speed/hf_total_s"]
            d = dr.get(col.split("/")[-1])
            print(
                f"{col[6:]:<16} {r[col + '/total_s']:>8.2f} {r[col + '/median_ms']:>10.1f} {r[col + '/p90_ms']:>8.1f} "
                f"{ratio:>9.2f} {'' if d is None else f'{d:.1e}':>8}"
            )
        totals[name] = (r["speed/total_s"], r["speed/hf_total_s"])
    if {"bert_base", "distilbert_base"} <= set(totals):
        (ob, hb), (od, hd) = totals["bert_base"], totals["distilbert_base"]
        print(f"\nDistilBERT / BERT-base: ours {od / ob:.2f}, HF {hd / hb:.2f}, paper {PAPER_DISTILBERT_OVER_BERT:.2f}")


if __name__ == "__main__":
    main()
