"""Task specs as data: one YAML per task in `conf/task/` (cramming's eval/tasks pattern).

The code has no per-task branches: loaders, feature builders, metrics and the synthetic world all
read the spec. A spec names the hub dataset (path + config), the split names as on the hub, which
columns play which role, the label names, the exact hub features, the metrics and the per-task
fine-tuning defaults. A wrong or missing key fails here, naming the file and the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import yaml
from omegaconf import DictConfig, OmegaConf

from bench.io import CONF_DIR

TASK_DIR = CONF_DIR / "task"
TASK_TYPES = ("classification", "regression", "span_qa", "multiple_choice")
LANGUAGES = ("en", "zh")
# The columns each task type must map (spec key `columns`); text_b may be null (single sentence).
ROLE_KEYS = {
    "classification": ("text_a", "text_b", "label"),
    "regression": ("text_a", "text_b", "label"),
    "span_qa": ("question", "context", "answers", "id"),
    "multiple_choice": ("article", "question", "options", "answer", "id"),
}
REQUIRED_KEYS = (
    "name", "type", "language", "hub", "splits", "columns", "label_names", "features", "metrics", "headline", "hparams",
)
SCALAR_DTYPES = ("string", "int32", "int64", "float32", "float64", "bool")
# How a GLUE submission file writes a prediction: the label's name (MNLI, QNLI, RTE), its index,
# or the regression score (STS-B).
SUBMISSION_LABELS = ("names", "ids", "scores")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    type: str
    language: str
    hub: dict  # {path, name}
    splits: dict  # {train: str, eval: {split: metric suffix}, test: [split, ...]}
    columns: dict  # role -> column name
    label_names: list[str] | None
    features: dict  # column -> dtype notation (see `parse_feature`)
    metrics: list[str]
    headline: str
    hparams: dict
    test_labels: bool = True
    glue_score: list[str] = field(default_factory=list)  # logged metrics whose mean is its GLUE score; [] = not in it
    synthetic: dict = field(default_factory=dict)
    submission: dict = field(default_factory=dict)  # {files: {test split: file stem}, labels: names|ids|scores}
    source: str = "<dict>"  # the file the spec came from, for error messages

    @property
    def num_labels(self) -> int | None:
        return len(self.label_names) if self.label_names else None

    @property
    def train_split(self) -> str:
        return self.splits["train"]

    @property
    def eval_splits(self) -> dict[str, str]:
        return dict(self.splits.get("eval") or {})

    @property
    def test_splits(self) -> list[str]:
        return list(self.splits.get("test") or [])

    @property
    def all_splits(self) -> list[str]:
        """Every split the hub dataset has, in spec order, without repeats."""
        out = [self.train_split, *self.eval_splits, *self.test_splits]
        return list(dict.fromkeys(out))

    def column(self, role: str) -> str | None:
        return self.columns.get(role)

    def hub_features(self) -> datasets.Features:
        """The exact `datasets.Features` of the hub dataset, built from the `features` notation."""
        return datasets.Features(
            {col: parse_feature(dt, self.label_names, f"{self.source}: features.{col}") for col, dt in self.features.items()}
        )

    def metric_keys(self) -> list[str]:
        """Summary keys the fine-tuning job logs: <task>/<metric><suffix> for every eval split."""
        return [f"{self.name}/{m}{suffix}" for suffix in self.eval_splits.values() for m in self.metrics]

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    def digest(self) -> str:
        """Hash of everything that defines the task's data (not how it is fine-tuned, scored or submitted)."""
        d = self.to_dict()
        for key in ("hparams", "submission", "glue_score"):
            d.pop(key)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def parse_feature(notation: Any, label_names: list[str] | None, where: str) -> Any:
    """`string` / `int32` / `float32` / `class_label` / `list<...>` / {key: notation} -> a datasets feature."""
    if isinstance(notation, Mapping):
        return {k: parse_feature(v, label_names, f"{where}.{k}") for k, v in notation.items()}
    if not isinstance(notation, str):
        raise ValueError(f"{where}: expected a dtype string or a mapping, got {notation!r}")
    s = notation.strip()
    if s.startswith("list<") and s.endswith(">"):
        return datasets.List(parse_feature(s[5:-1], label_names, where))
    if s == "class_label":
        if not label_names:
            raise ValueError(f"{where}: class_label needs label_names in the spec")
        return datasets.ClassLabel(names=list(label_names))
    if s in SCALAR_DTYPES:
        return datasets.Value(s)
    raise ValueError(f"{where}: unknown dtype {notation!r} (one of {', '.join(SCALAR_DTYPES)}, class_label, list<...>)")


def task_names() -> list[str]:
    return sorted(p.stem for p in TASK_DIR.glob("*.yaml"))


