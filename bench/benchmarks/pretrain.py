"""Pretraining throughput on CPU: our MLM step (head on the masked positions only) against
Hugging Face's `BertForMaskedLM` (head on every position) for the same tiny model.

    python -m bench.benchmarks.pretrain --threads 2

One training step = forward, masked-LM loss, backward, AdamW step, on a batch of 32 x 128 tokens
with 15% of the tokens masked (dynamic masking, as the collator does). The implementations run
in alternating rounds so that a neighbour's load on a shared CPU hits them alike; the figure is
the median over the timed steps. `ours (full head)` is our model with the head on every position,
to show how much of the difference the masked-positions-only head accounts for.
"""

from __future__ import annotations

import os

# On a CPU shared with other jobs, OpenMP workers that spin while waiting for a busy core slow a
# 2-thread step several-fold (measured: 2.3 s vs 0.34 s a step); passive waiting avoids it. It
# must be set before torch starts OpenMP, and it changes the speed of both implementations alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from bench.data.masking import IGNORE_INDEX, mask_batch, non_special_ids, special_tokens_mask
from lightning_modules.encoder import EncoderConfig
from lightning_modules.pretrain import ObjectiveConfig, PretrainModule

SPECIAL_IDS = (0, 1, 2, 3, 4)  # [PAD] [UNK] [CLS] [SEP] [MASK]
MASK_ID = 4
REFERENCE_HF_TOKENS_PER_S = 8900  # measured on this kind of machine (STACK_NOTES), full-vocabulary head


def tiny_config(
    vocab: int = 8000, hidden: int = 128, layers: int = 2, heads: int = 2, intermediate: int = 512
) -> EncoderConfig:
    return EncoderConfig(
        vocab_size=vocab,
        embedding_size=hidden,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        pooler=False,
    )


def make_batch(cfg: EncoderConfig, batch: int, seq: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(len(SPECIAL_IDS), cfg.vocab_size, (batch, seq), generator=g)
    ids[:, 0], ids[:, -1] = 2, 3
    random_ids = torch.tensor(non_special_ids(cfg.vocab_size, SPECIAL_IDS))
    masked, labels = mask_batch(
        ids,
        special_tokens_mask(ids, SPECIAL_IDS),
        mlm_probability=0.15,
        mask_id=MASK_ID,
        random_ids=random_ids,
        generator=g,
    )
    return {
        "input_ids": masked,
        "attention_mask": torch.ones_like(ids),
        "token_type_ids": torch.zeros_like(ids),
        "labels": labels,
    }


def ours_step(cfg: EncoderConfig, full_head: bool = False) -> Callable[[dict], float]:
    module = PretrainModule(cfg, ObjectiveConfig(name="bench", masking="dynamic"))
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-4)

    def step(batch: dict) -> float:
        if full_head:
            hidden, _ = module.encoder(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
            logits = module.mlm_head(hidden)
            loss = F.cross_entropy(logits.view(-1, cfg.vocab_size), batch["labels"].view(-1), ignore_index=IGNORE_INDEX)
        else:
            loss = module.compute_losses(batch)["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def hf_step(cfg: EncoderConfig) -> Callable[[dict], float] | None:
    try:
        from transformers import BertConfig, BertForMaskedLM
    except ImportError:
        return None
    hf_cfg = BertConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_position_embeddings,
    )
    model = BertForMaskedLM(hf_cfg)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(batch: dict) -> float:
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step


def run(
    threads: int = 2,
    steps: int = 20,
    warmup: int = 3,
    batch: int = 32,
    seq: int = 128,
    vocab: int = 8000,
    hidden: int = 128,
    layers: int = 2,
    full_head: bool = True,
) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = tiny_config(vocab, hidden, layers)
    data = make_batch(cfg, batch, seq)
    impls: dict[str, Callable[[dict], float]] = {"ours (masked positions)": ours_step(cfg)}
    if full_head:
        impls["ours (full head)"] = ours_step(cfg, full_head=True)
    hf = hf_step(cfg)
    if hf is not None:
        impls["HF BertForMaskedLM"] = hf
    times: dict[str, list[float]] = {name: [] for name in impls}
    for i in range(warmup + steps):
        for name, step in impls.items():
            t0 = time.perf_counter()
            step(data)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    tokens = batch * seq
    rows = {
        name: {"ms_per_step": 1000 * statistics.median(t), "tokens_per_s": tokens / statistics.median(t)}
        for name, t in times.items()
    }
    ours = rows["ours (masked positions)"]["tokens_per_s"]
    result = {
        "threads": threads,
        "batch": batch,
        "seq": seq,
        "vocab": vocab,
        "hidden": hidden,
        "layers": layers,
        "masked_fraction": float((data["labels"] != IGNORE_INDEX).float().mean()),
        "rows": rows,
        "speedup_vs_hf": ours / rows["HF BertForMaskedLM"]["tokens_per_s"] if hf else None,
        "speedup_vs_hf_reference": ours / REFERENCE_HF_TOKENS_PER_S,
    }
    return result


def render(result: dict) -> str:
    lines = [
        f"tiny MLM pretraining step on CPU ({result['threads']} threads): H={result['hidden']} L={result['layers']} "
        f"V={result['vocab']}, batch {result['batch']} x seq {result['seq']}, "
        f"{100 * result['masked_fraction']:.1f}% masked",
        "",
        "| implementation | ms/step | tokens/s |",
        "| --- | ---: | ---: |",
    ]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {row['ms_per_step']:.1f} | {row['tokens_per_s']:,.0f} |")
    if result["speedup_vs_hf"] is not None:
        lines.append(f"\nours / HF (same run): {result['speedup_vs_hf']:.2f}x")
    lines.append(
        f"ours / HF reference {REFERENCE_HF_TOKENS_PER_S:,} tokens/s: {result['speedup_vs_hf_reference']:.2f}x"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--no-full-head", action="store_true", help="skip the 'ours (full head)' row")
    p.add_argument("--json", help="also write the result as JSON to this file")
    args = p.parse_args(argv)
    result = run(
        threads=args.threads,
        steps=args.steps,
        warmup=args.warmup,
        batch=args.batch,
        seq=args.seq,
        full_head=not args.no_full_head,
    )
    print(render(result))
    if args.json:
        from bench.io import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
