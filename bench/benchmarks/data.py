"""Data-layer benchmark: world generation, tokenizer training, tokenization throughput, the
feature cache, and the padded/real token ratio of training batches with and without length
grouping (target <= 1.15 with grouping).

    python -m bench.benchmarks.data                          # tiny synthetic world in a fresh temp cache
    python -m bench.benchmarks.data --tasks sst2 squad_v2 --batch-size 32 --max-length 128
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from omegaconf import OmegaConf

from bench.config.compose import compose_config
from bench.data import (
    build_features,
    get_tokenizer,
    load_task,
    load_task_spec,
    make_dataloader,
    padding_ratio,
    special_ids,
)
from bench.data.features import encode_split
from bench.data.synthetic import ensure_synthetic

DEFAULT_TASKS = ["sst2", "mnli", "stsb", "squad_v2", "race", "xnli_zh"]


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128, help="classification and span tasks; RACE uses 2x")
    parser.add_argument("--doc-stride", type=int, default=32)
    parser.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder (nothing cached)")
    parser.add_argument("--overrides", nargs="*", default=[], help="Hydra overrides for the data config, e.g. data.seed=7")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        cfg = OmegaConf.to_container(compose_config(["data=synthetic", *args.overrides]).data, resolve=True)
        cfg["cache_dir"] = args.cache_dir or tmp
        root, t_world = _timed(ensure_synthetic, cfg)
        print(f"synthetic world: {t_world:.1f} s -> {root}")
        tokenizers = {}
        for language in ("en", "zh"):
            tokenizers[language], t_tok = _timed(get_tokenizer, cfg, language)
            print(f"tokenizer {language}: trained in {t_tok:.1f} s, vocab {special_ids(tokenizers[language]).vocab_size}")
        print()
        header = f"{'task':10} {'split':8} {'examples':>8} {'features':>8} {'ex/s':>8} {'tokens/s':>9} {'cached s':>8} {'pad ratio grouped':>17} {'pad ratio plain':>15}"
        print(header)
        print("-" * len(header))
        for task in args.tasks:
            spec = load_task_spec(task)
            tok = tokenizers[spec.language]
            max_length = args.max_length * (2 if spec.type == "multiple_choice" else 1)
            stride = args.doc_stride if spec.type == "span_qa" else None
            split = spec.train_split
            raw = load_task(task, cfg)[split]
            feats, t_enc = _timed(encode_split, spec, raw, tok, split, max_length, stride)
            build_features(task, cfg, tok, split, max_length, stride)  # fills the cache
            _, t_cached = _timed(build_features, task, cfg, tok, split, max_length, stride)
            tokens = sum(sum(m) if isinstance(m[0], int) else sum(map(sum, m)) for m in feats["attention_mask"])
            pad = special_ids(tok).pad
            ratios = [padding_ratio(make_dataloader(feats, args.batch_size, shuffle=True, seed=0, pad_id=pad, group_by_length=g))
                      for g in (True, False)]
            print(f"{task:10} {split:8} {len(raw):8d} {len(feats):8d} {len(raw) / t_enc:8.0f} {tokens / t_enc:9.0f} "
                  f"{t_cached:8.3f} {ratios[0]:17.3f} {ratios[1]:15.3f}")
        print(f"\nbatch size {args.batch_size}, max_length {args.max_length} (RACE {2 * args.max_length}), doc_stride "
              f"{args.doc_stride}; pad ratio = tokens fed (batch x longest) / real tokens, over one training epoch.")


if __name__ == "__main__":
    main()
