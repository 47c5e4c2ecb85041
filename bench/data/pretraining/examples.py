"""Pretraining examples: documents -> segment pairs / packed sentences -> masked batches.

One builder makes every input format of the RoBERTa paper (Liu et al. 2019, section 4.2):
- SEGMENT-PAIR: two segments, each several sentences, up to max_seq_length together (BERT's
  create_pretraining_data, with NSP);
- SENTENCE-PAIR: two single sentences (with NSP);
- FULL-SENTENCES: contiguous sentences packed up to max_seq_length, crossing document
  boundaries with an extra [SEP] between documents, no pair and no NSP;
- DOC-SENTENCES: the same, but a sequence never crosses a document boundary.
and every sentence-level objective on the pair formats:
- NSP (BERT): B is the true continuation (label 0, IsNext, as Hugging Face's BertForPreTraining)
  or comes from a random other document (label 1), 50/50;
- SOP (ALBERT): B follows A (label 0), or the two are swapped (label 1), 50/50;
- none: no sentence label (-100).

Masking is static (masked here, `dupe_factor` copies with different masks, reused every epoch)
or dynamic (masked by `PretrainingCollator` each time a batch is made).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from bench.data.masking import (
    jieba_word_ids,
    mask_batch,
    mask_sequence,
    non_special_ids,
    special_tokens_mask,
    token_groups,
    word_groups,
)
from bench.data.tokenizer import SpecialIds
from lightning_modules.inputs import IGNORE_INDEX, INPUT_FORMATS, MASKING_MODES, PAIR_FORMATS, SENTENCE_TASKS

Token = tuple[int, int]  # (token id, corpus-wide word id)


@dataclass
class TokenizedSentence:
    ids: list[int]
    words: list[int]  # corpus-wide word ids: unique across sentences, so packing never merges words

    def tokens(self) -> list[Token]:
        return list(zip(self.ids, self.words))


def tokenize_documents(
    documents: Sequence[Sequence[str]], tokenizer, language: str = "en"
) -> list[list[TokenizedSentence]]:
    """Tokenize documents (lists of sentences) without special tokens, keeping word ids.

    English words come from the fast tokenizer's `word_ids` (its pre-tokenizer's words, so any
    tokenizer works); Chinese words from jieba over each sentence, mapped to the character tokens
    through their offsets. Empty sentences and documents are dropped.
    """
    if language not in ("en", "zh"):
        raise ValueError(f"language must be 'en' or 'zh', got {language!r}")
    out: list[list[TokenizedSentence]] = []
    next_word = 0
    for document in documents:
        if isinstance(document, str):
            raise TypeError("a document must be a list of sentences, got a str")
        sentences = [s for s in document if s and s.strip()]
        encodings = tokenizer.encode_batch(sentences, add_special_tokens=False) if sentences else []
        doc: list[TokenizedSentence] = []
        for text, enc in zip(sentences, encodings):
            if not enc.ids:
                continue
            local = enc.word_ids if language == "en" else jieba_word_ids(text, enc.offsets)
            # Renumber to corpus-wide ids; a token without a word (None) becomes its own word.
            remap: dict[int, int] = {}
            words = []
            for w in local:
                if w is None:
                    words.append(next_word)
                    next_word += 1
                    continue
                if w not in remap:
                    remap[w] = next_word
                    next_word += 1
                words.append(remap[w])
            doc.append(TokenizedSentence(list(enc.ids), words))
        if doc:
            out.append(doc)
    return out


# --- building examples --------------------------------------------------------------------------


@dataclass
class PretrainingExample:
    input_ids: list[int]
    token_type_ids: list[int]
    word_ids: list[int]  # -1 on special tokens
    sentence_label: int = IGNORE_INDEX


def _pair_example(a: list[Token], b: list[Token], label: int, special: SpecialIds) -> PretrainingExample:
    """[CLS] A [SEP] B [SEP], token types 0 for A's part and 1 for B's."""
    ids = [special.cls] + [t for t, _ in a] + [special.sep] + [t for t, _ in b] + [special.sep]
    words = [-1] + [w for _, w in a] + [-1] + [w for _, w in b] + [-1]
    types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    return PretrainingExample(ids, types, words, label)


def _single_example(tokens: list[Token], special: SpecialIds) -> PretrainingExample:
    """[CLS] tokens [SEP]; a document separator inside `tokens` is already a (sep, -1) token."""
    ids = [special.cls] + [t for t, _ in tokens] + [special.sep]
    words = [-1] + [w for _, w in tokens] + [-1]
    return PretrainingExample(ids, [0] * len(ids), words, IGNORE_INDEX)


def _truncate_pair(a: list[Token], b: list[Token], max_tokens: int, rng: random.Random) -> None:
    """BERT's truncate_seq_pair: trim the longer segment, from the front or the back at random."""
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def _random_other_document(documents: Sequence[Sequence[TokenizedSentence]], index: int, rng: random.Random) -> int:
    if len(documents) < 2:
        raise ValueError("NSP needs at least two documents (B is drawn from another document)")
    other = rng.randrange(len(documents) - 1)
    return other + 1 if other >= index else other


