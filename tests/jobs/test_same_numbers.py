"""The same command in two fresh clones gives the same numbers: a smoke sweep (fine-tuning from
scratch, and from an encoder pretrained through the store) run in two fresh cache dirs, each in a
process of its own with another PYTHONHASHSEED, writes byte-identical tokenizers and encoders and
bit-identical W&B history and summary metrics."""

import os
import subprocess
import sys

import pandas as pd

from bench.io import REPO_ROOT
from bench.results.runs import read_runs

SWEEP = ["-m", "profile=smoke", "task=sst2", "objective=none,roberta", "trainer.log_every_n_steps=1"]


def _files(root, pattern):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob(pattern))}


def test_two_fresh_caches_give_bit_identical_runs(tmp_path):
    procs = {}
    for clone, hash_seed in (("a", "1"), ("b", "2")):
        env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
        env |= {"BENCH_CACHE_DIR": str(tmp_path / clone / "cache"), "PYTHONHASHSEED": hash_seed}
        procs[clone] = subprocess.Popen([sys.executable, "-m", "bench.jobs.run", *SWEEP,
                                         f"hydra.sweep.dir={tmp_path / clone / 'sweep'}"],
                                        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for clone, proc in procs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"clone {clone}:\n{out[-3000:]}"

    caches = [tmp_path / c / "cache" for c in "ab"]
    tokenizers = [_files(c / "tokenizers", "tokenizer.json") for c in caches]
    assert tokenizers[0] and tokenizers[0] == tokenizers[1]  # same cache paths, same bytes
    encoders = [_files(c / "store", "*.safetensors") for c in caches]
    assert encoders[0] and encoders[0] == encoders[1]

    runs = [read_runs(tmp_path / c / "sweep", history=True).set_index("name").sort_index() for c in "ab"]
    assert list(runs[0].index) == list(runs[1].index) and len(runs[0]) == 2
    assert set(runs[0].state) == set(runs[1].state) == {"finished"}
    metrics = [k for k in runs[0].columns if k.startswith("summary.") and not k.startswith("summary._")
               and not k.endswith("/tokens_per_s")]
    assert "summary.sst2/acc" in metrics and "summary.pretrain/val_ppl" in metrics
    pd.testing.assert_frame_equal(runs[0][metrics], runs[1][metrics], check_exact=True)
    for name in runs[0].index:
        first, second = runs[0].at[name, "history"], runs[1].at[name, "history"]
        assert len(first) == 3 and "train/loss" in first  # one row per step of the smoke budget
        clock = ["_runtime", "_timestamp", "train/tokens_per_s"]  # clocks: the only columns allowed to differ; column order may
        pd.testing.assert_frame_equal(first.drop(columns=clock, errors="ignore"), second.drop(columns=clock, errors="ignore"),
                                      check_exact=True, check_like=True)
