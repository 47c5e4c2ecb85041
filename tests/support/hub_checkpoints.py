"""Tiny Hugging Face checkpoints in the hub's exact layout, built here (nothing is downloaded).

Each case is one family as its hub repos ship it: config.json, model.safetensors (a random *ForMaskedLM
of a few hundred K parameters) and only that family's tokenizer files, made from the synthetic corpus:
a WordPiece vocab.txt (deterministic trainer), a byte-level BPE vocab.json + merges.txt, a SentencePiece
spiece.model (the sentencepiece package), a Chinese BERT character vocab.txt. `slow_only=True` leaves out
tokenizer.json, so a job must convert the slow files (as for hfl/chinese-*-wwm-ext before that repo added
one). `hub_cache` lays checkpoints out as the huggingface_hub cache does, so `model.init=hf:<hub name>`
resolves offline to them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# case -> (HF model type, tokenizer files of its hub repos besides tokenizer.json, tokenizer_config.json or None)
CASES = {
    "bert": ("bert", ("vocab.txt",), {"do_lower_case": True}),  # bert-base-uncased
    "distilbert": ("distilbert", ("vocab.txt",), {"do_lower_case": True}),  # distilbert-base-uncased
    "roberta": ("roberta", ("vocab.json", "merges.txt"), None),  # roberta-base
    "albert": ("albert", ("spiece.model",), None),  # albert-base-v2
    "bert_chinese": ("bert", ("vocab.txt",), {"do_lower_case": False}),  # bert-base-chinese
    # hfl/chinese-bert-wwm-ext, hfl/chinese-roberta-wwm-ext: BERT weights, a 19-byte tokenizer_config.json
    "hfl_chinese": ("bert", ("vocab.txt", "special_tokens_map.json", "added_tokens.json"), {"init_inputs": []}),
}
CHINESE = ("bert_chinese", "hfl_chinese")
# Which case stands for each released checkpoint the *_released experiments name.
HUB_NAMES = {
    "bert-base-uncased": "bert", "bert-large-uncased": "bert", "distilbert-base-uncased": "distilbert",
    "roberta-base": "roberta", "albert-base-v2": "albert", "albert-large-v2": "albert", "albert-xlarge-v2": "albert",
    "albert-xxlarge-v2": "albert", "bert-base-chinese": "bert_chinese", "hfl/chinese-bert-wwm-ext": "hfl_chinese",
    "hfl/chinese-roberta-wwm-ext": "hfl_chinese",
}
SIZE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
BERT_SPECIALS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                 "mask_token": "[MASK]"}


def build_checkpoint(case: str, out: Path, texts: list[str], slow_only: bool = False) -> Path:
    """The checkpoint directory of `case` at `out`; `texts`: the corpus its tokenizer is trained on."""
    import transformers

    model_type, files, tokenizer_config = CASES[case]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vocab_size = _write_tokenizer_files(case, out, texts)
    if tokenizer_config is not None:
        (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    if "special_tokens_map.json" in files:
        (out / "special_tokens_map.json").write_text(json.dumps(BERT_SPECIALS))
        (out / "added_tokens.json").write_text("{}")
    if not slow_only:  # the hub's tokenizer.json: transformers' conversion of the slow files, as the hub's was made
        slow = transformers.AutoTokenizer.from_pretrained(str(out), config=_config(transformers, model_type, vocab_size))
        slow.backend_tokenizer.save(str(out / "tokenizer.json"))
    model = transformers.AutoModelForMaskedLM.from_config(_config(transformers, model_type, vocab_size))
    model.save_pretrained(out)
    return out


def _config(transformers, model_type: str, vocab_size: int):
    if model_type == "distilbert":
        return transformers.DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                             max_position_embeddings=128)
    if model_type == "roberta":  # positions count from pad_token_id + 1, as roberta-base's 514 rows
        return transformers.RobertaConfig(vocab_size=vocab_size, **SIZE, max_position_embeddings=130, pad_token_id=1,
                                          bos_token_id=0, eos_token_id=2, type_vocab_size=1, layer_norm_eps=1e-5)
    if model_type == "albert":
        return transformers.AlbertConfig(vocab_size=vocab_size, embedding_size=16, **SIZE, max_position_embeddings=128)
    return transformers.BertConfig(vocab_size=vocab_size, **SIZE, max_position_embeddings=128)


def _write_tokenizer_files(case: str, out: Path, texts: list[str]) -> int:
    """The slow tokenizer files of `case` in `out`; returns the vocabulary size."""
    if case in ("bert", "distilbert", *CHINESE):
        from bench.data.tokenizer import train_chinese_char, train_wordpiece

        tok = train_chinese_char(texts, 700) if case in CHINESE else train_wordpiece(texts, 400)
        return write_vocab_txt(out, tok)
    if case == "roberta":
        from tokenizers import ByteLevelBPETokenizer

        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(texts, vocab_size=400, min_frequency=2,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
        bpe.save_model(str(out))  # vocab.json, merges.txt
        return bpe.get_vocab_size()
    import sentencepiece as spm

    prefix = out / "spiece"  # ALBERT's layout: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4, then the pieces
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(prefix), vocab_size=300, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, pad_piece="<pad>", unk_piece="<unk>",
        control_symbols=["[CLS]", "[SEP]", "[MASK]"], hard_vocab_limit=False, num_threads=1, minloglevel=2,
    )
    prefix.with_suffix(".vocab").unlink()
    return spm.SentencePieceProcessor(model_file=str(prefix.with_suffix(".model"))).get_piece_size()


def write_vocab_txt(out: Path, tokenizer) -> int:
    """A WordPiece tokenizer's vocabulary as BERT's vocab.txt (one token a line, in id order); its size."""
    Path(out).mkdir(parents=True, exist_ok=True)
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    (Path(out) / "vocab.txt").write_text("".join(f"{t}\n" for t, _ in vocab), encoding="utf-8")
    return len(vocab)


def corpus_texts(data_cfg: dict, language: str, limit: int = 200) -> list[str]:
    """Documents of the synthetic corpus, one string each (Chinese sentences are joined without spaces)."""
    from bench.data.loading import load_corpus

    return [("" if language == "zh" else " ").join(doc) for doc in load_corpus(data_cfg, language)[:limit]]


def build_all(root: Path, data_cfg: dict, slow_only: bool = False) -> dict[str, Path]:
    """Every case under `root` (built once: a later call with the same root reuses them)."""
    out = {}
    for case in CASES:
        path = Path(root) / case
        if not (path / "model.safetensors").is_file():
            shutil.rmtree(path, ignore_errors=True)
            # the Chinese vocabularies also hold Latin pieces and digits, as bert-base-chinese's 21,128 do
            texts = corpus_texts(data_cfg, "zh") + corpus_texts(data_cfg, "en", 40) if case in CHINESE else \
                corpus_texts(data_cfg, "en")
            build_checkpoint(case, path, texts, slow_only)
        out[case] = path
    return out


def build_variants(base: Path, data_cfg: dict) -> dict[str, dict[str, Path]]:
    """{"hub": every case as its hub repo ships it (tokenizer.json included), "slow": the same without
    tokenizer.json}, under `base` (a session's base temp dir: built once, reused by every test module)."""
    return {variant: build_all(Path(base) / variant, data_cfg, slow_only=variant == "slow") for variant in ("hub", "slow")}


def hub_cache(root: Path, checkpoints: dict[str, Path], names: dict[str, str] | None = None) -> Path:
    """A huggingface_hub cache at `root` holding each hub name of `names` (default HUB_NAMES) as the
    checkpoint of its case: models--<org>--<name>/refs/main and snapshots/<commit>/<files>."""
    commit = "0" * 40
    for name, case in (names or HUB_NAMES).items():
        repo = Path(root) / f"models--{name.replace('/', '--')}"
        snapshot = repo / "snapshots" / commit
        if not snapshot.is_dir():
            shutil.copytree(checkpoints[case], snapshot)
            (repo / "refs").mkdir(exist_ok=True)
            (repo / "refs" / "main").write_text(commit)
    return Path(root)
