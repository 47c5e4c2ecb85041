"""Tokenizers with the `tokenizers` library only (transformers is optional and not needed here).

    get_tokenizer(cfg.data, "en")   -> tokenizers.Tokenizer
    special_ids(tokenizer)          -> SpecialIds(pad, unk, cls, sep, mask, vocab_size)

`data.tokenizer.<language>.kind` picks one of:
- wordpiece: uncased WordPiece (BERT's normalizer and pre-tokenizer) trained on the source's
  corpus (`load_corpus`), specials [PAD]=0 [UNK] [CLS] [SEP] [MASK];
- chinese_char: BERT-Chinese style, every CJK character its own token (the BERT normalizer puts
  spaces around CJK characters, so WordPiece never merges them), same specials;
- pretrained: `Tokenizer.from_pretrained(name)` from the hub (e.g. bert-base-uncased);
- file: a tokenizer.json at `path`.
An imported encoder brings its own: with `model.init=hf:<name or dir>` (`data.checkpoint`, which the
data configs set to `${model.init}`) every language gets the checkpoint's tokenizer, whatever
`data.tokenizer` says (lightning_modules/hf/tokenizer.py: tokenizer.json, else transformers'
conversion of vocab.txt, vocab.json + merges.txt or spiece.model).
Trained tokenizers are saved as tokenizer.json under <cache_dir>/tokenizers/<key>/ (key: kind,
settings, language and the content hash of the corpus files) and reloaded from there, offline. All
of them get the BERT template "[CLS] A [SEP]" / "[CLS] A [SEP] B [SEP]" with token type ids 0 / 1;
no padding or truncation is stored in them (the feature builder truncates, the collate function pads).

Deterministic training. The `tokenizers` trainers are not reproducible (huggingface/tokenizers#1794:
ids follow hash-map order, and ties between equally frequent pairs fall either way), so the
vocabulary is learned here, with the same algorithm as its WordPiece trainer (BPE merges with the
"##" continuation prefix over the normalized, pre-tokenized word counts) but every order fixed:
specials, then all characters and their "##" forms in code-point order, then merged pieces, the
most frequent pair first, ties broken by the pieces' text. It is loaded into
`models.WordPiece(vocab)` with BERT's normalizer, pre-tokenizer and template, so the same corpus and
settings give a byte-identical tokenizer.json in every process and clone (`tokenizer_sha256`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from bench.data.config import as_dict, cache_dir
from bench.data.loading import SWITCH_HINT, corpus_identity, load_corpus
from lightning_modules.hf import CheckpointTokenizer, checkpoint_tokenizer, parse_init, resolve_checkpoint_dir

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PREFIX = "##"  # WordPiece continuation pieces
# The names each role has in BERT-style and RoBERTa-style vocabularies.
ROLE_NAMES = {
    "pad": ("[PAD]", "<pad>"), "unk": ("[UNK]", "<unk>"), "cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"),
    "mask": ("[MASK]", "<mask>"),
}
KINDS = ("wordpiece", "chinese_char", "pretrained", "file")


@dataclass(frozen=True)
class SpecialIds:
    """The special tokens' ids: one type for fine-tuning features, masking and pretraining examples."""

    pad: int
    unk: int
    cls: int
    sep: int
    mask: int
    vocab_size: int | None = None  # with added tokens; None where only the ids matter (hand-made in tests)

    @property
    def all(self) -> tuple[int, ...]:
        return (self.pad, self.unk, self.cls, self.sep, self.mask)

    @classmethod
    def from_tokenizer(cls, tokenizer: Tokenizer) -> SpecialIds:
        return special_ids(tokenizer)


def special_ids(tokenizer: Tokenizer) -> SpecialIds:
    """Ids of the special tokens (BERT or RoBERTa names) and the vocabulary size; a missing role is
    named in the error with the token names looked for."""
    ids, missing = {}, []
    for role, names in ROLE_NAMES.items():
        found = [tokenizer.token_to_id(n) for n in names if tokenizer.token_to_id(n) is not None]
        if found:
            ids[role] = found[0]
        else:
            missing.append(" or ".join(names))
    if missing:
        raise ValueError(f"tokenizer has no {', '.join(missing)} token")
    return SpecialIds(**ids, vocab_size=tokenizer.get_vocab_size(with_added_tokens=True))


def bert_template(tokenizer: Tokenizer) -> Tokenizer:
    """[CLS] A [SEP] (B [SEP]) with type ids 0 for A and 1 for B."""
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return tokenizer


def train_wordpiece(texts: list[str], vocab_size: int, lowercase: bool = True, min_frequency: int = 2) -> Tokenizer:
    """A BERT-style WordPiece tokenizer learned from `texts` ([PAD] is id 0), the same for the same
    inputs in every process (see the module docstring)."""
    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = wordpiece_vocab(counts, vocab_size, min_frequency)
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=PREFIX, max_input_chars_per_word=100))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix=PREFIX)
    tok.add_special_tokens(SPECIAL_TOKENS)
    return bert_template(tok)


