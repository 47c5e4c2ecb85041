"""The synthetic world: the hub schemas exactly, the hub layout on disk, the same examples through
data=local, determinism from the seed, and the properties the tasks and corpora promise."""

import json
import random
import re
import shutil

import jieba
import pandas as pd
import pytest
import yaml

import bench.data.specs as specs
from bench.config.compose import compose_config
from bench.data import load_corpus, load_task, load_task_spec
from bench.data.config import file_sha256
from bench.data.reading import reading_comprehension
from bench.data.synthetic import (
    ensure_synthetic,
    file_digests,
    parquet_path,
    split_size,
    synthetic_root,
    synthetic_tasks,
    world_digest,
)
from bench.data.world import build_world
from tests.support.world import SIZES, small_data_cfg


@pytest.fixture(scope="module")
def local_cfg(cfg, tmp_path_factory):
    """A separate folder in the hub layout (a copy of the world), read through data=local."""
    root = tmp_path_factory.mktemp("local") / "hub"
    shutil.copytree(ensure_synthetic(cfg), root)
    return {**cfg, "source": "local", "root": str(root), "cache_dir": str(tmp_path_factory.mktemp("local_cache"))}


def test_default_data_config_is_synthetic():
    data = compose_config([]).data
    assert data.source == "synthetic" and data.sizes.overrides.stsb.validation == 1500


@pytest.mark.parametrize("task", [spec.name for spec in synthetic_tasks()])
def test_synthetic_task_has_hub_schema_and_local_gives_same_examples(task, cfg, local_cfg):
    spec = load_task_spec(task)
    synthetic = load_task(task, cfg)
    local = load_task(task, local_cfg)
    assert list(synthetic) == spec.all_splits
    root = synthetic_root(cfg)
    for split in spec.all_splits:
        ds = synthetic[split]
        assert ds.features == spec.hub_features(), f"{task}/{split}"
        assert len(ds) == split_size(spec, split, SIZES)
        assert parquet_path(root, spec.hub["path"], spec.hub["name"], split).is_file()
        assert local[split].features == ds.features
        assert local[split].to_list() == ds.to_list()


def test_world_is_deterministic_from_the_seed(cfg, tmp_path):
    again = small_data_cfg(tmp_path / "a", SIZES)
    other = small_data_cfg(tmp_path / "b", SIZES, seed=cfg["seed"] + 1)
    assert synthetic_root(again).name == synthetic_root(cfg).name
    assert synthetic_root(other).name != synthetic_root(cfg).name
    a, b, c = (load_task("mnli", x)["train"].to_pandas() for x in (cfg, again, other))
    pd.testing.assert_frame_equal(a, b)
    assert not a["premise"].equals(c["premise"])
    assert load_corpus(again, "en") == load_corpus(cfg, "en")
    # the manifest's sha256 of every file: the same bytes written again, others for another seed
    root = ensure_synthetic(again)
    assert file_digests(root) == file_digests(ensure_synthetic(cfg))
    assert world_digest(root) == world_digest(ensure_synthetic(cfg)) != world_digest(ensure_synthetic(other))
    assert {p.relative_to(root).as_posix() for p in root.rglob("*.parquet")} == set(file_digests(root))
    assert all(file_sha256(root / rel) == sha for rel, sha in file_digests(root).items())


def test_sizes_change_the_world_folder(cfg, tmp_path):
    bigger = small_data_cfg(tmp_path, {**SIZES, "train": 91})
    assert synthetic_root(bigger).name.split("-")[0] == str(cfg["seed"])
    assert synthetic_root(bigger).name != synthetic_root(cfg).name


def test_a_task_without_a_generator_is_refused_only_for_its_own_synthetic_data(tmp_path, monkeypatch):
    """A task file without `synthetic.generator` (or with an unknown one) breaks neither the world
    nor the other tasks; asking for its synthetic data says how to run it instead."""
    tasks = tmp_path / "task"
    tasks.mkdir()
    shutil.copy(specs.TASK_DIR / "sst2.yaml", tasks)
    monkeypatch.setattr(specs, "TASK_DIR", tasks)
    cfg = small_data_cfg(tmp_path / "cache", SIZES, corpus={})
    before = synthetic_root(cfg)
    spec = yaml.safe_load((tasks / "sst2.yaml").read_text())
    del spec["synthetic"]
    (tasks / "no_generator.yaml").write_text(yaml.safe_dump({**spec, "name": "no_generator"}))
    (tasks / "typo.yaml").write_text(yaml.safe_dump({**spec, "name": "typo", "synthetic": {"generator": "sentimant"}}))
    assert synthetic_root(cfg) == before  # the world they are not in is the same world
    assert len(load_task("sst2", cfg)["train"]) == SIZES["train"]
    assert list(json.loads((before / "manifest.json").read_text())["tasks"]) == ["sst2"]
    with pytest.raises(ValueError, match=r"task no_generator has no synthetic data: .*no_generator\.yaml names no "
                                         r"synthetic\.generator\. Run it on its real data \(data=hub, or data=local"):
        load_task("no_generator", cfg)
    with pytest.raises(KeyError, match=r"typo\.yaml: synthetic.generator 'sentimant' is not one of .*sentiment"):
        load_task("typo", cfg)


def test_glue_test_labels_are_hidden_and_eval_labels_known(cfg):
    for task in ("sst2", "mnli", "stsb"):
        spec, ds = load_task_spec(task), load_task(task, cfg)
        for split in spec.test_splits:
            assert set(ds[split]["label"]) == {-1}
        for split in spec.eval_splits:
            assert min(ds[split]["label"]) >= 0
    assert sorted(set(load_task("mnli", cfg)["train"]["label"])) == [0, 1, 2]
    assert set(load_task("xnli_zh", cfg)["test"]["label"]) <= {0, 1, 2}


