"""Writing the synthetic world in the hub layout, once per (seed, sizes, generator code).

`ensure_synthetic(data_cfg)` returns a folder laid out exactly like `data=local` expects:

    <cache_dir>/synthetic/<seed>-<hash>/<hub path>/<hub name>/<split>-00000-of-00001.parquet

with every task of conf/task that names a synthetic generator (the exact hub features: ClassLabel
names, `idx`, label -1 on GLUE test splits, SQuAD `answers` lists, RACE options and A-D answers)
and the pretraining corpora at their hub names (wikipedia-like rows: id, url, title, text). The
hash covers the sizes, the task specs, the corpus names and the generator source, so a change to
any of them writes a new folder instead of reusing stale data. Generation runs under a file lock and lands by an atomic rename,
so parallel jobs of a sweep generate it once. The folder's manifest.json records the sha256 of every
file written (`file_digests`, `world_digest`): caches of what was made from the world are keyed by
that content, not by the settings that should have produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import datasets
from filelock import FileLock

from bench.data import documents, generators, lexicon, nli, reading, world
from bench.data.config import as_dict, cache_dir, file_sha256
from bench.data.documents import corpus_documents
from bench.data.generators import GENERATORS, Generator
from bench.data.specs import TaskSpec, load_task_spec, task_names
from bench.data.world import build_world
from bench.io import slow_step

CORPUS_FEATURES = datasets.Features(
    {"id": datasets.Value("string"), "url": datasets.Value("string"), "title": datasets.Value("string"), "text": datasets.Value("string")}
)
COMPLETE = "_COMPLETE"


def _code_digest() -> str:
    h = hashlib.sha256()
    for mod in (world, lexicon, documents, generators, nli, reading):
        h.update(Path(mod.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:12]


def synthetic_root(data_cfg) -> Path:
    """Where this config's synthetic world lives: <cache_dir>/synthetic/<seed>-<hash>."""
    d = as_dict(data_cfg)
    specs = {spec.name: spec.digest() for spec in synthetic_tasks()}
    key = {"sizes": d.get("sizes"), "corpus": d.get("corpus"), "specs": specs, "code": _code_digest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir(d) / "synthetic" / f"{int(d.get('seed', 0))}-{digest}"


def synthetic_tasks() -> list[TaskSpec]:
    """The tasks of conf/task the world writes: those with a known `synthetic.generator`. The others
    are refused only when their synthetic data is asked for (`generator_of`), not by every job."""
    return [spec for spec in map(load_task_spec, task_names()) if spec.synthetic.get("generator") in GENERATORS]


def generator_of(spec: TaskSpec) -> Generator:
    """The task's synthetic generator, or an error saying how to run the task without one."""
    name = spec.synthetic.get("generator")
    if name is None:
        raise ValueError(f"task {spec.name} has no synthetic data: {spec.source} names no synthetic.generator. Run it "
                         "on its real data (data=hub, or data=local data.root=/path/to/folder), or add a generator to "
                         "bench/data/generators.py and name it there (synthetic: {generator: <name>})")
    if name not in GENERATORS:
        raise KeyError(f"{spec.source}: synthetic.generator {name!r} is not one of {', '.join(sorted(GENERATORS))}")
    return GENERATORS[name]


def ensure_synthetic(data_cfg) -> Path:
    """Generate the world's files if this config has not yet, and return their root."""
    d = as_dict(data_cfg)
    root = synthetic_root(d)
    if (root / COMPLETE).is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if (root / COMPLETE).is_file():
            return root
        tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        with slow_step(f"synthetic world: writing every task and corpus to {root}"):
            manifest = write_world(tmp, d)
        manifest["files"] = {f.relative_to(tmp).as_posix(): file_sha256(f) for f in sorted(tmp.rglob("*.parquet"))}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
        (tmp / COMPLETE).write_text("")
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
    return root


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every file of a written world, by path relative to its root (from its manifest)."""
    try:
        return json.loads((Path(root) / "manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{root}: the synthetic world's manifest.json is missing or damaged ({type(e).__name__}: {e}); "
                         "delete the folder and it is written again") from e


def world_digest(root: Path) -> str:
    """One sha256 of the whole world's content (every file's path and sha256)."""
    return hashlib.sha256(json.dumps(file_digests(root), sort_keys=True).encode()).hexdigest()


def split_size(spec: TaskSpec, split: str, sizes: dict) -> int:
    """Rows for one split: sizes.overrides[task][split], else the split's role default."""
    override = ((sizes.get("overrides") or {}).get(spec.name) or {}).get(split)
    if override is not None:
        return int(override)
    if split == spec.train_split:
        return int(sizes["train"])
    if split in spec.eval_splits:
        return int(sizes["eval"])
    return int(sizes["test"])


