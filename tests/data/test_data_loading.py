"""Loading from local folders and the hub: bad input fails at once, naming the file and the
column or key; an offline hub request says how to switch to data=synthetic / data=local."""

import shutil
import time

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from bench.config.compose import compose_config
from bench.data import load_corpus, load_task
from bench.data.loading import split_sentences
from bench.data.synthetic import ensure_synthetic
from tests.support.world import SIZES


@pytest.fixture(scope="module")
def world(synthetic_world):
    """The shared world's folder: tests copy what they break."""
    return ensure_synthetic(synthetic_world)


@pytest.fixture
def local(world, tmp_path):
    """A local root holding a copy of SST-2 in the hub layout, and its data config."""
    shutil.copytree(world / "nyu-mll/glue/sst2", tmp_path / "root/nyu-mll/glue/sst2")
    cfg = {"source": "local", "root": str(tmp_path / "root"), "cache_dir": str(tmp_path / "cache")}
    return tmp_path / "root/nyu-mll/glue/sst2", cfg


def _rewrite(path, table):
    pq.write_table(table, path)


def _set_cell(path, column, row, value, type=None):
    """Rewrite a parquet file with one cell of `column` changed: the bad value under test."""
    t = pq.read_table(path)
    values = t.column(column).to_pylist()
    values[row] = value
    _rewrite(path, t.set_column(t.schema.get_field_index(column), column, pa.array(values, type)))


def test_local_root_reads(local):
    folder, cfg = local
    ds = load_task("sst2", cfg)
    assert set(ds) == {"train", "validation", "test"} and len(ds["train"]) == SIZES["train"]


def test_missing_column_names_file_and_column(local):
    folder, cfg = local
    f = folder / "train-00000-of-00001.parquet"
    _rewrite(f, pq.read_table(f).drop_columns(["label"]))
    with pytest.raises(KeyError, match=rf"{f}.*missing column 'label'"):
        load_task("sst2", cfg)


def test_wrong_label_value_names_file_column_and_row(local):
    folder, cfg = local
    f = folder / "validation-00000-of-00001.parquet"
    _set_cell(f, "label", 3, 7, pa.int64())
    with pytest.raises(ValueError, match=rf"{f}: column 'label' row 3 has value 7; expected a class index in \[0, 2\)"):
        load_task("sst2", cfg)


def test_hidden_label_outside_a_test_split_is_rejected(local):
    folder, cfg = local
    f = folder / "train-00000-of-00001.parquet"
    _set_cell(f, "label", 0, -1, pa.int64())
    with pytest.raises(ValueError, match=rf"{f}: column 'label' row 0 has value -1"):
        load_task("sst2", cfg)


def test_truncated_parquet_names_the_file(local):
    folder, cfg = local
    f = folder / "test-00000-of-00001.parquet"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{f}: not a readable parquet file"):
        load_task("sst2", cfg)


def test_missing_split_file_names_the_folder(local):
    folder, cfg = local
    (folder / "test-00000-of-00001.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"no parquet file for split 'test' under .*sst2"):
        load_task("sst2", cfg)


def test_wrong_race_answer_is_named(world, tmp_path):
    shutil.copytree(world / "ehovy/race/middle", tmp_path / "ehovy/race/middle")
    f = tmp_path / "ehovy/race/middle/train-00000-of-00001.parquet"
    _set_cell(f, "answer", 5, "E")
    with pytest.raises(ValueError, match=rf"{f}: column 'answer' row 5 has value 'E'"):
        load_task("race_middle", {"source": "local", "root": str(tmp_path), "cache_dir": str(tmp_path / "c")})


def test_unknown_task_and_bad_source_and_missing_root(local):
    _, cfg = local
    with pytest.raises(KeyError, match=r"unknown task 'glue_sst9'.*known tasks"):
        load_task("glue_sst9", cfg)
    with pytest.raises(ValueError, match=r"data.source must be one of hub, synthetic, local, got 'ftp'"):
        load_task("sst2", {**cfg, "source": "ftp"})
    with pytest.raises(KeyError, match=r"data.root is required"):
        load_task("sst2", {**cfg, "root": None})


def test_offline_hub_request_fails_at_once_with_the_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf", raising=False)
    cfg = OmegaConf.to_container(compose_config(["data=hub"]).data, resolve=True)
    start = time.time()
    with pytest.raises(RuntimeError) as err:
        load_task("sst2", cfg)
    assert time.time() - start < 20
    text = str(err.value)
    assert "nyu-mll/glue (sst2)" in text and "data=synthetic" in text and "data=local data.root=" in text
    with pytest.raises(RuntimeError, match="data=synthetic"):
        load_corpus({**cfg, "corpus": {"en": {**cfg["corpus"]["en"], "max_documents": 5}}}, "en")


def test_sentence_splitter_keeps_order_and_languages_apart():
    assert split_sentences("Ana was born in 1950. She moved to Rome!\n\nToday she lives there.", "en") == [
        "Ana was born in 1950.", "She moved to Rome!", "Today she lives there."]
    assert split_sentences("我喜欢吃西瓜。你呢？\n\n他也喜欢。", "zh") == ["我喜欢吃西瓜。", "你呢？", "他也喜欢。"]
