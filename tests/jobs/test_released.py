"""The released-checkpoint tables (conf/experiment/*_released.yaml): each composes, its rows are checkpoints
that its report spec and paper CSV name, and its first cell runs at smoke with local checkpoints laid out
as the huggingface_hub cache (tests/support/hub_checkpoints.py) on local task data in the hub layout
(the synthetic world's parquet, read as data=local). Also the fine-tuning settings of an imported
encoder and the refusal of a data.tokenizer override that conflicts with the checkpoint."""

from __future__ import annotations

import csv

import huggingface_hub.constants
import pytest
from omegaconf import OmegaConf, open_dict

from bench.config.compose import compose_config
from bench.config.schema import SettingError
from bench.data.synthetic import ensure_synthetic
from bench.io import CONF_DIR
from bench.jobs.checks import check_job_config
from bench.jobs.finetune.hparams import finetune_hparams
from bench.jobs.run import job_function
from bench.jobs.tracking import run_name, run_tracked
from bench.results.report import load_spec
from bench.results.report.cli import write_report
from lightning_modules.hf import parse_init
from tests.support.hub_checkpoints import HUB_NAMES, build_variants, hub_cache

RELEASED = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*_released.yaml"))


@pytest.fixture(scope="module")
def checkpoints(synthetic_world, tmp_path_factory) -> dict:
    """Every family's local checkpoint, with ("hub") and without ("slow") tokenizer.json."""
    return build_variants(tmp_path_factory.getbasetemp() / "hub_checkpoints", synthetic_world)


def sweep(experiment: str) -> dict[str, list[str]]:
    cfg = compose_config([f"experiment={experiment}"], return_hydra_config=True)
    return {k: [v.strip() for v in str(vs).split(",")] for k, vs in cfg.hydra.sweeper.params.items()}


def test_the_five_released_tables_exist():
    assert RELEASED == ["albert_released", "bert_scaling_released", "distilbert_glue_released", "roberta_released",
                        "wwm_chinese_released"]


@pytest.mark.parametrize("experiment", RELEASED)
def test_rows_are_released_checkpoints_named_in_the_spec_and_the_paper_csv(experiment):
    cfg = compose_config([f"experiment={experiment}"])
    assert (cfg.profile.name, cfg.data.source) == ("released", "hub")
    spec = load_spec(experiment)
    (row,) = spec["rows"]
    assert row["key"] == ["model.init"]
    with open(CONF_DIR / "report" / "paper" / spec["paper"]) as f:
        published = {r[row["label"]] for r in csv.DictReader(f)}
    inits = sweep(experiment)["model.init"]
    for init in inits:
        kind, name = parse_init(init)
        assert kind == "hf" and name in HUB_NAMES, init
        assert row["map"][init] == name and name in published, init  # the row names the checkpoint
    one = compose_config([f"experiment={experiment}", f"model.init={inits[0]}"])
    assert one.model.name == inits[0] and one.data.checkpoint == inits[0]


# Profiles whose finetune_imported block gives an imported encoder the task's published settings.
IMPORTED_AT = sorted(p.stem for p in (CONF_DIR / "profile").glob("*.yaml")
                     if "finetune_imported" in OmegaConf.load(p).profile)


def test_released_profile_has_the_imported_settings():
    assert "released" in IMPORTED_AT


@pytest.mark.parametrize("profile", IMPORTED_AT)
def test_an_imported_encoder_fine_tunes_with_the_published_settings(profile):
    """The task's lr, epochs, batch and length (conf/task/*.yaml), not the profile's sizes."""
    imported = finetune_hparams(compose_config([f"profile={profile}", "task=squad_v2", "model.init=hf:roberta-base"]), [])
    assert {k: imported[k] for k in ("lr", "epochs", "batch_size", "max_length", "doc_stride", "warmup_ratio")} == {
        "lr": 5e-5, "epochs": 2, "batch_size": 48, "max_length": 384, "doc_stride": 128, "warmup_ratio": 0.1}
    assert imported["max_steps"] is None
    # and the command line still wins
    cli = compose_config([f"profile={profile}", "task=sst2", "model.init=hf:roberta-base", "task.hparams.lr=1e-5"])
    assert finetune_hparams(cli, ["task.hparams.lr=1e-5"])["lr"] == 1e-5