def _segment_pairs(
    documents: Sequence[Sequence[TokenizedSentence]],
    index: int,
    *,
    sentence_task: str,
    max_seq_length: int,
    short_seq_prob: float,
    rng: random.Random,
    special: SpecialIds,
) -> list[PretrainingExample]:
    """SEGMENT-PAIR examples of one document (Google's create_instances_from_document).

    Sentences accumulate into a chunk up to a target length; A is a random prefix of the chunk.
    NSP: half the time B is a random span of another document, and the unused sentences go back
    to the pool. SOP: B is the rest of the chunk, swapped with A half the time. A chunk of a single
    sentence (a long one, or the last of a document) is split inside it. Google's scripts give such
    a chunk a random-document B instead, which skews NSP towards NotNext on short documents and,
    in ALBERT's, makes an NSP example labelled as SOP.
    """
    document = documents[index]
    max_tokens = max_seq_length - 3
    target = max_tokens if rng.random() >= short_seq_prob else rng.randint(2, max_tokens)
    examples: list[PretrainingExample] = []
    chunk: list[list[Token]] = []
    length = 0
    i = 0
    while i < len(document):
        chunk.append(document[i].tokens())
        length += len(chunk[-1])
        if i == len(document) - 1 or length >= target:
            a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
            a = [t for segment in chunk[:a_end] for t in segment]
            label = 0
            random_next = sentence_task == "nsp" and (rng.random() < 0.5 or (len(chunk) == 1 and len(a) < 2))
            if random_next:
                label = 1
                other = documents[_random_other_document(documents, index, rng)]
                b: list[Token] = []
                for sentence in other[rng.randrange(len(other)) :]:
                    b.extend(sentence.tokens())
                    if len(b) >= target - len(a):
                        break
                i -= len(chunk) - a_end  # the unused sentences start the next chunk
            elif len(chunk) == 1:
                if len(a) < 2:
                    a = []  # a one-token document: nothing to pair
                cut = rng.randint(1, len(a) - 1) if len(a) >= 2 else 0
                a, b = a[:cut], a[cut:]
            else:
                b = [t for segment in chunk[a_end:] for t in segment]
            if sentence_task == "sop" and a and rng.random() < 0.5:
                a, b, label = b, a, 1
            if a and b:
                _truncate_pair(a, b, max_tokens, rng)
                examples.append(_pair_example(a, b, label if sentence_task != "none" else IGNORE_INDEX, special))
            chunk, length = [], 0
        i += 1
    return examples


def _sentence_pairs(
    documents: Sequence[Sequence[TokenizedSentence]],
    index: int,
    *,
    sentence_task: str,
    max_seq_length: int,
    rng: random.Random,
    special: SpecialIds,
) -> list[PretrainingExample]:
    """SENTENCE-PAIR examples: A is one sentence, B the next one (or, for NSP, a random sentence
    of another document, and the true next sentence starts the next pair)."""
    document = documents[index]
    examples: list[PretrainingExample] = []
    i = 0
    while i < len(document) - 1:
        a = document[i].tokens()
        label = 0
        if sentence_task == "nsp" and rng.random() < 0.5:
            other = documents[_random_other_document(documents, index, rng)]
            b = other[rng.randrange(len(other))].tokens()
            label, step = 1, 1
        else:
            b, step = document[i + 1].tokens(), 2
        if sentence_task == "sop" and rng.random() < 0.5:
            a, b, label = b, a, 1
        _truncate_pair(a, b, max_seq_length - 3, rng)
        examples.append(_pair_example(a, b, label if sentence_task != "none" else IGNORE_INDEX, special))
        i += step
    return examples