def load_task_spec(task: str | Mapping | DictConfig | TaskSpec) -> TaskSpec:
    """A TaskSpec from a task name (conf/task/<name>.yaml), a composed `cfg.task` node or a dict."""
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, str):
        path = spec_file(task)
        if not path.is_file():
            raise KeyError(f"unknown task {task!r}: no {path} (known tasks: {', '.join(task_names())})")
        with open(path, encoding="utf-8") as f:
            return spec_from_dict(yaml.safe_load(f), source=str(path))
    if isinstance(task, DictConfig):
        task = OmegaConf.to_container(task, resolve=True)
    if isinstance(task, Mapping):
        name = task.get("name", "?")
        return spec_from_dict(dict(task), source=f"task {name!r} (conf/task/{name}.yaml)")
    raise TypeError(f"a task is a name, a dict or a DictConfig, got {type(task).__name__}")


def spec_from_dict(d: dict, source: str = "<dict>") -> TaskSpec:
    missing = [k for k in REQUIRED_KEYS if k not in d]
    if missing:
        raise KeyError(f"{source}: missing key(s) {', '.join(missing)}")
    known = {f for f in TaskSpec.__dataclass_fields__} - {"source"}
    unknown = sorted(set(d) - known)
    if unknown:
        raise KeyError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if d["type"] not in TASK_TYPES:
        raise ValueError(f"{source}: type must be one of {', '.join(TASK_TYPES)}, got {d['type']!r}")
    if d["language"] not in LANGUAGES:
        raise ValueError(f"{source}: language must be one of {', '.join(LANGUAGES)}, got {d['language']!r}")
    hub = d["hub"] or {}
    if not hub.get("path"):
        raise KeyError(f"{source}: hub.path is required")
    splits = d["splits"] or {}
    for k in ("train", "eval"):
        if not splits.get(k):
            raise KeyError(f"{source}: splits.{k} is required")
    columns = d["columns"] or {}
    roles = ROLE_KEYS[d["type"]]
    missing_roles = [r for r in roles if r not in columns]
    if missing_roles:
        raise KeyError(f"{source}: columns.{missing_roles[0]} is required for type {d['type']} (roles: {', '.join(roles)})")
    features = d["features"] or {}
    for role, col in columns.items():
        if col is not None and col not in features:
            raise KeyError(f"{source}: columns.{role} = {col!r} is not a column in features ({', '.join(features)})")
    if d["type"] == "classification" and not d["label_names"]:
        raise KeyError(f"{source}: label_names is required for a classification task")
    spec = TaskSpec(
        name=d["name"], type=d["type"], language=d["language"], hub={"path": hub["path"], "name": hub.get("name")},
        splits={"train": splits["train"], "eval": dict(splits["eval"]), "test": list(splits.get("test") or [])},
        columns=dict(columns), label_names=list(d["label_names"]) if d["label_names"] else None,
        features=dict(features), metrics=list(d["metrics"]), headline=d["headline"], hparams=dict(d["hparams"]),
        test_labels=bool(d.get("test_labels", True)), glue_score=list(d.get("glue_score") or []),
        synthetic=dict(d.get("synthetic") or {}),
        submission=_submission(d.get("submission"), d, source), source=source,
    )
    headlines = {f"{m}{s}" for s in spec.eval_splits.values() for m in spec.metrics}
    if spec.headline not in headlines:
        raise ValueError(f"{source}: headline {spec.headline!r} is none of the logged metrics {sorted(headlines)}")
    if stray := [m for m in spec.glue_score if m not in headlines]:
        raise ValueError(f"{source}: glue_score {stray[0]!r} is none of the logged metrics {sorted(headlines)}")
    spec.hub_features()  # fails early on a bad dtype notation
    return spec


def _submission(sub: Any, d: dict, source: str) -> dict:
    """The spec's `submission` ({files: {test split: file stem}, labels: names|ids|scores}), checked."""
    if not sub:
        return {}
    files, labels = dict(sub.get("files") or {}), sub.get("labels")
    unknown = sorted(set(sub) - {"files", "labels"})
    if unknown:
        raise KeyError(f"{source}: unknown key(s) submission.{', submission.'.join(unknown)} (known: files, labels)")
    tests = list((d.get("splits") or {}).get("test") or [])
    stray = [s for s in files if s not in tests]
    if not files or stray:
        raise ValueError(f"{source}: submission.files must map test splits ({', '.join(tests) or 'none'}) to file "
                         f"names, got {files}")
    if labels not in SUBMISSION_LABELS:
        raise ValueError(f"{source}: submission.labels must be one of {', '.join(SUBMISSION_LABELS)}, got {labels!r}")
    return {"files": files, "labels": labels}


def spec_file(name: str) -> Path:
    """The file of a task spec: conf/task/<name>.yaml."""
    return TASK_DIR / f"{name}.yaml"
