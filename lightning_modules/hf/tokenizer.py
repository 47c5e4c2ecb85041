"""A checkpoint's own tokenizer, as one `tokenizers.Tokenizer` whatever files the checkpoint ships.

- tokenizer.json when present (the fast tokenizer the hub repo publishes), else the slow files:
  vocab.txt (BERT/DistilBERT WordPiece, the Chinese BERT character vocabulary; lower-casing and accents
  as tokenizer_config.json says), vocab.json + merges.txt (RoBERTa byte-level BPE, `<s> A </s></s> B
  </s>`), spiece.model (ALBERT SentencePiece with [CLS]/[SEP]).
Both go through `transformers.AutoTokenizer.from_pretrained(dir)`: its converters, not ours, and it applies
tokenizer_config.json over a tokenizer.json too (do_lower_case, strip_accents). Without transformers
installed a tokenizer.json is read as is. The result carries the family's pair template, special tokens and
offsets, so the features built with it are the ids AutoTokenizer gives (tests/models/test_hf_tokenizers.py).
Padding and truncation stored in a tokenizer.json are dropped: the feature builder truncates, the collator pads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from lightning_modules.hf.names import HFCheckpointError

# The slow files, by what they are; a checkpoint without tokenizer.json needs one of these sets.
SLOW_FILES = {
    "vocab.txt": ("vocab.txt",),  # WordPiece (BERT, DistilBERT, Chinese BERT)
    "vocab.json + merges.txt": ("vocab.json", "merges.txt"),  # byte-level BPE (RoBERTa)
    "spiece.model": ("spiece.model",),  # SentencePiece (ALBERT)
}
LOOKED_FOR = "tokenizer.json, " + ", ".join(SLOW_FILES)


@dataclass(frozen=True)
class CheckpointTokenizer:
    tokenizer: Tokenizer
    source: str  # the files it was built from, for the run summary (tokenizer/source)


def checkpoint_tokenizer(root: Path) -> CheckpointTokenizer:
    """The tokenizer of the checkpoint directory `root`; an error naming `root` and the files looked for."""
    root = Path(root)
    fast = root / "tokenizer.json"
    found = ["tokenizer.json"] if fast.is_file() else []
    found += [name for name, files in SLOW_FILES.items() if all((root / f).is_file() for f in files)]
    if not found:
        raise HFCheckpointError(f"{root}: no tokenizer file; looked for {LOOKED_FOR} (a checkpoint brings its "
                                "own tokenizer)")
    try:
        import transformers
    except ImportError:
        transformers = None
    if transformers is None and fast.is_file():  # import without transformers still reads the fast file as is
        tok, source = Tokenizer.from_file(str(fast)), str(fast)
    else:
        if transformers is None:
            from lightning_modules.hf.reference import require_transformers

            require_transformers()  # raises, with the install hint
        try:
            # also with tokenizer.json: transformers applies tokenizer_config.json over it (do_lower_case,
            # strip_accents), and the job's ids must be the ones AutoTokenizer gives
            auto = transformers.AutoTokenizer.from_pretrained(str(root))
        except Exception as e:  # transformers' errors for unreadable files are many; all mean "no tokenizer"
            raise HFCheckpointError(f"{root}: transformers could not build a tokenizer from {found[0]} "
                                    f"({type(e).__name__}: {e})") from e
        tok = Tokenizer.from_str(auto.backend_tokenizer.to_str())  # our own copy
        how = "loaded" if found[0] == "tokenizer.json" else "converted"
        source = f"{root}/{found[0]} ({how} by transformers {type(auto).__name__})"
    tok.no_padding()
    tok.no_truncation()
    return CheckpointTokenizer(tok, source)
