"""A store pretraining or distillation stopped at any step (SIGTERM, Ctrl-C, SIGKILL) keeps its work dir
and resume checkpoint, releases the lock, and, run again, ends at a `model.safetensors` byte-identical to
an uninterrupted run's (smoke profile, CPU).

The runs share one cache (world, tokenizer); each scenario moves the finished store aside afterwards,
since every run has the same store key. Run as a module, this file is the child process of the SIGKILL
case: `python -m tests.store.test_pretrain_resume <step> <overrides...>`.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from filelock import FileLock
from lightning.pytorch.callbacks import Callback

# Smoke roberta: 50 training sequences, 7 batches an epoch; 10 steps cross an epoch end.
OVERRIDES = ["profile=smoke", "profile.objective_overrides.max_steps=10"]
ROBERTA, DISTIL = [*OVERRIDES, "objective=roberta"], [*OVERRIDES, "objective=distil", "model=distilbert_base"]
REPO = Path(__file__).resolve().parents[2]


def _pretrain(overrides: list[str]) -> dict:
    from bench.config.compose import compose_config
    from bench.jobs.pretrain import pretrain

    return pretrain(compose_config(overrides), None)


def _entries(store: Path) -> dict[str, Path]:
    """objective name -> finished entry dir."""
    from bench.store.checkpoints import read_config

    return {read_config(p)["key_parts"]["objective"]["name"]: p for p in store.iterdir() if (p / "config.json").exists()}


def _work_dirs(store: Path) -> list[Path]:
    return sorted(p for p in (store / "work").iterdir()) if (store / "work").exists() else []


def _lock_is_free(store: Path, work: Path) -> bool:
    lock = FileLock(str(store / "locks" / f"{work.name}.lock"))
    lock.acquire(timeout=0)  # raises Timeout if the interrupted job still held it
    lock.release()
    return True


def _checkpoint_step(work: Path) -> int:
    return int(torch.load(work / "last.ckpt", map_location="cpu", weights_only=True)["global_step"])


class SignalAtStep(Callback):
    """Sends `signum` to this process once the trainer has made `step` optimizer steps."""

    def __init__(self, step: int, signum: int) -> None:
        self.step, self.signum, self.sent = step, signum, False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)


def _with_callback(monkeypatch, objective: str, callback: Callback) -> None:
    """The store fit of `objective` (not its teacher's) gets `callback`."""
    import bench.jobs.pretrain as job

    real = job.pretraining_trainer

    def trainer(work_dir, obj, **kwargs):
        return real(work_dir, obj, callbacks=[callback] if obj.name == objective else [], **kwargs)

    monkeypatch.setattr(job, "pretraining_trainer", trainer)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs: the roberta and distil (with its bert teacher) entries' weights bytes."""
    cache = tmp_path_factory.mktemp("resume") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE_DIR", str(cache))
        _pretrain(ROBERTA)
        _pretrain(DISTIL)
    store = cache / "store"
    entries = _entries(store)
    weights = {name: (path / "model.safetensors").read_bytes() for name, path in entries.items()}
    teacher = entries["bert"]
    store.rename(cache / "store-reference")
    return {"cache": cache, "weights": weights, "teacher": cache / "store-reference" / teacher.name}


@pytest.fixture
def store(reference, monkeypatch, request):
    """An empty store in the shared cache; moved aside after the test."""
    cache = reference["cache"]
    monkeypatch.setenv("BENCH_CACHE_DIR", str(cache))
    yield cache / "store"
    if (cache / "store").exists():
        (cache / "store").rename(cache / f"store-{request.node.name}")


def _resumed_weights(store: Path, overrides: list[str], objective: str) -> bytes:
    (work,) = _work_dirs(store)
    assert (work / "last.ckpt").exists() and _lock_is_free(store, work)
    assert objective not in _entries(store)  # nothing was stored
    _pretrain(overrides)  # run again: resumes from the work dir's last.ckpt
    assert not work.exists()  # cleaned once the entry is written
    return (_entries(store)[objective] / "model.safetensors").read_bytes()


def test_sigterm_mid_epoch_checkpoints_and_resumes_exactly(reference, store, monkeypatch):
    # No step cadence: the only checkpoint before the end is the one written on SIGTERM (step 4 of 7).
    overrides = [*ROBERTA, "profile.pretrain_checkpoint.every_n_steps=1000"]
    with monkeypatch.context() as mp, pytest.raises(SystemExit):  # Lightning's SIGTERMException
        _with_callback(mp, "roberta", SignalAtStep(4, signal.SIGTERM))
        _pretrain(overrides)
    (work,) = _work_dirs(store)
    assert _checkpoint_step(work) == 4
    assert _resumed_weights(store, overrides, "roberta") == reference["weights"]["roberta"]


def test_ctrl_c_keeps_the_last_step_checkpoint_and_resumes_exactly(reference, store, monkeypatch):
    handler = signal.getsignal(signal.SIGINT)
    # Python's Ctrl-C handler, also when pytest inherited SIGINT ignored (started with & by a shell)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with monkeypatch.context() as mp, pytest.raises(SystemExit) as exc:  # KeyboardInterrupt -> sys.exit(1)
            _with_callback(mp, "roberta", SignalAtStep(9, signal.SIGINT))  # in the second epoch
            _pretrain(ROBERTA)
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning leaves Ctrl-C ignored
    assert exc.value.code == 1
    (work,) = _work_dirs(store)
    assert _checkpoint_step(work) == 8  # the interrupted step 9 was not checkpointed
    assert _resumed_weights(store, ROBERTA, "roberta") == reference["weights"]["roberta"]


def test_sigkill_at_an_epoch_end_resumes_exactly(reference, store):
    """A killed process (no handler runs): the checkpoint of step 7, the first epoch's last batch."""
    env = {**os.environ, "BENCH_CACHE_DIR": str(reference["cache"]), "OMP_WAIT_POLICY": "PASSIVE"}
    child = subprocess.run([sys.executable, "-m", "tests.store.test_pretrain_resume", "8", *ROBERTA],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    (work,) = _work_dirs(store)
    assert _checkpoint_step(work) == 7
    assert _resumed_weights(store, ROBERTA, "roberta") == reference["weights"]["roberta"]


def test_distillation_resumes_exactly(reference, store, monkeypatch):
    store.mkdir()
    shutil.copytree(reference["teacher"], store / reference["teacher"].name)  # the teacher is stored already
    with monkeypatch.context() as mp, pytest.raises(SystemExit):
        _with_callback(mp, "distil", SignalAtStep(5, signal.SIGTERM))
        _pretrain(DISTIL)
    (work,) = _work_dirs(store)
    assert _checkpoint_step(work) == 5
    assert _resumed_weights(store, DISTIL, "distil") == reference["weights"]["distil"]


def test_checkpoint_cadence_steps_minutes_sigterm_and_end(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from lightning_modules.resume import ResumeCheckpoint

    clock = [0.0]
    monkeypatch.setattr("lightning_modules.resume.time.monotonic", lambda: clock[0])
    saved = []
    trainer = SimpleNamespace(global_step=0, received_sigterm=False, world_size=1)
    trainer.save_checkpoint = lambda path: saved.append(trainer.global_step)
    callback = ResumeCheckpoint(tmp_path / "last.ckpt", every_n_steps=4, every_minutes=1)
    callback.on_train_start(trainer, None)
    for step in range(1, 8):
        clock[0] += 25  # seconds a step
        callback.on_train_batch_end(trainer, None, None, None, step)  # an accumulating batch: no new step
        trainer.global_step = step
        callback.on_train_batch_end(trainer, None, None, None, step)
    assert saved == [3, 4, 7]  # 75 s after the start, step 4, 75 s after step 4
    trainer.global_step, trainer.received_sigterm = 8, True
    callback.on_train_batch_end(trainer, None, None, None, 8)
    callback.on_train_end(trainer, None)
    assert saved == [3, 4, 7, 8, 8]


@pytest.mark.parametrize("key, value", [("every_n_steps", 0), ("every_minutes", -1), ("every_n_steps", 2.5)])
def test_checkpoint_cadence_settings_are_checked_by_key(key, value):
    from bench.config.compose import compose_config
    from bench.config.schema import SettingError
    from bench.jobs.pretrain import pretrain_checkpoint_cadence

    with pytest.raises(SettingError, match=rf"profile.pretrain_checkpoint.{key}: must be a positive number or null"):
        pretrain_checkpoint_cadence(compose_config(["profile=smoke", f"profile.pretrain_checkpoint.{key}={value}"]))


if __name__ == "__main__":  # the SIGKILL child: pretrain, killed by tests.support.kill.KillAtStep
    from tests.support.kill import KillAtStep

    torch.set_num_threads(min(2, os.cpu_count() or 1))  # as conftest.py: the same float sums as the parent
    step, overrides = int(sys.argv[1]), sys.argv[2:]
    with pytest.MonkeyPatch.context() as mp:
        _with_callback(mp, "roberta", KillAtStep(step))
        _pretrain(overrides)
