"""Task specs (conf/task/*.yaml): every spec parses, declares the real hub schema, and a bad spec
fails naming the file and the key."""

import datasets
import pytest
import yaml

from bench.config.compose import compose_config
from bench.data.specs import TASK_DIR, load_task_spec, spec_from_dict, task_names

C = datasets.ClassLabel
V = datasets.Value
GLUE_NAMES = {
    "cola": ["unacceptable", "acceptable"], "sst2": ["negative", "positive"], "mrpc": ["not_equivalent", "equivalent"],
    "qqp": ["not_duplicate", "duplicate"], "mnli": ["entailment", "neutral", "contradiction"],
    "qnli": ["entailment", "not_entailment"], "rte": ["entailment", "not_entailment"], "wnli": ["not_entailment", "entailment"],
}
GLUE_TEXT = {
    "cola": ["sentence"], "sst2": ["sentence"], "mrpc": ["sentence1", "sentence2"], "qqp": ["question1", "question2"],
    "stsb": ["sentence1", "sentence2"], "mnli": ["premise", "hypothesis"], "qnli": ["question", "sentence"],
    "rte": ["sentence1", "sentence2"], "wnli": ["sentence1", "sentence2"],
}
SQUAD = {"id": V("string"), "title": V("string"), "context": V("string"), "question": V("string"),
         "answers": {"text": datasets.List(V("string")), "answer_start": datasets.List(V("int32"))}}
RACE = {"example_id": V("string"), "article": V("string"), "answer": V("string"), "question": V("string"),
        "options": datasets.List(V("string"))}


def published_features(task: str) -> datasets.Features | None:
    """The hub features as published (the datasets' cards / the TFDS community catalog), written
    out independently of the YAML so a wrong spec is caught; None for a task not written out here."""
    if task in GLUE_TEXT:
        label = V("float32") if task == "stsb" else C(names=GLUE_NAMES[task])
        return datasets.Features({**{c: V("string") for c in GLUE_TEXT[task]}, "label": label, "idx": V("int32")})
    if task.startswith("squad"):
        return datasets.Features(SQUAD)
    if task.startswith("race"):
        return datasets.Features(RACE)
    if task == "xnli_zh":
        return datasets.Features({"premise": V("string"), "hypothesis": V("string"), "label": C(names=GLUE_NAMES["mnli"])})
    return None


def test_all_required_tasks_have_specs():
    required = {"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli", "squad_v1", "squad_v2", "race",
                "race_middle", "race_high"}
    names = set(task_names())
    assert required <= names
    assert any(load_task_spec(n).language == "zh" for n in names)


@pytest.mark.parametrize("task", task_names())
def test_spec_declares_the_published_hub_schema(task):
    spec = load_task_spec(task)
    if published_features(task) is not None:
        assert spec.hub_features() == published_features(task)
    assert spec.name == task
    assert spec.headline in {f"{m}{s}" for s in spec.eval_splits.values() for m in spec.metrics}
    for key in ("lr", "epochs", "batch_size", "max_length"):
        assert key in spec.hparams
    if spec.type == "span_qa":
        assert spec.hparams["doc_stride"] < spec.hparams["max_length"]


def test_hub_names_and_splits_are_the_real_ones():
    assert load_task_spec("mnli").hub == {"path": "nyu-mll/glue", "name": "mnli"}
    assert load_task_spec("mnli").all_splits == ["train", "validation_matched", "validation_mismatched", "test_matched", "test_mismatched"]
    assert load_task_spec("squad_v1").hub == {"path": "rajpurkar/squad", "name": "plain_text"}
    assert load_task_spec("squad_v2").hub == {"path": "rajpurkar/squad_v2", "name": "squad_v2"}
    assert [load_task_spec(n).hub["name"] for n in ("race", "race_middle", "race_high")] == ["all", "middle", "high"]
    assert load_task_spec("xnli_zh").hub == {"path": "facebook/xnli", "name": "zh"}


def test_metric_keys_follow_the_logging_convention():
    assert load_task_spec("mnli").metric_keys() == ["mnli/acc_m", "mnli/acc_mm"]
    assert "squad_v2/best_f1" in load_task_spec("squad_v2").metric_keys()
    assert load_task_spec("race").metric_keys()[:3] == ["race/acc", "race/acc_middle", "race/acc_high"]
    assert load_task_spec("cola").metric_keys() == ["cola/mcc"]


def test_composed_task_node_gives_the_same_spec():
    cfg = compose_config(["task=squad_v2"])
    assert load_task_spec(cfg.task) .to_dict() == load_task_spec("squad_v2").to_dict()


def test_unknown_task_name_lists_known_tasks():
    with pytest.raises(KeyError, match=r"unknown task 'nosuch'.*known tasks: .*mnli"):
        load_task_spec("nosuch")


def _spec_dict(name="sst2"):
    with open(TASK_DIR / f"{name}.yaml") as f:
        return yaml.safe_load(f)


def test_missing_key_names_file_and_key():
    d = _spec_dict()
    del d["metrics"]
    with pytest.raises(KeyError, match=r"sst2\.yaml: missing key\(s\) metrics"):
        spec_from_dict(d, source="conf/task/sst2.yaml")


def test_column_not_in_features_is_named():
    d = _spec_dict("mrpc")
    d["columns"]["text_b"] = "sentence3"
    with pytest.raises(KeyError, match=r"columns.text_b = 'sentence3' is not a column"):
        spec_from_dict(d, source="mrpc.yaml")


def test_bad_dtype_and_bad_type_are_named():
    d = _spec_dict()
    d["features"]["idx"] = "int33"
    with pytest.raises(ValueError, match=r"features.idx: unknown dtype 'int33'"):
        spec_from_dict(d, source="sst2.yaml")
    d = _spec_dict()
    d["type"] = "ranking"
    with pytest.raises(ValueError, match=r"type must be one of"):
        spec_from_dict(d, source="sst2.yaml")
