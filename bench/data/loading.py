"""Loading a task or a pretraining corpus from the hub, a local folder in the hub layout, or the
synthetic world (which writes such a folder and is then read exactly like `local`).

    load_task(cfg.task, cfg.data)        -> DatasetDict, split names as on the hub
    load_corpus(cfg.data, "en")          -> [[sentence, ...], ...]  one list per document

Local layout: <root>/<hub path>/<hub name>/<split>-*.parquet (also <split>/*.parquet or
<split>.parquet), i.e. what `git clone https://huggingface.co/datasets/<hub path>` gives under
<root>/<hub path>. Files are checked before `datasets` reads them, so a truncated file, a missing
column or a label outside the declared label names fails with the file and the column named.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.data.config import as_dict, cache_dir, file_sha256, source_of
from bench.data.specs import TaskSpec, load_task_spec
from bench.data.synthetic import ensure_synthetic, file_digests, generator_of

SWITCH_HINT = (
    "switch to the synthetic world (data=synthetic) or to a local copy in the hub layout "
    "(data=local data.root=/path/to/folder, see conf/data/local.yaml)"
)


def load_task(task_cfg, data_cfg) -> datasets.DatasetDict:
    """The task's splits (train, eval and test splits of its spec) with the hub's features."""
    spec = load_task_spec(task_cfg)
    d = as_dict(data_cfg)
    source = source_of(d)
    if source == "hub":
        return _load_hub_task(spec, d)
    if source == "synthetic":
        check_synthetic_params(spec)
    root = ensure_synthetic(d) if source == "synthetic" else local_root(d)
    return load_local_task(spec, root, cache_dir(d) / "datasets")


def check_synthetic_params(spec) -> None:
    """The world writes every task from its conf/task file, so a task without a generator there has
    no synthetic data, and a `task.synthetic.*` override would be silently ignored: refuse both."""
    on_file = load_task_spec(spec.name)
    generator_of(on_file)
    written = on_file.synthetic
    changed = sorted(k for k in {*spec.synthetic, *written} if spec.synthetic.get(k) != written.get(k))
    if changed:
        raise ValueError(f"task.synthetic.{changed[0]}: the synthetic world is written from conf/task/{spec.name}.yaml "
                         f"({written.get(changed[0])!r} there, {spec.synthetic.get(changed[0])!r} here); change it "
                         "in that file, which regenerates the world")


def source_identity(d: dict, path: str, name: str | None, splits: list[str]) -> dict:
    """What identifies the raw data of (path, name, splits) in this source, for cache keys: the
    sha256 of each file read (the synthetic world's from its manifest, local files' remembered under
    <cache_dir>/digests by path, size and mtime), or, for the hub, the name and revision."""
    source = source_of(d)
    if source == "hub":
        return {"source": source, "path": path, "name": name, "revision": d.get("revision")}
    root = ensure_synthetic(d) if source == "synthetic" else local_root(d)
    known = file_digests(root) if source == "synthetic" else {}
    files = {}
    for f in (f for s in splits for f in split_files(root, path, name, s)):
        rel = f.relative_to(root).as_posix()
        files[rel] = known.get(rel) or file_sha256(f, cache_dir(d) / "digests")
    return {"files": files}


def corpus_identity(d: dict, language: str) -> dict:
    corpus = (d.get("corpus") or {}).get(language) or {}
    ident = source_identity(d, corpus.get("path", ""), corpus.get("name"), [corpus.get("split", "train")])
    return {**ident, "corpus": corpus}


def local_root(d: dict) -> Path:
    root = d.get("root")
    if not root:
        raise KeyError("data.root is required for data.source=local: data=local data.root=/path/to/folder")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"data.root={root!r} is not a folder")
    return path


def split_files(root: Path, path: str, name: str | None, split: str) -> list[Path]:
    base = Path(root) / path / (name or "")
    patterns = (f"{split}-*.parquet", f"{split}/*.parquet", f"{split}.parquet")
    for pattern in patterns:
        files = sorted(base.glob(pattern))
        if files:
            return files
    raise FileNotFoundError(f"no parquet file for split {split!r} under {base} (looked for {', '.join(patterns)})")


def load_local_task(spec: TaskSpec, root: Path, hf_cache: Path | None = None) -> datasets.DatasetDict:
    features = spec.hub_features()
    data_files = {}
    for split in spec.all_splits:
        files = split_files(root, spec.hub["path"], spec.hub["name"], split)
        for f in files:
            check_parquet(f, spec, split)
        data_files[split] = [str(f) for f in files]
    try:
        ds = datasets.load_dataset(
            "parquet", data_files=data_files, features=features, cache_dir=str(hf_cache) if hf_cache else None
        )
    except Exception as e:  # a cast that the schema check could not foresee
        raise ValueError(f"task {spec.name}: cannot read {data_files} with the features of {spec.source}: {e}") from e
    return datasets.DatasetDict({s: ds[s] for s in spec.all_splits})


def check_parquet(file: Path, spec: TaskSpec, split: str) -> None:
    """Readable, has every declared column, labels inside the declared label set."""
    try:
        schema = pq.read_schema(file)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"{file}: not a readable parquet file (truncated or corrupt?): {e}") from e
    missing = [c for c in spec.features if c not in schema.names]
    if missing:
        raise KeyError(
            f"{file}: missing column {missing[0]!r} (task {spec.name} declares {', '.join(spec.features)} in {spec.source})"
        )
    label = spec.column("label")
    if spec.type == "classification" and label:
        values = _column(file, label)
        n = len(spec.label_names or [])
        bad = pc.or_(pc.less(values, -1), pc.greater_equal(values, n))
        _raise_on_bad(file, label, values, bad, f"a class index in [0, {n}) or -1 (hidden test label); names {spec.label_names}")
        if split not in spec.test_splits or spec.test_labels:
            _raise_on_bad(file, label, values, pc.equal(values, -1), "a known label (-1 only on hidden test splits)")
    answer = spec.column("answer")
    if spec.type == "multiple_choice" and answer:
        values = _column(file, answer)
        letters = [chr(ord("A") + i) for i in range(len(spec.label_names or "ABCD"))]
        bad = pc.invert(pc.is_in(values, value_set=pa.array(letters)))
        _raise_on_bad(file, answer, values, bad, f"one of {letters}")


def _column(file: Path, column: str) -> pa.ChunkedArray:
    try:
        return pq.read_table(file, columns=[column]).column(column)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(f"{file}: cannot read column {column!r}: {e}") from e


def _raise_on_bad(file: Path, column: str, values: pa.ChunkedArray, bad: pa.ChunkedArray, expected: str) -> None:
    bad = pc.fill_null(bad, True)
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        raise ValueError(f"{file}: column {column!r} row {row} has value {values[row].as_py()!r}; expected {expected}")


def _load_hub_task(spec: TaskSpec, d: dict) -> datasets.DatasetDict:
    path, name = spec.hub["path"], spec.hub["name"]
    ds = _hub_call(f"{path} ({name})", datasets.load_dataset, path, name, revision=d.get("revision"))
    missing = [s for s in spec.all_splits if s not in ds]
    if missing:
        raise KeyError(f"hub dataset {path} ({name}) has no split {missing[0]!r} (has {', '.join(ds)}; see {spec.source})")
    out = {}
    features = spec.hub_features()
    for s in spec.all_splits:
        cols = [c for c in features if c not in ds[s].column_names]
        if cols:
            raise KeyError(f"hub dataset {path} ({name}) split {s}: missing column {cols[0]!r} (declared in {spec.source})")
        out[s] = ds[s] if ds[s].features == features else ds[s].select_columns(list(features)).cast(features)
    return datasets.DatasetDict(out)


def _hub_call(what: str, fn, *args, **kwargs):
    """Run a hub download; when it cannot be served offline, fail at once saying how to switch."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        offline = hub_offline()
        text = f"{type(e).__name__}: {e}"
        if offline or "ConnectionError" in text or "OfflineMode" in text or "resolve" in text.lower():
            mode = "HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set and " if offline else ""
            raise RuntimeError(f"data=hub: cannot load {what}: {mode}no local copy could serve it ({text}). "
                               f"To run without the hub, {SWITCH_HINT}.") from e
        raise


