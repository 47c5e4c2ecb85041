"""Checkpoint store: keys, train-once under a lock (two processes), tied weights, resume from last.ckpt."""

import multiprocessing as mp
import random
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from bench.store.checkpoints import CheckpointStore, get_or_train, load_state_dict, read_config, store_key

# Lightning and the model code are imported inside the tests that need them: the spawned jobs of
# the two-process test import this module, and should start in seconds.

MODEL = dict(
    vocab_size=60,
    embedding_size=16,
    hidden_size=16,
    num_layers=1,
    num_heads=2,
    intermediate_size=32,
    max_position_embeddings=64,
    dropout=0.0,
    attention_dropout=0.0,
)
PARTS = {
    "model": MODEL,
    "objective": {"name": "roberta", "masking": "dynamic"},
    "data": {"source": "synthetic"},
    "seed": 0,
}


def test_key_is_canonical_and_sensitive():
    shuffled = {k: PARTS[k] for k in reversed(list(PARTS))}
    assert store_key(shuffled) == store_key(PARTS) == store_key(OmegaConf.create(PARTS))
    assert store_key({**PARTS, "seed": 1}) != store_key(PARTS)
    assert store_key({**PARTS, "model": {**PARTS["model"], "num_layers": 2}}) != store_key(PARTS)


def test_trains_once_then_loads(tmp_path):
    calls = []

    def train(work_dir, resume):
        calls.append((work_dir, resume))
        (work_dir / "metrics.json").write_text('{"pretrain/ppl": 3.9}')
        (work_dir / "last.ckpt").write_bytes(b"not kept")
        return {"w": torch.arange(4.0)}

    store = CheckpointStore(tmp_path / "store")
    first = store.get_or_train(PARTS, train)
    second = store.get_or_train(PARTS, train)
    assert first == second and len(calls) == 1 and calls[0][1] is None
    assert torch.equal(load_state_dict(first)["w"], torch.arange(4.0))
    assert read_config(first)["key_parts"]["seed"] == 0
    assert (first / "metrics.json").read_text() == '{"pretrain/ppl": 3.9}'  # extra files kept ...
    assert not (first / "last.ckpt").exists()  # ... Lightning checkpoints not
    assert not store.work_dir(store.key(PARTS)).exists()  # the work dir is cleaned after success


def test_tied_weights_round_trip(tmp_path):
    from lightning_modules.pretrain import ObjectiveConfig, PretrainModule

    module = PretrainModule(MODEL, ObjectiveConfig(name="r", masking="dynamic"))
    path = get_or_train(PARTS, lambda work, resume: module, root=tmp_path)
    state = load_state_dict(path)
    assert state["mlm_head.word_embeddings.weight"] is state["encoder.embeddings.word.weight"]
    fresh = PretrainModule(MODEL, ObjectiveConfig(name="r", masking="dynamic"))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.encoder.embeddings.word.weight, module.encoder.embeddings.word.weight)
    assert set(load_state_dict(path, prefix="encoder.")) == set(module.encoder.state_dict())


def _slow_train(work_dir: Path, resume):
    """Module-level so that a spawned process can unpickle it; counts its calls in a shared file."""
    with open(work_dir.parents[1] / "calls.txt", "a") as f:
        f.write("trained\n")
    time.sleep(1.5)
    return {"w": torch.ones(3)}


def _job(root: str, queue, barrier) -> None:
    barrier.wait(timeout=60)  # both ask at the same moment: the second must wait on the lock
    t0 = time.monotonic()
    path = get_or_train(PARTS, _slow_train, root=root)
    queue.put((str(path), time.monotonic() - t0))


def test_two_processes_train_once(tmp_path):
    ctx = mp.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(2)
    jobs = [ctx.Process(target=_job, args=(str(tmp_path), queue, barrier)) for _ in range(2)]
    for j in jobs:
        j.start()
    results = [queue.get(timeout=120) for _ in jobs]
    for j in jobs:
        j.join(timeout=60)
        assert j.exitcode == 0
    paths = [p for p, _ in results]
    assert paths[0] == paths[1]
    assert min(t for _, t in results) > 1.0  # both waited for the one training (1.5 s)
    assert (tmp_path / "calls.txt").read_text().splitlines() == ["trained"]
    assert torch.equal(load_state_dict(paths[0])["w"], torch.ones(3))


def _callbacks():
    from lightning.pytorch.callbacks import Callback

    class Crash(Callback):
        def __init__(self, at_step: int):
            self.at_step = at_step

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if trainer.global_step == self.at_step:
                raise RuntimeError("simulated preemption")

    class StartStep(Callback):
        step = None

        def on_train_start(self, trainer, pl_module):
            self.step = trainer.global_step

    return Crash, StartStep


def _documents():
    from bench.data.pretraining import TokenizedSentence

    rng = random.Random(0)
    return [
        [
            TokenizedSentence([10 + rng.randrange(50)] * 6, list(range(6 * (5 * d + s), 6 * (5 * d + s) + 6)))
            for s in range(5)
        ]
        for d in range(10)
    ]


def test_interrupted_pretraining_resumes_from_last_ckpt(tmp_path):
    from bench.data.pretraining import (
        PretrainingCollator,
        SpecialIds,
        build_pretraining_dataset,
        pretraining_dataloader,
    )
    from lightning_modules.encoder import EncoderConfig
    from lightning_modules.pretrain import ObjectiveConfig, PretrainModule, fit_pretraining, pretraining_trainer

    Crash, StartStep = _callbacks()
    SPECIAL = SpecialIds(pad=0, unk=1, cls=2, sep=3, mask=4)
    model = EncoderConfig(**MODEL)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    obj = ObjectiveConfig(name="r", masking="dynamic", max_steps=8, batch_size=4, max_seq_length=32)
    ds = build_pretraining_dataset(
        _documents(),
        masking="dynamic",
        input_format="full_sentences",
        sentence_task="none",
        max_seq_length=32,
        special=SPECIAL,
        vocab_size=model.vocab_size,
    )
    loader = pretraining_dataloader(ds, PretrainingCollator(SPECIAL, model.vocab_size, dynamic=True), 4)
    started = StartStep()

    def train(work_dir, resume, crash_at=None):
        callbacks = [started] + ([Crash(crash_at)] if crash_at else [])
        trainer = pretraining_trainer(
            work_dir,
            obj,
            callbacks=callbacks,
            checkpoint_every_n_steps=2,
            logger=False,
            enable_progress_bar=False,
            accelerator="cpu",
        )
        return fit_pretraining(PretrainModule(model, obj), trainer, loader, resume_from=resume)

    store = CheckpointStore(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="simulated preemption"):
            store.get_or_train(PARTS, lambda w, r: train(w, r, crash_at=5))
        key = store.key(PARTS)
        assert (store.work_dir(key) / "last.ckpt").exists() and not store.is_complete(key)
        resumed_from = []
        path = store.get_or_train(PARTS, lambda w, r: resumed_from.append(r) or train(w, r))
    finally:
        torch.set_num_threads(before)
    assert resumed_from == [store.work_dir(key) / "last.ckpt"]
    assert started.step == 4  # the last checkpoint before the crash at step 5
    assert store.is_complete(key) and "encoder.embeddings.word.weight" in load_state_dict(path)
