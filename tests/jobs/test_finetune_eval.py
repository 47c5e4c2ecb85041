"""Evaluation after fine-tuning and the files it leaves beside the metrics: SQuAD's official-script prediction files
(predictions, n-best, v2 null odds) for every dev split, and, with predict_test=true, GLUE
submission files (`index<TAB>prediction`, labels as the GLUE server reads them)."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from omegaconf import open_dict

from bench.config.architecture import effective_encoder_config
from bench.config.compose import compose_config
from bench.data import build_features, get_tokenizer, load_task
from bench.data.specs import spec_file, spec_from_dict
from bench.jobs.finetune import finetune, finetune_arch, finetune_hparams
from bench.jobs.tracking import run_name, run_tracked
from lightning_modules.finetune import FineTuneModule


def run_job(overrides, tmp_path) -> tuple[dict, object]:
    cfg = compose_config(["profile=smoke", *overrides])
    with open_dict(cfg):
        cfg.logger.dir = str(tmp_path / "wandb")
    summary = run_tracked(cfg, run_name(overrides, cfg.job_type), finetune, reraise=True)
    return summary, cfg


def read_tsv(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], [line.split("\t") for line in lines[1:]]


@pytest.mark.parametrize(
    "task, files, allowed",
    [
        ("mnli", ["MNLI-m", "MNLI-mm"], {"entailment", "neutral", "contradiction"}),
        ("sst2", ["SST-2"], {"0", "1"}),
        ("stsb", ["STS-B"], None),
    ],
)
def test_glue_submission_files(task, files, allowed, tmp_path, cache):
    summary, cfg = run_job([f"task={task}", "predict_test=true"], tmp_path)
    out = tmp_path / "wandb"
    assert summary["predictions_dir"].startswith(str(out)), summary  # inside the W&B run's own files
    raw = load_task(cfg.task, cfg.data)
    for stem, split in zip(files, cfg.task.submission.files):
        header, rows = read_tsv(Path(summary["predictions_dir"]) / f"{stem}.tsv")
        assert header == "index\tprediction"
        assert [int(i) for i, _ in rows] == list(raw[split]["idx"])
        if allowed is None:
            assert all(isinstance(float(p), float) for _, p in rows)
        else:
            assert {p for _, p in rows} <= allowed


def test_no_test_files_unless_asked(tmp_path, cache):
    summary, _ = run_job(["task=sst2"], tmp_path)
    assert "predictions_dir" not in summary  # nothing written, nothing claimed


def test_squad_v2_prediction_files(tmp_path, cache):
    summary, cfg = run_job(["task=squad_v2"], tmp_path)
    out = Path(summary["predictions_dir"])
    ids = set(load_task(cfg.task, cfg.data)["validation"]["id"])
    predictions = json.loads((out / "validation_predictions.json").read_text())
    null_odds = json.loads((out / "validation_null_odds.json").read_text())
    nbest = json.loads((out / "validation_nbest_predictions.json").read_text())
    assert set(predictions) == set(null_odds) == set(nbest) == ids
    assert all(isinstance(v, str) for v in predictions.values())
    assert all(isinstance(v, float) for v in null_odds.values())


@pytest.mark.parametrize(
    "submission, message",
    [
        ({"files": {"validation": "SST-2"}, "labels": "ids"}, "submission.files must map test splits (test)"),
        ({"files": {"test": "SST-2"}, "labels": "words"}, "submission.labels must be one of names, ids, scores"),
        ({"files": {"test": "SST-2"}, "labels": "ids", "format": "csv"}, "unknown key(s) submission.format"),
    ],
)
def test_bad_submission_spec_names_the_key(submission, message):
    d = yaml.safe_load(spec_file("sst2").read_text())
    d["submission"] = submission
    with pytest.raises((KeyError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        spec_from_dict(d, source="conf/task/sst2.yaml")


def test_race_evaluates_options_of_different_lengths(tmp_path, cache):
    """Untruncated RACE inputs: the four options of a question have different lengths (at the smoke
    profile's 64 tokens every option is cut to the same length and hides this path)."""
    summary, cfg = run_job(["task=race", "profile.finetune.max_length=128"], tmp_path)
    features = build_features(cfg.task, cfg.data, get_tokenizer(cfg.data, "en"), "validation", 128)
    assert any(len({len(o) for o in x}) > 1 for x in features["input_ids"])  # the case under test exists
    assert {"race/acc", "race/acc_middle", "race/acc_high", "race/acc_test"} <= set(summary), summary


def test_profile_hparams_per_task_type():
    """The profile's `finetune` replaces the task's paper hyperparameters, then its `finetune_by_type`
    entry for the task's type: at tiny, RACE (multiple choice) gets its own batch, steps and dropout."""
    race, sst2 = (finetune_hparams(compose_config([f"task={t}", "profile=tiny"])) for t in ("race_middle", "sst2"))
    assert (race["batch_size"], race["max_steps"], race["lr"], race["dropout"], race["classifier_dropout"]) == (
        16, 2000, 5e-4, 0.0, 0.0)
    assert (sst2["batch_size"], sst2["max_steps"], sst2["lr"]) == (32, 1200, 1e-3)
    assert sst2["dropout"] is None and sst2["classifier_dropout"] is None  # unset: as pretrained, the head's 0.1
    assert race["max_length"] == sst2["max_length"] == 256  # what the type entry leaves alone stays the profile's
    paper = finetune_hparams(compose_config(["task=race_middle", "profile=paper"]))
    assert (paper["lr"], paper["batch_size"], paper["epochs"]) == (2e-5, 32, 2) and paper["dropout"] is None
    overridden = finetune_hparams(compose_config(["task=race_middle", "profile=tiny",
                                                  "profile.finetune_by_type.multiple_choice.max_steps=10"]))
    assert overridden["max_steps"] == 10


def test_finetune_dropout_reaches_every_encoder_layer():
    cfg = compose_config(["task=race_middle", "profile=tiny"])
    arch = effective_encoder_config(cfg, vocab_size=100)
    assert arch.dropout == 0.1  # the pretrained architecture's
    for p, hp in ((0.0, {"dropout": 0.0}), (0.1, {})):
        module = FineTuneModule(finetune_arch(arch, hp), "multiple_choice")
        rates = {m.p for m in module.encoder.modules() if isinstance(m, torch.nn.Dropout)}
        assert rates == {p}
        assert {a.attention_dropout for a in module.encoder.attention} == {p}
        assert module.dropout.p == 0.1  # the head's own dropout is not the encoder's


def test_job_builds_its_module_with_the_finetuning_dropouts(tmp_path):
    """What the job trained, read back from its own checkpoint's hyperparameters."""
    def trained_with(overrides):
        cfg = compose_config(["task=race_middle", "profile=smoke", *overrides])
        with open_dict(cfg):
            cfg.job_dir = str(tmp_path / str(len(overrides)))
        finetune(cfg, None)
        hp = torch.load(Path(cfg.job_dir) / "last.ckpt", map_location="cpu", weights_only=True)["hyper_parameters"]
        return hp["encoder_cfg"]["dropout"], hp["encoder_cfg"]["attention_dropout"], hp["classifier_dropout"]

    assert trained_with([]) == (0.1, 0.1, 0.1)  # the pretrained architecture's, and the head's default
    assert trained_with(["+profile.finetune.dropout=0.0", "+profile.finetune.classifier_dropout=0.05"]) == (0.0, 0.0, 0.05)
