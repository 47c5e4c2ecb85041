"""Checkpoint store: keys, train-once under a lock (two processes), tied weights, resume from last.ckpt,
kept on any interruption, loaded safely (a crafted or damaged last.ckpt is refused by name)."""

import multiprocessing as mp
import pickle
import random
import re
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from omegaconf import OmegaConf

from bench.store.checkpoints import (
    CheckpointStore,
    ResumeCheckpointError,
    get_or_train,
    load_state_dict,
    read_config,
    store_key,
)

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


def test_an_interruption_keeps_the_work_dir_and_releases_the_lock(tmp_path):
    """Ctrl-C and SIGTERM reach the store as BaseExceptions (KeyboardInterrupt, SystemExit)."""

    def train(work_dir, resume):
        torch.save({"state_dict": {}, "loops": {}}, work_dir / "last.ckpt")
        raise KeyboardInterrupt

    store = CheckpointStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        store.get_or_train(PARTS, train)
    key = store.key(PARTS)
    assert (store.work_dir(key) / "last.ckpt").exists() and not store.is_complete(key)
    FileLock(str(tmp_path / "locks" / f"{key}.lock")).acquire(timeout=0)  # free
    resumed = []
    store.get_or_train(PARTS, lambda work, resume: resumed.append(resume) or {"w": torch.ones(1)})
    assert resumed == [store.work_dir(key) / "last.ckpt"] and store.is_complete(key)


class _Payload:
    """Unpickled, it creates `path` (pickle calls open(path, "w"))."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _refused(tmp_path: Path, write_checkpoint) -> str:
    """get_or_train with `write_checkpoint(path)` as the work dir's last.ckpt: the error's message."""
    store = CheckpointStore(tmp_path / "store")
    last = store.work_dir(store.key(PARTS)) / "last.ckpt"
    last.parent.mkdir(parents=True)
    write_checkpoint(last)
    calls = []
    with pytest.raises(ResumeCheckpointError) as err:
        store.get_or_train(PARTS, lambda work, resume: calls.append(resume) or {"w": torch.ones(1)})
    assert not calls and last.exists()  # nothing trained, nothing deleted
    assert str(err.value).startswith(f"{last}: cannot resume from this checkpoint: ")
    assert str(err.value).endswith(f"; delete {last.parent} to start this pretraining over")
    return str(err.value)


def test_crafted_pickle_as_resume_checkpoint_runs_nothing(tmp_path):
    pickle.loads(pickle.dumps(_Payload(tmp_path / "live")))
    assert (tmp_path / "live").exists()  # the payload works when unpickled the unsafe way
    marker = tmp_path / "pwned"
    message = _refused(tmp_path, lambda path: torch.save({"state_dict": {}, "loops": _Payload(marker)}, path))
    assert not marker.exists()
    assert "it holds objects a safe load refuses (WeightsUnpickler error: Unsupported global: GLOBAL io.open)" in message


def test_damaged_or_foreign_resume_checkpoint_is_named(tmp_path):
    def truncated(path):
        torch.save({"state_dict": {"w": torch.ones(1000)}, "loops": {}}, path)
        path.write_bytes(path.read_bytes()[:2000])

    message = _refused(tmp_path / "a", truncated)
    assert "checkpoint: it is not a torch checkpoint (empty, truncated or another format);" in message
    message = _refused(tmp_path / "b", lambda path: torch.save({"w": torch.ones(2)}, path))
    assert "checkpoint: not a Lightning checkpoint;" in message


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

    def train(work_dir, resume, crash_at=None, objective=obj):
        callbacks = [started] + ([Crash(crash_at)] if crash_at else [])
        trainer = pretraining_trainer(
            work_dir,
            objective,
            callbacks=callbacks,
            checkpoint_every_n_steps=2,
            logger=False,
            enable_progress_bar=False,
            accelerator="cpu",
        )
        return fit_pretraining(PretrainModule(model, objective), trainer, loader, resume_from=resume)

    store = CheckpointStore(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="simulated preemption"):
            store.get_or_train(PARTS, lambda w, r: train(w, r, crash_at=5))
        key = store.key(PARTS)
        assert (store.work_dir(key) / "last.ckpt").exists() and not store.is_complete(key)
        other = ObjectiveConfig(name="r", masking="dynamic", max_steps=8, batch_size=4, max_seq_length=32, lr=5e-4)
        with pytest.raises(ValueError, match=re.escape(f"{store.work_dir(key) / 'last.ckpt'} was written by another")):
            store.get_or_train(PARTS, lambda w, r: train(w, r, objective=other))
        resumed_from = []
        path = store.get_or_train(PARTS, lambda w, r: resumed_from.append(r) or train(w, r))
    finally:
        torch.set_num_threads(before)
    assert resumed_from == [store.work_dir(key) / "last.ckpt"]
    assert started.step == 4  # the last checkpoint before the crash at step 5
    assert store.is_complete(key) and "encoder.embeddings.word.weight" in load_state_dict(path)
