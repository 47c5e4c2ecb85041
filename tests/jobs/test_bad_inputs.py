"""Bad input stops a job with one clear message naming the culprit (key, file, keys), and
overwrites nothing: no run dir for a config error, the weights files and reports left as they were."""

import sys

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

import bench.jobs.run
from bench.config.compose import compose_config
from bench.jobs.finetune import finetune, state_mismatch
from bench.jobs.tracking import run_tracked
from bench.results.report import main as report_main
from bench.results.runfile import RunFileError
from bench.results.runs import read_runs
from bench.store.checkpoints import WEIGHTS, load_state_dict, save_state_dict
from lightning_modules.encoder import Encoder, EncoderConfig
from lightning_modules.finetune import FineTuneModule
from tests.support.jobs import job_dir_with_run_id, run_job
from tests.support.wandb_writer import write_run_file


def bench_run(argv: list[str], monkeypatch) -> int:
    """`bench-run <argv>` in this process (Hydra parses sys.argv and exits on a config error)."""
    monkeypatch.setattr(sys, "argv", ["bench-run", *argv])
    try:
        bench.jobs.run.main()
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        GlobalHydra.instance().clear()
    return 0


@pytest.mark.parametrize(("override", "culprit", "why"), [
    ("model.hiddn_size=3", "model.hiddn_size", "Key 'hiddn_size' not in 'ModelSchema'"),
    ("model.num_layers=deep", "model.num_layers", "Value 'deep' of type 'str' could not be converted to Integer"),
])
def test_config_errors_name_the_key_and_write_nothing(override, culprit, why, tmp_path, cache, monkeypatch, capsys):
    code = bench_run(["profile=smoke", override, f"hydra.run.dir={tmp_path / 'run'}"], monkeypatch)
    err = capsys.readouterr().err
    assert code == 1
    assert culprit in err and why in err
    assert not (tmp_path / "run").exists() and not cache.exists()


def test_missing_data_folder_is_named(tmp_path, cache, read_settled_runs):
    with pytest.raises(FileNotFoundError, match=r"data.root='/nonexistent/glue' is not a folder"):
        run_job(["profile=smoke", "task=sst2", "data=local", "data.root=/nonexistent/glue"], tmp_path / "w")
    runs = read_settled_runs(tmp_path / "w")
    assert list(runs.state) == ["failed"]
    assert "/nonexistent/glue" in runs["summary.error"].iloc[0]


def test_synthetic_param_override_is_refused_not_ignored(tmp_path, cache, read_settled_runs):
    # The world is written from conf/task/race_middle.yaml: this override used to change nothing.
    with pytest.raises(ValueError, match=r"task.synthetic.distractors_in_article: .*conf/task/race_middle.yaml \(1 there, 0 here\)"):
        run_job(["profile=smoke", "task=race_middle", "task.synthetic.distractors_in_article=0"], tmp_path / "w")
    runs = read_settled_runs(tmp_path / "w")
    assert list(runs.state) == ["failed"]
    assert "task.synthetic.distractors_in_article" in runs["summary.error"].iloc[0]
    assert not (cache / "synthetic").exists()  # refused before the world (or a pretraining) was made


@pytest.mark.parametrize("override, message", [
    ("+profile.finetune_by_type.multi_choice.lr=1e-3", r"profile.finetune_by_type.multi_choice: not a task type"),
    ("+profile.finetune.dropout=1.5", r"profile.finetune.dropout: 1.5 is not a probability in \[0, 1\) \(task race_middle\)"),
    ("+profile.finetune.classifier_dropout=-0.1", r"profile.finetune.classifier_dropout: -0.1 is not a probability"),
    ("profile.finetune.lr=0", r"profile.finetune.lr: must be > 0, got 0"),
    ("profile.finetune.batch_size=0", r"profile.finetune.batch_size: must be >= 1, got 0"),
    ("profile.finetune.max_steps=0", r"profile.finetune.max_steps: must be >= 1 or null, got 0"),
    ("profile.finetune.warmup_ratio=1.0", r"profile.finetune.warmup_ratio: must be in \[0, 1\), got 1.0"),
    ("+profile.finetune.epochz=3", r"profile.finetune.epochz: not a fine-tuning hyperparameter"),
    ("profile.model.num_heads=3", r"model: hidden_size \(32\) must be divisible by num_heads \(3\) \(the architecture at profile smoke"),
    ("profile.model.hidden_size=-32", r"model: hidden_size must be positive, got -32"),
    ("early_stopping.patience=0", r"early_stopping.patience must be a positive integer, got 0"),
])
def test_bad_finetune_setting_is_refused_before_anything_runs(override, message, tmp_path, cache):
    with pytest.raises(ValueError, match=message):
        run_job(["profile=smoke", "task=race_middle", override], tmp_path / "w")
    assert not (tmp_path / "w").exists() and not cache.exists()  # no W&B run, no world, no job dir


def test_doc_stride_must_stay_below_max_length(tmp_path, cache):
    with pytest.raises(ValueError, match=r"profile.finetune.doc_stride: must be in \[0, max_length=64\), got 64"):
        run_job(["profile=smoke", "task=squad_v2", "profile.finetune.doc_stride=64"], tmp_path / "w")
    assert not cache.exists()