def _packed_sentences(
    documents: Sequence[Sequence[TokenizedSentence]], *, cross_documents: bool, max_seq_length: int, special: SpecialIds
) -> list[PretrainingExample]:
    """FULL-SENTENCES (cross_documents) and DOC-SENTENCES: whole sentences packed in order.

    A sentence that does not fit starts the next sequence; one longer than a whole sequence is cut
    into pieces. Across a document boundary an extra [SEP] separates the documents.
    """
    max_tokens = max_seq_length - 2
    examples: list[PretrainingExample] = []
    block: list[Token] = []

    def flush() -> None:
        while block and block[-1][1] == -1:  # never end on a document separator
            block.pop()
        if block:
            examples.append(_single_example(list(block), special))
        block.clear()

    for document in documents:
        if block and cross_documents:
            block.append((special.sep, -1))
        for sentence in document:
            tokens = sentence.tokens()
            if len(block) + len(tokens) > max_tokens:
                flush()
            while len(tokens) > max_tokens:
                block.extend(tokens[:max_tokens])
                tokens = tokens[max_tokens:]
                flush()
            block.extend(tokens)
        if not cross_documents:
            flush()
    flush()
    return examples


def build_examples(
    documents: Sequence[Sequence[TokenizedSentence]],
    *,
    input_format: str,
    sentence_task: str,
    max_seq_length: int,
    special: SpecialIds,
    rng: random.Random,
    short_seq_prob: float = 0.1,
) -> list[PretrainingExample]:
    """Every example of one pass over the corpus, in the given input format."""
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {', '.join(INPUT_FORMATS)}, got {input_format!r}")
    if sentence_task not in SENTENCE_TASKS:
        raise ValueError(f"sentence_task must be one of {', '.join(SENTENCE_TASKS)}, got {sentence_task!r}")
    if sentence_task != "none" and input_format not in PAIR_FORMATS:
        raise ValueError(
            f"sentence_task={sentence_task} needs a pair input_format ({', '.join(PAIR_FORMATS)}), got {input_format}"
        )
    if max_seq_length < 8:
        raise ValueError(f"max_seq_length must be at least 8, got {max_seq_length}")
    if input_format in ("full_sentences", "doc_sentences"):
        return _packed_sentences(
            documents, cross_documents=input_format == "full_sentences", max_seq_length=max_seq_length, special=special
        )
    examples: list[PretrainingExample] = []
    for index in range(len(documents)):
        if input_format == "segment_pair":
            examples += _segment_pairs(
                documents,
                index,
                sentence_task=sentence_task,
                max_seq_length=max_seq_length,
                short_seq_prob=short_seq_prob,
                rng=rng,
                special=special,
            )
        else:
            examples += _sentence_pairs(
                documents, index, sentence_task=sentence_task, max_seq_length=max_seq_length, rng=rng, special=special
            )
    return examples


# --- datasets and collator ----------------------------------------------------------------------


class PretrainingDataset(Dataset):
    """A list of examples as dicts: `input_ids`, `token_type_ids`, `sentence_label`, and `labels`
    when the masks were drawn in preprocessing (static); without `labels` the collator masks."""

    def __init__(self, items: list[dict], static: bool):
        self.items = items
        self.static = static

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def build_pretraining_dataset(
    documents: Sequence[Sequence[TokenizedSentence]],
    *,
    masking: str,
    input_format: str,
    sentence_task: str,
    max_seq_length: int,
    special: SpecialIds,
    vocab_size: int,
    mlm_probability: float = 0.15,
    dupe_factor: int = 1,
    short_seq_prob: float = 0.1,
    seed: int = 0,
) -> PretrainingDataset:
    """Examples for one recipe. Static modes (static, wwm_en, wwm_zh) repeat the build
    `dupe_factor` times, as Google's script does, each copy with its own segmentation draws and
    masks; dynamic builds once and leaves masking to the collator."""
    if masking not in MASKING_MODES or masking == "none":
        raise ValueError(
            f"masking must be one of {', '.join(m for m in MASKING_MODES if m != 'none')}, got {masking!r}"
        )
    if dupe_factor < 1:
        raise ValueError(f"dupe_factor must be >= 1, got {dupe_factor}")
    rng = random.Random(seed)
    static = masking != "dynamic"
    random_ids = non_special_ids(vocab_size, special.all)
    items: list[dict] = []
    for _ in range(dupe_factor if static else 1):
        for ex in build_examples(
            documents,
            input_format=input_format,
            sentence_task=sentence_task,
            max_seq_length=max_seq_length,
            special=special,
            rng=rng,
            short_seq_prob=short_seq_prob,
        ):
            item = {"input_ids": ex.input_ids, "token_type_ids": ex.token_type_ids, "sentence_label": ex.sentence_label}
            if static:
                if masking in ("wwm_en", "wwm_zh"):
                    groups = word_groups(ex.word_ids)
                else:
                    groups = token_groups([w >= 0 for w in ex.word_ids])
                item["input_ids"], item["labels"] = mask_sequence(
                    ex.input_ids,
                    groups,
                    mlm_probability=mlm_probability,
                    mask_id=special.mask,
                    random_ids=random_ids,
                    rng=rng,
                )
            items.append(item)
    return PretrainingDataset(items, static)


