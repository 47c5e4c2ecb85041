"""Model inputs for every task type, cached on disk by what produced them.

    build_features(cfg.task, cfg.data, tokenizer, split, max_length, doc_stride=None) -> Dataset

- classification / regression: [CLS] A [SEP] (B [SEP]) -> input_ids, token_type_ids,
  attention_mask, labels (int; float for regression; -1 on hidden GLUE test labels);
- span_qa, as Hugging Face's run_qa.py: windows of max_length tokens overlapping by doc_stride.
  The train split gives start_positions/end_positions (the [CLS] index 0 when the answer is not
  inside the window, or there is none); other splits give example_id and offset_mapping, with
  None for every token that is not context, for post-processing;
- multiple_choice: one [CLS] article [SEP] question+option [SEP] per option, the article
  truncated -> input_ids [C, T] etc. and labels 0..C-1, plus example_id.
Nothing is padded here (the collate function pads each batch to its longest).

The cache lives in <cache_dir>/features/<key>/ (`Dataset.save_to_disk`); the key hashes the task
spec, the content of the raw split (its files' sha256, synthetic or local; the hub's name and
revision), the tokenizer's content (`tokenizer_sha256`), the split and the lengths: a different
tokenizer file or a rewritten world never reuses features made from another. A second run loads
the cache and does not tokenize.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import datasets
from filelock import FileLock
from tokenizers import Encoding, Tokenizer

from bench.data.config import as_dict, cache_dir
from bench.data.loading import load_task, source_identity
from bench.data.specs import TaskSpec, load_task_spec
from bench.data.tokenizer import special_ids, tokenizer_sha256
from bench.io import slow_step

FEATURES_VERSION = 2  # 2: keyed by content hashes
CHUNK = 1000  # examples per encode_batch call
IDS = datasets.List(datasets.Value("int32"))
MASK = datasets.List(datasets.Value("int8"))


def build_features(task_cfg, data_cfg, tokenizer: Tokenizer, split: str, max_length: int,
                   doc_stride: int | None = None) -> datasets.Dataset:
    """Tokenized features of one split, from the cache when the same inputs made them before."""
    spec = load_task_spec(task_cfg)
    d = as_dict(data_cfg)
    if split not in spec.all_splits:
        raise KeyError(f"task {spec.name} has no split {split!r} (splits: {', '.join(spec.all_splits)})")
    if spec.type == "span_qa" and doc_stride is None:
        raise ValueError(f"task {spec.name} (span_qa) needs doc_stride")
    key = feature_key(spec, d, tokenizer, split, max_length, doc_stride)
    path = cache_dir(d) / "features" / key
    if not (path / "dataset_info.json").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if not (path / "dataset_info.json").is_file():
                raw = load_task(spec, d)[split]
                with slow_step(f"{spec.name}/{split}: tokenizing {len(raw)} examples"):
                    ds = encode_split(spec, raw, tokenizer, split, max_length, doc_stride)
                tmp = path.parent / f".{key}.tmp-{os.getpid()}"
                shutil.rmtree(tmp, ignore_errors=True)
                ds.save_to_disk(str(tmp))
                os.replace(tmp, path)
    return datasets.load_from_disk(str(path))


def feature_key(spec: TaskSpec, d: dict, tokenizer: Tokenizer, split: str, max_length: int, doc_stride: int | None) -> str:
    what = {
        "task": spec.to_dict() | {"hparams": None, "submission": None},
        "data": source_identity(d, spec.hub["path"], spec.hub["name"], [split]),
        "tokenizer": tokenizer_sha256(tokenizer),
        "split": split,
        "max_length": int(max_length),
        "doc_stride": doc_stride,
        "version": FEATURES_VERSION,
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{spec.name}-{split}-{max_length}-{digest}"


def encode_split(spec: TaskSpec, raw: datasets.Dataset, tokenizer: Tokenizer, split: str, max_length: int,
                 doc_stride: int | None = None) -> datasets.Dataset:
    """Tokenize one raw split (no cache); the encoder per task type is chosen by the spec."""
    tok = Tokenizer.from_str(tokenizer.to_str())  # our own copy: truncation settings stay local
    tok.no_padding()
    if spec.type in ("classification", "regression"):
        return _encode_pairs(spec, raw, tok, max_length)
    if spec.type == "span_qa":
        return _encode_spans(spec, raw, tok, max_length, int(doc_stride), train=split == spec.train_split)
    return _encode_choices(spec, raw, tok, max_length)


def _chunks(raw: datasets.Dataset, columns: list[str]):
    for start in range(0, len(raw), CHUNK):
        batch = raw[start : start + CHUNK]
        yield start, [batch[c] for c in columns]


def _basic(encs: list[Encoding]) -> dict[str, list]:
    return {"input_ids": [e.ids for e in encs], "token_type_ids": [e.type_ids for e in encs],
            "attention_mask": [e.attention_mask for e in encs]}


def _encode_pairs(spec: TaskSpec, raw: datasets.Dataset, tok: Tokenizer, max_length: int) -> datasets.Dataset:
    tok.enable_truncation(max_length, strategy="longest_first")
    a, b, label = spec.column("text_a"), spec.column("text_b"), spec.column("label")
    out: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": [], "labels": []}
    for _, cols in _chunks(raw, [c for c in (a, b, label) if c]):
        texts = list(zip(cols[0], cols[1])) if b else cols[0]
        for k, v in _basic(tok.encode_batch(texts)).items():
            out[k] += v
        out["labels"] += cols[-1]
    label_type = datasets.Value("float32") if spec.type == "regression" else datasets.Value("int64")
    features = datasets.Features({"input_ids": IDS, "token_type_ids": MASK, "attention_mask": MASK, "labels": label_type})
    return datasets.Dataset.from_dict(out, features=features)


def _encode_spans(spec: TaskSpec, raw: datasets.Dataset, tok: Tokenizer, max_length: int, doc_stride: int,
                  train: bool) -> datasets.Dataset:
    plain = Tokenizer.from_str(tok.to_str())
    tok.enable_truncation(max_length, stride=doc_stride, strategy="only_second")
    cls = special_ids(tok).cls
    added = tok.num_special_tokens_to_add(is_pair=True)
    q_col, c_col, a_col, id_col = (spec.column(r) for r in ("question", "context", "answers", "id"))
    out: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    extra: dict[str, list] = {"start_positions": [], "end_positions": []} if train else {"example_id": [], "offset_mapping": []}
    for _, (questions, contexts, answers, ids) in _chunks(raw, [q_col, c_col, a_col, id_col]):
        pairs = [(q.lstrip(), c) for q, c in zip(questions, contexts)]
        longest = max(len(e.ids) for e in plain.encode_batch([q for q, _ in pairs], add_special_tokens=False))
        room = max_length - added - longest  # context tokens per window
        if doc_stride >= room:  # the tokenizers library would panic, not raise
            raise ValueError(f"task {spec.name}: cannot cut windows of max_length={max_length} with doc_stride={doc_stride}: "
                             f"the longest question takes {longest} tokens and the template {added}, so doc_stride must "
                             f"be < {room}")
        encs = tok.encode_batch(pairs)
        for enc, ans, ex_id in zip(encs, answers, ids):
            for w in [enc, *enc.overflowing]:
                for k, v in _basic([w]).items():
                    out[k] += v
                seq = w.sequence_ids
                if train:
                    start, end = _answer_positions(w, seq, ans, cls)
                    extra["start_positions"].append(start)
                    extra["end_positions"].append(end)
                else:
                    extra["example_id"].append(ex_id)
                    extra["offset_mapping"].append([list(o) if s == 1 else None for o, s in zip(w.offsets, seq)])
    features = {"input_ids": IDS, "token_type_ids": MASK, "attention_mask": MASK}
    if train:
        features |= {"start_positions": datasets.Value("int64"), "end_positions": datasets.Value("int64")}
    else:
        features |= {"example_id": datasets.Value("string"), "offset_mapping": datasets.List(datasets.List(datasets.Value("int32")))}
    return datasets.Dataset.from_dict(out | extra, features=datasets.Features(features))


def _answer_positions(w: Encoding, seq: list, answers: dict, cls: int) -> tuple[int, int]:
    """Token start/end of the first answer in this window, or the [CLS] index (run_qa.py)."""
    cls_index = w.ids.index(cls) if cls in w.ids else 0
    if not answers["answer_start"]:
        return cls_index, cls_index
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    context = [i for i, s in enumerate(seq) if s == 1]
    if not context:
        return cls_index, cls_index
    first, last = context[0], context[-1]
    offsets = w.offsets
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return cls_index, cls_index
    i = first
    while i <= last and offsets[i][0] <= start_char:
        i += 1
    j = last
    while j >= first and offsets[j][1] >= end_char:
        j -= 1
    return i - 1, j + 1


def _encode_choices(spec: TaskSpec, raw: datasets.Dataset, tok: Tokenizer, max_length: int) -> datasets.Dataset:
    tok.enable_truncation(max_length, strategy="only_first")
    cols = [spec.column(r) for r in ("article", "question", "options", "answer", "id")]
    out: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": [], "labels": [], "example_id": []}
    for _, (articles, questions, options, answers, ids) in _chunks(raw, cols):
        pairs = [(art, _with_option(q, o)) for art, q, opts in zip(articles, questions, options) for o in opts]
        encs = tok.encode_batch(pairs)
        i = 0
        for opts, ans, ex_id in zip(options, answers, ids):
            group = encs[i : i + len(opts)]
            i += len(opts)
            for k, v in _basic(group).items():
                out[k].append(v)
            out["labels"].append(ord(ans) - ord("A"))
            out["example_id"].append(ex_id)
    features = datasets.Features({
        "input_ids": datasets.List(IDS), "token_type_ids": datasets.List(MASK), "attention_mask": datasets.List(MASK),
        "labels": datasets.Value("int64"), "example_id": datasets.Value("string"),
    })
    return datasets.Dataset.from_dict(out, features=features)


def _with_option(question: str, option: str) -> str:
    """RACE convention: a cloze question gets the option in its blank, others get it appended."""
    return question.replace("_", option) if "_" in question else f"{question} {option}"

