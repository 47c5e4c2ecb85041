"""Fine-tuning hyperparameters: command line > profile > task spec (bench/jobs/finetune/hparams.py)."""

from __future__ import annotations

import sys

import pytest
from hydra.core.global_hydra import GlobalHydra

import bench.jobs.run
from bench.config.compose import compose_config
from bench.config.schema import SettingError
from bench.jobs.finetune.hparams import command_line_keys, finetune_hparams, hparams_config


def hparams(*overrides: str) -> dict:
    """As in a Hydra job: the config carries its command line (`hydra.overrides.task`)."""
    return finetune_hparams(compose_config(list(overrides), return_hydra_config=True))


@pytest.mark.parametrize("profile", ["smoke", "tiny"])
def test_command_line_task_hparams_win_over_the_profile(profile):
    """The README's `task.hparams.lr=3e-5` trains at 3e-5 (the profile's lr used to replace it)."""
    assert hparams(f"profile={profile}", "task=sst2", "task.hparams.lr=3e-5")["lr"] == 3e-5
    # ... over the profile's entry for the task's type too (tiny RACE: lr 5e-4, no dropout)
    race = hparams(f"profile={profile}", "task=race_middle", "task.hparams.lr=3e-5", "+task.hparams.dropout=0.2")
    assert (race["lr"], race["dropout"]) == (3e-5, 0.2)
    # the same with the overrides given explicitly (a config composed without Hydra's node)
    cfg = compose_config([f"profile={profile}", "task=sst2", "task.hparams.lr=3e-5"])
    assert finetune_hparams(cfg, ["task.hparams.lr=3e-5"])["lr"] == 3e-5


def test_profile_still_replaces_the_task_file_and_profile_overrides_work():
    assert hparams("profile=smoke", "task=sst2")["lr"] == 1e-3  # conf/task/sst2.yaml says 2e-5
    assert finetune_hparams(compose_config(["profile=smoke", "task=sst2"]))["lr"] == 1e-3  # no Hydra job: no overrides
    assert hparams("profile=smoke", "task=sst2", "profile.finetune.lr=7e-4")["lr"] == 7e-4
    assert hparams("profile=tiny", "task=race_middle", "profile.finetune_by_type.multiple_choice.lr=7e-4")["lr"] == 7e-4
    both = hparams("profile=smoke", "task=sst2", "profile.finetune.lr=7e-4", "task.hparams.lr=3e-5")
    assert both["lr"] == 3e-5
    # a task key the command line did not name keeps the profile's value
    assert hparams("profile=smoke", "task=sst2", "task.hparams.lr=3e-5")["max_steps"] == 3


def test_null_on_the_command_line_unsets_the_profile_value():
    hp = hparams("profile=smoke", "task=sst2", "+task.hparams.max_steps=null")
    assert hp["max_steps"] is None and hp["epochs"] == 3  # the task's epochs decide the budget
    with pytest.raises(SettingError, match=r"task.hparams.lr: missing \(task sst2: null on the command line\)"):
        hparams("profile=smoke", "task=sst2", "task.hparams.lr=null")


def test_bad_command_line_value_names_its_key():
    with pytest.raises(SettingError, match=r"^task.hparams.lr: must be > 0, got -1.0 \(task sst2, set on the command"):
        hparams("profile=smoke", "task=sst2", "task.hparams.lr=-1.0")
    with pytest.raises(SettingError, match=r"^profile.finetune.lr: must be > 0"):
        hparams("profile=smoke", "task=sst2", "profile.finetune.lr=0")


def test_bench_run_reads_the_command_line_from_the_hydra_job(tmp_path, cache, monkeypatch, capsys):
    """Through `bench-run` (HydraConfig): the bad lr was hidden by the smoke profile's; now it is refused
    before the W&B run opens."""
    monkeypatch.setattr(sys, "argv", ["bench-run", "profile=smoke", "task=sst2", "task.hparams.lr=-1.0",
                                      f"hydra.run.dir={tmp_path / 'run'}", f"logger.dir={tmp_path / 'wandb'}"])
    try:
        bench.jobs.run.main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        GlobalHydra.instance().clear()
    assert code == 1
    assert "task.hparams.lr: must be > 0, got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "wandb").exists() and not cache.exists()


def test_command_line_keys_and_the_run_config_entry():
    assert command_line_keys(["task=sst2", "task.hparams.lr=3e-5", "+task.hparams.dropout=0.1",
                              "++task.hparams.epochs=2", "~task.hparams.batch_size", "profile.finetune.lr=1e-3",
                              "hydra.run.dir=x"]) == {"lr", "dropout", "epochs"}
    assert command_line_keys(["task.hparams={lr: 3e-5, max_length: 64}"]) == {"lr", "max_length"}
    hp = hparams("profile=smoke", "task=sst2", "task.hparams.lr=3e-5")
    assert hparams_config(hp) == {"finetune_hparams": hp} and hparams_config(hp)["finetune_hparams"] is not hp