class PretrainingCollator:
    """Pads a list of examples into a batch; masks it when the dataset is dynamic.

    Dynamic masks come from a seeded torch Generator, so a run is reproducible while every pass
    over a sequence draws a new mask. In a DataLoader worker the seed is offset by the worker id
    (otherwise every worker would draw the same masks).
    """

    def __init__(
        self, special: SpecialIds, vocab_size: int, *, dynamic: bool, mlm_probability: float = 0.15, seed: int = 0
    ):
        self.special = special
        self.dynamic = dynamic
        self.mlm_probability = mlm_probability
        self.seed = seed
        self.random_ids = torch.tensor(non_special_ids(vocab_size, special.all))
        self._generator: torch.Generator | None = None

    @property
    def generator(self) -> torch.Generator:
        if self._generator is None:
            info = torch.utils.data.get_worker_info()
            self._generator = torch.Generator().manual_seed(
                self.seed + (info.id + 1) * 1_000_003 if info else self.seed
            )
        return self._generator

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        T = max(len(e["input_ids"]) for e in examples)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([e[key] + [value] * (T - len(e[key])) for e in examples], dtype=torch.long)

        batch = {
            "input_ids": pad("input_ids", self.special.pad),
            "attention_mask": torch.tensor(
                [[1] * len(e["input_ids"]) + [0] * (T - len(e["input_ids"])) for e in examples]
            ),
            "token_type_ids": pad("token_type_ids", 0),
            "sentence_label": torch.tensor([e["sentence_label"] for e in examples], dtype=torch.long),
        }
        if self.dynamic:
            special = special_tokens_mask(batch["input_ids"], self.special.all)
            batch["input_ids"], batch["labels"] = mask_batch(
                batch["input_ids"],
                special,
                mlm_probability=self.mlm_probability,
                mask_id=self.special.mask,
                random_ids=self.random_ids,
                generator=self.generator,
            )
        else:
            if "labels" not in examples[0]:
                raise ValueError(
                    "static collator got examples without 'labels' (build them with a static masking mode)"
                )
            batch["labels"] = pad("labels", IGNORE_INDEX)
        return batch


def build_for_objective(
    objective, documents: Sequence[Sequence[TokenizedSentence]], special: SpecialIds, vocab_size: int, seed: int = 0
) -> tuple[PretrainingDataset, PretrainingCollator]:
    """Dataset and collator of a recipe (an ObjectiveConfig: masking, dupe_factor, sentence_task,
    input_format, max_seq_length, mlm_probability, short_seq_prob), for `tokenize_documents`
    output in the recipe's language."""
    dataset = build_pretraining_dataset(
        documents,
        masking=objective.masking,
        input_format=objective.input_format,
        sentence_task=objective.sentence_task,
        max_seq_length=objective.max_seq_length,
        special=special,
        vocab_size=vocab_size,
        mlm_probability=objective.mlm_probability,
        dupe_factor=objective.dupe_factor,
        short_seq_prob=objective.short_seq_prob,
        seed=seed,
    )
    collator = PretrainingCollator(
        special, vocab_size, dynamic=not dataset.static, mlm_probability=objective.mlm_probability, seed=seed
    )
    return dataset, collator


def pretraining_dataloader(
    dataset: PretrainingDataset,
    collator: PretrainingCollator,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader with a seeded shuffle (the order, like the masks, is reproducible)."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collator,
        generator=generator,
        num_workers=num_workers,
        drop_last=False,
    )


__all__ = [
    "INPUT_FORMATS",
    "SENTENCE_TASKS",
    "MASKING_MODES",
    "SpecialIds",
    "TokenizedSentence",
    "PretrainingExample",
    "tokenize_documents",
    "build_examples",
    "PretrainingDataset",
    "build_pretraining_dataset",
    "build_for_objective",
    "PretrainingCollator",
    "pretraining_dataloader",
]