def task_rows_to_columns(spec: TaskSpec, rows: list[dict], split: str) -> dict[str, list]:
    """Generator rows (keyed by role) -> the hub's columns, with `idx` and hidden test labels."""
    column_role = {col: role for role, col in spec.columns.items() if col}
    hidden = not spec.test_labels and split in spec.test_splits
    out: dict[str, list] = {c: [] for c in spec.features}
    for i, row in enumerate(rows):
        for col in spec.features:
            role = column_role.get(col, col)
            if hidden and role == "label":
                value = -1
            elif role in row:
                value = row[role]
            elif col == "idx":
                value = i
            else:
                raise KeyError(f"synthetic generator {spec.synthetic.get('generator')!r} gives no value for column "
                               f"{col!r} (role {role!r}) of task {spec.name} ({spec.source})")
            out[col].append(value)
    return out


def parquet_path(root: Path, path: str, name: str | None, split: str) -> Path:
    return root / path / (name or "") / f"{split}-00000-of-00001.parquet"


def write_task(root: Path, spec: TaskSpec, w: world.World, seed: int, sizes: dict) -> dict[str, int]:
    generate = generator_of(spec)
    features = spec.hub_features()
    counts = {}
    for split in spec.all_splits:
        n = split_size(spec, split, sizes)
        rng = random.Random(f"{seed}-{spec.name}-{split}")
        rows = generate(w, rng, split, n, spec.synthetic)
        ds = datasets.Dataset.from_dict(task_rows_to_columns(spec, rows, split), features=features)
        out = parquet_path(root, spec.hub["path"], spec.hub["name"], split)
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(out))
        counts[split] = len(ds)
    return counts


def write_corpus(root: Path, corpus: dict, language: str, w: world.World, seed: int, n_docs: int) -> int:
    rng = random.Random(f"{seed}-corpus-{language}")
    docs = corpus_documents(w, n_docs, language, rng)
    sep = "" if language == "zh" else " "
    rows = {"id": [], "url": [], "title": [], "text": []}
    for i, (title, sentences) in enumerate(docs):
        cut = max(1, len(sentences) // 2)  # two paragraphs, as a wiki article has several
        rows["id"].append(str(i + 1))
        rows["url"].append(f"https://synthetic.invalid/wiki/{language}/{i + 1}")
        rows["title"].append(title)
        rows["text"].append(sep.join(sentences[:cut]) + "\n\n" + sep.join(sentences[cut:]))
    out = parquet_path(root, corpus["path"], corpus.get("name"), corpus.get("split", "train"))
    out.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=CORPUS_FEATURES).to_parquet(str(out))
    return len(docs)


def write_world(root: Path, data_cfg: dict) -> dict:
    """Every task and corpus of the world under `root`; returns a manifest of row counts."""
    seed = int(data_cfg.get("seed", 0))
    sizes = data_cfg.get("sizes") or {}
    for key in ("train", "eval", "test"):
        if key not in sizes:
            raise KeyError(f"data.sizes.{key} is required for data.source=synthetic")
    w = build_world(seed)
    manifest: dict = {"seed": seed, "tasks": {}, "corpus": {}}
    with _quiet_progress():
        for spec in synthetic_tasks():
            manifest["tasks"][spec.name] = write_task(root, spec, w, seed, sizes)
        for language, corpus in (data_cfg.get("corpus") or {}).items():
            n_docs = int((sizes.get("corpus") or {}).get(language, 1000))
            manifest["corpus"][language] = write_corpus(root, corpus, language, w, seed, n_docs)
    return manifest


class _quiet_progress:
    """datasets' progress bars off while writing (restored after)."""

    def __enter__(self):
        self.was_enabled = datasets.utils.logging.is_progress_bar_enabled()
        datasets.disable_progress_bars()

    def __exit__(self, *exc):
        if self.was_enabled:
            datasets.enable_progress_bars()