def test_a_profile_without_imported_settings_keeps_its_own():
    """smoke (the tests' few steps) has no finetune_imported block: its sizes hold for every encoder."""
    smoke = finetune_hparams(compose_config(["profile=smoke", "task=sst2", "model.init=hf:roberta-base"]), [])
    assert (smoke["max_steps"], smoke["lr"]) == (3, 1e-3)


def test_a_conflicting_tokenizer_override_is_refused_naming_both(checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    path = checkpoints["hub"]["bert"]
    base = ["task=sst2", "profile=smoke", f"model.init=hf:{path}"]
    conflicting = "data.tokenizer.en={kind: wordpiece, vocab_size: 300}"
    cfg = compose_config([*base, conflicting], return_hydra_config=True)
    with pytest.raises(SettingError, match=rf"data\.tokenizer\.en: conflicts with model\.init=hf:{path}") as e:
        check_job_config(cfg)
    assert str(path / "tokenizer.json") in str(e.value)
    same = ["data.tokenizer.en.kind=file", f"+data.tokenizer.en.path={path / 'tokenizer.json'}"]  # its own: accepted
    check_job_config(compose_config([*base, *same], return_hydra_config=True))
    check_job_config(compose_config(base, return_hydra_config=True))  # no override


@pytest.fixture(scope="module")
def released_env(checkpoints, tmp_path_factory):
    """The hub names resolve offline to the local checkpoints; the task data is a local folder in the hub layout."""
    root = tmp_path_factory.mktemp("released")
    cache = hub_cache(root / "hf-hub", checkpoints["slow"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("BENCH_CACHE_DIR", str(root / "cache"))
        data = OmegaConf.to_container(compose_config(["profile=smoke"]).data, resolve=True)
        # the smoke world, but no split above the smoke sizes (data=synthetic keeps 10,000 RACE questions)
        data["sizes"]["overrides"] = {t: {s: min(n, 48) for s, n in splits.items()}
                                      for t, splits in data["sizes"]["overrides"].items()}
        world = ensure_synthetic(data)
        yield {"root": root, "cache": cache, "data": world}


@pytest.mark.parametrize("experiment", RELEASED)
def test_first_cell_runs_at_smoke_with_local_checkpoints(experiment, released_env, read_settled_runs):
    first = [f"{k}={v[0]}" for k, v in sweep(experiment).items()]
    overrides = [f"experiment={experiment}", "profile=smoke", "data=local", f"data.root={released_env['data']}", *first]
    cfg = compose_config(overrides)
    wandb_dir = released_env["root"] / "wandb" / experiment
    with open_dict(cfg):
        cfg.logger.dir = str(wandb_dir)
        cfg.logger.mode = "offline"
    summary = run_tracked(cfg, run_name(overrides[1:], cfg.job_type), job_function(cfg.job_type), reraise=True)
    name = parse_init(str(cfg.model.init))[1]
    snapshot = released_env["cache"] / f"models--{name.replace('/', '--')}" / "snapshots"
    assert summary["status"] == "finished" and summary["init"] == f"hf:{name}"
    assert summary["tokenizer/source"].startswith(f"hf:{name}: {snapshot}")  # the checkpoint's files, converted
    assert any(k.startswith(f"{cfg.task.name}/") for k in summary), summary
    runs = read_settled_runs(wandb_dir)
    assert list(runs.state) == ["finished"]
    written = write_report(load_spec(experiment), runs, released_env["root"] / "reports")
    text = next(p for p in written if p.suffix == ".md").read_text()
    assert f"| {load_spec(experiment)['rows'][0]['map'][f'hf:{name}']} " in text and "smoke" in text
