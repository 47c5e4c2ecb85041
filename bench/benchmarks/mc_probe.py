"""Can an encoder with the multiple-choice head learn the first step of reading a RACE question:
is this option's word in the passage? A probe on random words, no data set involved:

    [CLS] w1 ... wN [SEP] option [SEP]    x 4 options, one of which is a word of the passage

with the real FineTuneModule (one logit per option from its [CLS], softmax over the 4; a random
encoder, so the head reads the [CLS] state without the pooler, as the fine-tuning job does).
It prints the training loss (ln 4 = 1.386 is chance) and the accuracy on fresh batches; what it
showed at the tiny profile's size is in docs/notes/race-at-tiny.md.

    python -m bench.benchmarks.mc_probe                          # the tiny profile's encoder, 30 words
    python -m bench.benchmarks.mc_probe --passage 8 --hidden 128 --heads 4 --steps 3000
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from bench.config.compose import compose_config
from lightning_modules.finetune import FineTuneModule

CLS, SEP, FIRST_WORD = 2, 3, 10


def probe_batch(batch_size: int, passage: int, vocab: int, gen: torch.Generator) -> dict:
    words = torch.randint(FIRST_WORD, vocab, (batch_size, passage), generator=gen)
    answer = words[torch.arange(batch_size), torch.randint(0, passage, (batch_size,), generator=gen)]
    options = torch.randint(FIRST_WORD, vocab, (batch_size, 4), generator=gen)
    label = torch.randint(0, 4, (batch_size,), generator=gen)
    options[torch.arange(batch_size), label] = answer
    col = lambda v: torch.full((batch_size, 4, 1), v)  # noqa: E731
    ids = torch.cat([col(CLS), words[:, None].expand(-1, 4, -1), col(SEP), options[..., None], col(SEP)], -1)
    types = torch.zeros_like(ids)
    types[..., passage + 2 :] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": torch.ones_like(ids), "labels": label}


def main(argv: list[str] | None = None) -> None:
    model = compose_config(["profile=tiny"]).profile.model
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=model.hidden_size)
    p.add_argument("--heads", type=int, default=model.num_heads)
    p.add_argument("--layers", type=int, default=model.num_layers)
    p.add_argument("--passage", type=int, default=30, help="words in the passage")
    p.add_argument("--vocab", type=int, default=2000)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--every", type=int, default=250)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    arch = dict(
        vocab_size=args.vocab,
        embedding_size=args.hidden,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        intermediate_size=4 * args.hidden,
        max_position_embeddings=args.passage + 8,
    )
    module = FineTuneModule(arch, "multiple_choice", lr=args.lr, total_steps=args.steps, use_pooler=False)
    opt = module.configure_optimizers()
    optimizer, schedule = opt["optimizer"], opt["lr_scheduler"]["scheduler"]
    gen = torch.Generator().manual_seed(1)
    print(
        f"H={args.hidden} L={args.layers} heads={args.heads} passage={args.passage} lr={args.lr} "
        f"batch={args.batch_size}; chance loss {math.log(4):.3f}"
    )
    losses, start = [], time.perf_counter()
    for step in range(1, args.steps + 1):
        module.train()
        batch = probe_batch(args.batch_size, args.passage, args.vocab, gen)
        loss = module.loss(module(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % args.every == 0 or step == args.steps:
            module.eval()
            with torch.no_grad():
                held = probe_batch(512, args.passage, args.vocab, gen)
                acc = (module(held).argmax(-1) == held["labels"]).float().mean().item()
            print(
                f"step {step:5d}  loss {sum(losses[-args.every :]) / len(losses[-args.every :]):.3f}  "
                f"acc {100 * acc:.1f}%  {time.perf_counter() - start:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