def wordpiece_vocab(counts: dict[str, int], vocab_size: int, min_frequency: int) -> dict[str, int]:
    """token -> id: specials, every character and its ## form, then merges of the most frequent
    adjacent pair (count >= min_frequency; ties by text) until `vocab_size` tokens."""
    chars = sorted({c for w in counts for c in w})
    tokens = [*SPECIAL_TOKENS, *(c for c in chars if c not in SPECIAL_TOKENS),
              *(PREFIX + c for c in sorted({c for w in counts for c in w[1:]}))]
    index = {t: i for i, t in enumerate(tokens)}
    words = sorted(counts)
    freq = [counts[w] for w in words]
    pieces = [[index[w[0]], *(index[PREFIX + c] for c in w[1:])] for w in words]
    pairs: Counter[tuple[int, int]] = Counter()
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair -> indices of the words holding it
    for i, p in enumerate(pieces):
        for pair in zip(p, p[1:]):
            pairs[pair] += freq[i]
            where[pair].add(i)
    heap = [(-n, tokens[a], tokens[b], a, b) for (a, b), n in pairs.items()]
    heapq.heapify(heap)  # the text in each entry breaks ties the same way everywhere
    while heap and len(tokens) < vocab_size:
        n, _, _, a, b = heapq.heappop(heap)
        if pairs.get((a, b)) != -n:
            continue  # a stale entry: this pair's count changed since it was pushed
        if -n < min_frequency:
            break
        merged = tokens[a] + tokens[b][len(PREFIX):]
        if merged not in index:  # another pair may have made the same text already
            index[merged] = len(tokens)
            tokens.append(merged)
        new, changed = index[merged], set()
        for i in where.pop((a, b)):
            old, f = pieces[i], freq[i]
            for pair in zip(old, old[1:]):
                pairs[pair] -= f
                changed.add(pair)
            out, j = [], 0
            while j < len(old):
                if j + 1 < len(old) and old[j] == a and old[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(old[j])
                    j += 1
            pieces[i] = out
            for pair in zip(out, out[1:]):
                pairs[pair] += f
                where[pair].add(i)
                changed.add(pair)
        for pair in changed:
            if pairs[pair] > 0:
                heapq.heappush(heap, (-pairs[pair], tokens[pair[0]], tokens[pair[1]], *pair))
            else:
                del pairs[pair]
    return index


def train_chinese_char(texts: list[str], vocab_size: int = 21128) -> Tokenizer:
    """BERT-Chinese style: the normalizer isolates every CJK character, so each is one token;
    digits and Latin words still get WordPiece pieces."""
    return train_wordpiece(texts, vocab_size=vocab_size, lowercase=True, min_frequency=1)


def get_tokenizer(data_cfg, language: str) -> Tokenizer:
    """The tokenizer of `data.tokenizer.<language>` (trained once and cached, or loaded)."""
    d = as_dict(data_cfg)
    checkpoint = imported_checkpoint(d)
    if checkpoint is not None:
        return Tokenizer.from_str(checkpoint_tokenizer_of(checkpoint).tokenizer.to_str())  # a copy: callers may change it
    spec = (d.get("tokenizer") or {}).get(language)
    if not spec:
        raise KeyError(f"data.tokenizer.{language} is not set (e.g. {{kind: wordpiece, vocab_size: 4000}})")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"data.tokenizer.{language}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "pretrained":
        return _from_pretrained(spec.get("name"), language)
    if kind == "file":
        path = Path(spec.get("path") or "")
        if not path.is_file():
            raise FileNotFoundError(f"data.tokenizer.{language}.path={str(path)!r} is not a tokenizer.json file")
        return Tokenizer.from_file(str(path))
    path = trained_tokenizer_path(d, language)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.parent) + ".lock"):
            if not path.is_file():
                texts = [" ".join(doc) if language != "zh" else "".join(doc) for doc in load_corpus(d, language)]
                if kind == "wordpiece":
                    tok = train_wordpiece(texts, int(spec.get("vocab_size", 30522)), bool(spec.get("lowercase", True)))
                else:
                    tok = train_chinese_char(texts, int(spec.get("vocab_size", 21128)))
                tmp = path.with_suffix(f".tmp-{os.getpid()}")
                tok.save(str(tmp))
                os.replace(tmp, path)
    return Tokenizer.from_file(str(path))


def imported_checkpoint(d: dict) -> str | None:
    """The hub name or directory of `model.init=hf:<...>` as the data config carries it (`checkpoint`), else None."""
    kind, arg = parse_init(str(d.get("checkpoint") or "random"))
    return arg if kind == "hf" else None


_CHECKPOINT_TOKENIZERS: dict[tuple, CheckpointTokenizer] = {}


def checkpoint_tokenizer_of(name_or_dir: str) -> CheckpointTokenizer:
    """The checkpoint's tokenizer, built once per process and set of files (a conversion takes ~0.3 s)."""
    root = resolve_checkpoint_dir(name_or_dir).resolve()
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.iterdir()) if p.is_file())
    key = (str(root), stamp)
    if key not in _CHECKPOINT_TOKENIZERS:
        _CHECKPOINT_TOKENIZERS[key] = checkpoint_tokenizer(root)
    return _CHECKPOINT_TOKENIZERS[key]


def trained_tokenizer_path(d: dict, language: str) -> Path:
    spec = d["tokenizer"][language]
    # the corpus by its files' content; version: of the trainer (2: deterministic vocabulary)
    key = {"spec": spec, "language": language, "corpus": corpus_identity(d, language), "version": 2}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return cache_dir(d) / "tokenizers" / f"{language}-{spec['kind']}-{digest}" / "tokenizer.json"


def _from_pretrained(name: str | None, language: str) -> Tokenizer:
    if not name:
        raise KeyError(f"data.tokenizer.{language}.name is required for kind=pretrained")
    try:
        tok = Tokenizer.from_pretrained(name)
    except Exception as e:
        raise RuntimeError(f"cannot load the published tokenizer {name!r} from the hub ({type(e).__name__}: {e}). "
                           f"To run without the hub, {SWITCH_HINT}.") from e
    tok.no_padding()
    tok.no_truncation()
    return tok


def tokenizer_sha256(tokenizer: Tokenizer) -> str:
    """The sha256 of the tokenizer's full definition (vocabulary, normalizer, template): the bytes of
    the tokenizer.json that `Tokenizer.save` writes for it."""
    return hashlib.sha256(tokenizer.to_str(pretty=True).encode()).hexdigest()