def test_a_refused_job_in_a_sweep_lets_the_others_run(tmp_path, cache):
    cfg = compose_config(["profile=smoke", "task=sst2", "profile.finetune.lr=-1"])
    with open_dict(cfg):
        cfg.logger.dir = str(tmp_path / "w")
    summary = run_tracked(cfg, "refused", finetune, reraise=False)
    assert summary["status"] == "refused" and "profile.finetune.lr: must be > 0" in summary["error"]
    assert not (tmp_path / "w").exists()


def test_truncated_run_file_is_named_and_never_a_number(tmp_path):
    """The reader names the file and the byte; the report marks the run corrupt, naming the file."""
    runs_dir, out = tmp_path / "runs", tmp_path / "reports"
    for i, masking in enumerate(["static", "dynamic"]):
        write_run_file(runs_dir / f"offline-run-20240101_00000{i}-r{i}", run_id=f"r{i}", group="roberta_masking",
                       job_type="finetune", start_time=1.7e9 + i,
                       config={"objective": {"masking": masking}, "task": {"name": "sst2"},
                               "profile": {"name": "smoke"}, "seed": 0},
                       history=[{"train/loss": 0.7}] * 40,
                       summary={"sst2/acc": 81.0 + i, "status": "finished", "profile": "smoke"})
    assert report_main(["experiment=roberta_masking", f"runs={runs_dir}", f"out={out}", "publish=false"]) == 0
    assert "| dynamic | missing | 78.7 | missing | 84.0 | ▲ 82.0 (n=1) |" in (out / "roberta_masking.md").read_text()

    broken = runs_dir / "offline-run-20240101_000001-r1" / "run-r1.wandb"
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2 + 3])  # cut inside a chunk, as a copy interrupted midway
    with pytest.raises(RunFileError, match=rf"{broken}: truncated at byte \d+"):
        read_runs(runs_dir)
    assert report_main(["experiment=roberta_masking", f"runs={runs_dir}", f"out={out}", "publish=false"]) == 0
    text = (out / "roberta_masking.md").read_text()
    assert "| dynamic | missing | 78.7 | missing | 84.0 | corrupt |" in text and "82.0" not in text
    assert f"corrupt: {broken.parent.name}/{broken.name}: truncated at byte" in text
    assert "| static | missing | 78.3 | missing | 84.3 | 81.0 (n=1) |" in text  # the readable run is still reported


def test_store_entry_of_another_architecture(tmp_path, cache, read_settled_runs):
    """A store entry whose weights do not fit the configured encoder: the file and keys are named."""
    overrides = ["profile=smoke", "task=sst2", "objective=bert", "profile.objective_overrides.max_steps=1"]
    assert run_job(overrides, tmp_path / "w1")["status"] == "finished"  # pretrains and stores the entry
    (entry,) = [p for p in (cache / "store").glob(f"*/{WEIGHTS}") if p.parent.name not in ("work", "locks")]
    good = load_state_dict(entry)
    vocab = good["encoder.embeddings.word.weight"].shape[0]
    other = Encoder(EncoderConfig(vocab_size=vocab, embedding_size=32, hidden_size=48, num_layers=2, num_heads=2,
                                  intermediate_size=64, max_position_embeddings=128))
    save_state_dict({f"encoder.{k}": v for k, v in other.state_dict().items()}, entry)
    written = entry.read_bytes()

    with pytest.raises(ValueError) as err:
        run_job([*overrides, "rerun=true"], tmp_path / "w2")
    msg = str(err.value)
    assert msg.startswith(f"{entry}: its encoder weights do not fit the configured model (")
    assert "hidden_size=32" in msg and "shape mismatch for" in msg and "unexpected attention.1." in msg
    assert entry.read_bytes() == written  # nothing rewritten, nothing retrained
    assert list(read_settled_runs(tmp_path / "w2").state) == ["failed"]


def test_resume_checkpoint_of_another_architecture(tmp_path, cache, read_settled_runs):
    """A job dir's last.ckpt from another architecture stops the resume, names file and keys, stays."""
    overrides = ["profile=smoke", "task=sst2"]
    jdir = job_dir_with_run_id(overrides, "otherarch1")
    arch = dict(vocab_size=800, embedding_size=32, hidden_size=48, num_layers=1, num_heads=2, intermediate_size=64,
                max_position_embeddings=128)
    other = FineTuneModule(arch, "classification", num_labels=2)
    last = jdir / "last.ckpt"
    torch.save({"state_dict": other.state_dict(), "global_step": 4, "epoch": 0}, last)
    written = last.read_bytes()

    with pytest.raises(ValueError) as err:
        run_job(overrides, tmp_path / "w")
    msg = str(err.value)
    assert msg.startswith(f"{last}: a checkpoint of another architecture than this job's (")
    assert "hidden_size=32" in msg and "unexpected encoder.embeddings.project.bias" in msg  # E=32 -> H=48
    assert "shape mismatch for encoder.attention.0.norm.bias [48] where the model has [32]" in msg
    assert f"delete {jdir} to start this job over" in msg
    assert last.read_bytes() == written
    runs = read_settled_runs(tmp_path / "w")
    assert list(runs.run_id) == ["otherarch1"] and list(runs.state) == ["failed"]


def test_state_mismatch_lists_every_kind_of_difference():
    expected = {"a": torch.zeros(2, 3), "b": torch.zeros(4), "c": torch.zeros(1)}
    found = {"a": torch.zeros(3, 3), "b": torch.zeros(4), "d": torch.zeros(1)}
    assert state_mismatch(expected, found) == "shape mismatch for a [3, 3] where the model has [2, 3]; missing c; unexpected d"
    assert state_mismatch(expected, dict(expected)) == ""