def test_labels_are_not_constant_and_stsb_spans_the_scale(cfg):
    for task in ("cola", "sst2", "mrpc", "qqp", "qnli", "rte", "wnli"):
        labels = load_task(task, cfg)["train"]["label"]
        assert 0.15 < sum(labels) / len(labels) < 0.85, task
    scores = load_task("stsb", cfg)["validation"]["label"]
    assert min(scores) < 1.0 and max(scores) > 4.0


def test_squad_answers_are_spans_of_the_context(cfg):
    for task in ("squad_v1", "squad_v2"):
        for split in ("train", "validation"):
            for ex in load_task(task, cfg)[split]:
                ans = ex["answers"]
                assert len(ans["text"]) == len(ans["answer_start"])
                for text, start in zip(ans["text"], ans["answer_start"]):
                    assert ex["context"][start : start + len(text)] == text
                assert re.fullmatch(r"[0-9a-f]{24}", ex["id"])
    v1 = load_task("squad_v1", cfg)
    assert all(ex["answers"]["text"] for split in v1 for ex in v1[split])
    v2 = load_task("squad_v2", cfg)["validation"]
    empty = sum(not ex["answers"]["text"] for ex in v2)
    assert 0.2 < empty / len(v2) < 0.8
    assert all(len(ex["answers"]["text"]) == 3 for ex in v2 if ex["answers"]["text"])  # several annotators


def test_race_ids_options_and_levels(cfg):
    levels = {}
    for task in ("race_middle", "race_high", "race"):
        levels[task] = load_task(task, cfg)["train"]
        for ex in levels[task]:
            assert len(ex["options"]) == 4 and len(set(ex["options"])) == 4
            assert ex["answer"] in "ABCD"
            assert re.fullmatch(r"(middle|high)\d+\.txt", ex["example_id"])
    assert {e[:4] for e in levels["race_middle"]["example_id"]} == {"midd"}
    assert {e[:4] for e in levels["race_high"]["example_id"]} == {"high"}
    # 'all' holds the first rows of 'middle' and 'high', as the hub's all = middle + high
    rows = levels["race"].to_list()
    middle = [r for r in rows if r["example_id"].startswith("middle")]
    high = [r for r in rows if r["example_id"].startswith("high")]
    assert middle and high
    assert middle == levels["race_middle"].to_list()[: len(middle)]
    assert high == levels["race_high"].to_list()[: len(high)]


def test_english_corpus_documents_are_ordered_stories(cfg):
    docs = load_corpus(cfg, "en")
    assert len(docs) == SIZES["corpus"]["en"]
    assert all(len(d) >= 3 for d in docs)
    assert all(s[-1] in ".?" for d in docs for s in d)
    bios = [d for d in docs if d[-1].startswith("Today")]
    assert bios
    for d in bios:  # the full name comes first; later sentences refer back to it
        name = " ".join(d[0].split()[:2])
        assert name.split()[0] in d[-1] or d[-1].split()[1] in ("he", "she")
        years = [int(y) for s in d for y in re.findall(r"\b(1[89]\d\d|20\d\d)\b", s)]
        assert years == sorted(years), d


def test_chinese_corpus_has_multi_character_words(cfg):
    docs = load_corpus(cfg, "zh")
    assert docs and all(s.endswith("。") for d in docs for s in d)
    text = "".join(s for d in docs for s in d)
    words = [w for w in jieba.lcut(text) if re.fullmatch(r"[\u4e00-\u9fff]+", w)]
    multi = [w for w in words if len(w) > 1]
    assert len(multi) / len(words) > 0.4  # whole-word masking differs from character masking
    assert {"喜欢", "出生", "工作"} <= set(multi)


def test_tasks_and_corpus_share_one_world(cfg):
    """The people the tasks ask about are the people the pretraining corpus describes."""
    world = build_world(cfg["seed"])
    names = {p.name for p in world.people}
    corpus = " ".join(s for d in load_corpus(cfg, "en") for s in d)
    described = {n for n in names if n in corpus}
    assert len(described) >= 40
    squad = load_task("squad_v1", cfg)["train"]
    assert {t.replace("_", " ") for t in squad["title"]} <= names
    mnli = " ".join(load_task("mnli", cfg)["train"]["premise"])
    assert sum(n in mnli for n in described) >= 10
    zh = "".join(s for d in load_corpus(cfg, "zh") for s in d)
    assert sum(p.zh_name in zh for p in world.people) >= 20


def test_race_people_per_article_follow_the_spec():
    """`synthetic.people`: one paragraph per person (the high level adds one on how two of them met)."""
    w = build_world(7)
    params = {"levels": {"middle": 0.5, "high": 0.5}, "people": {"middle": 2, "high": [2, 2]}}
    rows = reading_comprehension(w, random.Random(0), "train", 40, params)
    lines = {(r["id"][:4], r["article"].count("\n") + 1) for r in rows}
    assert lines == {("midd", 2), ("high", 3)}
    default = reading_comprehension(w, random.Random(0), "train", 40, {"levels": {"middle": 1.0}})
    assert {r["article"].count("\n") + 1 for r in default} == {1}  # one person when the spec says nothing
    with pytest.raises(ValueError, match=r"synthetic.people.middle: 0"):
        reading_comprehension(w, random.Random(0), "train", 4, {"people": {"middle": 0}})