def hub_offline() -> bool:
    return any(os.environ.get(k, "").upper() in ("1", "ON", "YES", "TRUE") for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


# --- pretraining corpora --------------------------------------------------------------------------
_EN_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ZH_SENTENCE_END = re.compile(r"(?<=[。！？])")


def split_sentences(text: str, language: str) -> list[str]:
    """Paragraphs (newline-separated) -> sentences, in order."""
    out = []
    for para in text.split("\n"):
        para = para.strip()
        if not para:
            continue
        parts = _ZH_SENTENCE_END.split(para) if language == "zh" else _EN_SENTENCE_END.split(para)
        out.extend(p.strip() for p in parts if p.strip())
    return out


def load_corpus(data_cfg, language: str) -> list[list[str]]:
    """The pretraining corpus of `language`: one list of sentences per document, in order."""
    d = as_dict(data_cfg)
    corpus = (d.get("corpus") or {}).get(language)
    if not corpus:
        raise KeyError(f"data.corpus.{language} is not set (conf/data/corpus/*.yaml names one per language)")
    for key in ("path", "text_column"):
        if not corpus.get(key):
            raise KeyError(f"data.corpus.{language}.{key} is required")
    texts = corpus_texts(d, corpus)
    docs = [split_sentences(t, language) for t in texts]
    return [doc for doc in docs if doc]


def corpus_texts(d: dict, corpus: dict) -> list[str]:
    source = source_of(d)
    path, name, split = corpus["path"], corpus.get("name"), corpus.get("split", "train")
    column, limit = corpus["text_column"], corpus.get("max_documents")
    if source == "hub":
        if limit:  # stream, so a capped corpus does not download the whole dump
            stream = _hub_call(f"{path} ({name})", datasets.load_dataset, path, name, split=split, streaming=True,
                               revision=d.get("revision"))
            return [row[column] for row in stream.take(int(limit))]
        ds = _hub_call(f"{path} ({name})", datasets.load_dataset, path, name, split=split, revision=d.get("revision"))
    else:
        root = ensure_synthetic(d) if source == "synthetic" else local_root(d)
        files = split_files(root, path, name, split)
        for f in files:
            try:
                names = pq.read_schema(f).names
            except (pa.ArrowException, OSError) as e:
                raise ValueError(f"{f}: not a readable parquet file (truncated or corrupt?): {e}") from e
            if column not in names:
                raise KeyError(f"{f}: missing column {column!r} (data.corpus text_column)")
        ds = datasets.load_dataset("parquet", data_files={split: [str(f) for f in files]}, split=split,
                                   columns=[column], cache_dir=str(cache_dir(d) / "datasets"))
    if column not in ds.column_names:
        raise KeyError(f"corpus {path} ({name}): missing column {column!r}")
    if limit:
        ds = ds.select(range(min(int(limit), len(ds))))
    return ds[column]
