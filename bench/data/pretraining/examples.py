"""Pretraining examples in every input format of the RoBERTa paper (Liu et al. 2019, section 4.2).

- SEGMENT-PAIR: two segments, each several sentences, up to max_seq_length together (BERT's
  create_pretraining_data, with NSP);
- SENTENCE-PAIR: two single sentences (with NSP);
- FULL-SENTENCES: contiguous sentences packed up to max_seq_length, crossing document
  boundaries with an extra [SEP] between documents, no pair and no NSP;
- DOC-SENTENCES: the same, but a sequence never crosses a document boundary.

Sentence-level objectives on the pair formats:
- NSP (BERT): B is the true continuation (label 0, IsNext, as Hugging Face's BertForPreTraining)
  or comes from a random other document (label 1), 50/50;
- SOP (ALBERT): B follows A (label 0), or the two are swapped (label 1), 50/50;
- none: no sentence label (-100).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from bench.data.pretraining.tokenized import Token, TokenizedSentence
from bench.data.tokenizer import SpecialIds
from lightning_modules.inputs import IGNORE_INDEX, INPUT_FORMATS, PAIR_FORMATS, SENTENCE_TASKS


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
