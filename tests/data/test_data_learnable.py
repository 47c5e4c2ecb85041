"""The synthetic tasks are learnable: a tiny encoder (lightning_modules.encoder.Encoder, H=64, L=2)
plus a linear head, trained from scratch for a few hundred steps in a plain torch loop, beats the
majority baseline on SST-2-like, MNLI-like and SQuAD-like data."""

from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from bench.data import build_features, get_tokenizer, load_task, load_task_spec, make_dataloader, special_ids
from bench.data.features import encode_split
from lightning_modules.encoder import Encoder, EncoderConfig
from tests.support.world import small_data_cfg

SIZES = {"train": 100, "eval": 400, "test": 10, "corpus": {"en": 600, "zh": 20},
         "overrides": {t: {"train": 3000} for t in ("sst2", "mnli", "squad_v1")}}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return small_data_cfg(tmp_path_factory.mktemp("cache"), SIZES)


def train(task, cfg, steps, max_length, doc_stride=None, lr=1e-3):
    """Fine-tune a fresh tiny encoder; return (its forward function, the pad id)."""
    torch.manual_seed(0)
    spec = load_task_spec(task)
    tok = get_tokenizer(cfg, "en")
    ids = special_ids(tok)
    tr = build_features(task, cfg, tok, spec.train_split, max_length, doc_stride)
    encoder = Encoder(EncoderConfig(vocab_size=ids.vocab_size, embedding_size=64, hidden_size=64, num_layers=2, num_heads=2,
                                    intermediate_size=128, max_position_embeddings=max_length))
    head = torch.nn.Linear(64, 2 if spec.type == "span_qa" else spec.num_labels)
    params = [*encoder.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warmup = steps // 10
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps))

    def forward(batch):
        hidden, pooled = encoder(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        return head(hidden) if spec.type == "span_qa" else head(pooled)

    loader = make_dataloader(tr, 32, shuffle=True, seed=0, pad_id=ids.pad)
    step, epoch = 0, 0
    while step < steps:
        loader.batch_sampler.set_epoch(epoch)
        for batch in loader:
            out = forward(batch)
            if spec.type == "span_qa":
                loss = (F.cross_entropy(out[..., 0], batch["start_positions"]) + F.cross_entropy(out[..., 1], batch["end_positions"])) / 2
            else:
                loss = F.cross_entropy(out, batch["labels"])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if step == steps:
                break
        epoch += 1
    encoder.eval()
    return forward, ids.pad


def accuracy_vs_majority(task, cfg, steps, max_length):
    forward, pad = train(task, cfg, steps, max_length)
    spec = load_task_spec(task)
    split = next(iter(spec.eval_splits))
    ev = build_features(task, cfg, get_tokenizer(cfg, "en"), split, max_length)
    correct = 0
    with torch.no_grad():
        for batch in make_dataloader(ev, 128, shuffle=False, seed=0, pad_id=pad):
            correct += (forward(batch).argmax(-1) == batch["labels"]).sum().item()
    majority = Counter(ev["labels"]).most_common(1)[0][1] / len(ev)
    return correct / len(ev), majority


def test_sst2_like_is_learned(cfg):
    acc, majority = accuracy_vs_majority("sst2", cfg, steps=250, max_length=64)
    assert acc > majority + 0.2, (acc, majority)


def test_mnli_like_beats_majority(cfg):
    acc, majority = accuracy_vs_majority("mnli", cfg, steps=300, max_length=96)
    assert acc > majority + 0.04, (acc, majority)


def test_squad_like_finds_answer_spans(cfg):
    """Exact start and end token on held-out windows, against always predicting the most
    frequent (start, end) pair of the training windows."""
    forward, pad = train("squad_v1", cfg, steps=300, max_length=96, doc_stride=32)
    tok = get_tokenizer(cfg, "en")
    # validation examples as training-style windows, so every window has gold positions
    ev = encode_split(load_task_spec("squad_v1"), load_task("squad_v1", cfg)["validation"], tok, "train", 96, 32)
    tr = build_features("squad_v1", cfg, tok, "train", 96, 32)
    baseline_pair = Counter(zip(tr["start_positions"], tr["end_positions"])).most_common(1)[0][0]
    hits = base = 0
    with torch.no_grad():
        for batch in make_dataloader(ev, 128, shuffle=False, seed=0, pad_id=pad):
            out = forward(batch).masked_fill(batch["attention_mask"][..., None] == 0, -1e9)
            start, end = out[..., 0].argmax(-1), out[..., 1].argmax(-1)
            gold_s, gold_e = batch["start_positions"], batch["end_positions"]
            hits += ((start == gold_s) & (end == gold_e)).sum().item()
            base += ((gold_s == baseline_pair[0]) & (gold_e == baseline_pair[1])).sum().item()
    assert hits / len(ev) > base / len(ev) + 0.08, (hits / len(ev), base / len(ev))
