"""Masked-LM masking: which positions are predicted, and what the model sees there.

Two halves, as in the papers:
- *selection*: 15% of the non-special tokens. Token-level selection treats every position as
  its own group; whole-word masking (BERT-wwm, Chinese BERT-wwm) groups the positions of one word
  so that a word is always selected whole. Groups come from `word_ids` (one id per token, None
  for special tokens): the fast tokenizer's `Encoding.word_ids` for English (any tokenizer, not
  only `##` WordPiece), jieba's segmentation for Chinese character tokens.
- *replacement*: of the selected tokens 80% become [MASK], 10% a random token, 10% stay as they
  are; the loss is computed on the selected positions only (labels are -100 elsewhere).

Static masking (BERT, RoBERTa's static baseline) calls `mask_sequence` once per duplicate of a
sequence during preprocessing; dynamic masking (RoBERTa) calls `mask_batch` in the collator, so
each time a sequence is fed it gets a new mask.

Functions take token ids and special ids as arguments and work with any tokenizer.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence

import torch

from lightning_modules.inputs import IGNORE_INDEX

# --- selection ----------------------------------------------------------------------------------


def word_groups(word_ids: Sequence[int | None]) -> list[list[int]]:
    """Positions grouped by word: each run of equal, non-None word ids is one group.

    A word's pieces are contiguous, so a run is a word; None (special tokens) is never a candidate.
    """
    groups: list[list[int]] = []
    previous: int | None = None
    for position, word in enumerate(word_ids):
        if word is None or word < 0:
            previous = None
            continue
        if groups and word == previous:
            groups[-1].append(position)
        else:
            groups.append([position])
        previous = word
    return groups


def token_groups(candidate: Sequence[bool]) -> list[list[int]]:
    """Token-level masking: every candidate position is a group of its own."""
    return [[position] for position, ok in enumerate(candidate) if ok]


def num_to_mask(num_candidates: int, mlm_probability: float, u: float) -> int:
    """floor(p * n + u) with u ~ U[0, 1): exactly p * n tokens in expectation, even for short
    sequences (fairseq's rule; BERT's round() over-masks short sequences)."""
    return int(math.floor(mlm_probability * num_candidates + u))


def select_groups(groups: Sequence[Sequence[int]], mlm_probability: float, rng: random.Random) -> list[int]:
    """Pick whole groups until the token budget is reached (Google's create_pretraining_data rule).

    A group that would overshoot the budget is skipped, so a word is never split.
    Returns the selected positions, sorted.
    """
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in [0, 1], got {mlm_probability}")
    budget = num_to_mask(sum(len(g) for g in groups), mlm_probability, rng.random())
    order = list(range(len(groups)))
    rng.shuffle(order)
    selected: list[int] = []
    for index in order:
        if len(selected) >= budget:
            break
        if len(selected) + len(groups[index]) > budget:
            continue
        selected.extend(groups[index])
    return sorted(selected)


# --- replacement --------------------------------------------------------------------------------


def non_special_ids(vocab_size: int, special_ids: Sequence[int]) -> list[int]:
    """The ids a random replacement draws from: a random [PAD] or [CLS] mid-sentence would be an
    input the model never sees when fine-tuned."""
    special = set(special_ids)
    ids = [i for i in range(vocab_size) if i not in special]
    if not ids:
        raise ValueError(f"no non-special token in a vocabulary of {vocab_size}")
    return ids


def replace_selected(
    input_ids: Sequence[int],
    positions: Sequence[int],
    *,
    mask_id: int,
    random_ids: Sequence[int],
    rng: random.Random,
    mask_ratio: float = 0.8,
    random_ratio: float = 0.1,
) -> tuple[list[int], list[int]]:
    """80% [MASK] / 10% random / 10% kept at the selected positions, decided per token as in
    Google's code. Returns (model input ids, labels with IGNORE_INDEX where nothing is predicted)."""
    masked = list(input_ids)
    labels = [IGNORE_INDEX] * len(masked)
    for position in positions:
        labels[position] = masked[position]
        r = rng.random()
        if r < mask_ratio:
            masked[position] = mask_id
        elif r < mask_ratio + random_ratio:
            masked[position] = random_ids[rng.randrange(len(random_ids))]
    return masked, labels


def mask_sequence(
    input_ids: Sequence[int],
    groups: Sequence[Sequence[int]],
    *,
    mlm_probability: float,
    mask_id: int,
    random_ids: Sequence[int],
    rng: random.Random,
) -> tuple[list[int], list[int]]:
    """One mask for one sequence (static and whole-word masking): select groups, then replace."""
    positions = select_groups(groups, mlm_probability, rng)
    return replace_selected(input_ids, positions, mask_id=mask_id, random_ids=random_ids, rng=rng)


def special_tokens_mask(input_ids: torch.Tensor, special_ids: Sequence[int]) -> torch.Tensor:
    """True where the token is special ([PAD], [CLS], [SEP], [MASK], ...): never a candidate."""
    return torch.isin(input_ids, torch.tensor(list(special_ids), dtype=input_ids.dtype, device=input_ids.device))


def mask_batch(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    *,
    mlm_probability: float,
    mask_id: int,
    random_ids: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic masking of a padded batch [B, T], vectorized (it runs in the collator every step).

    Per row, floor(p * n + u) of the n candidate tokens are selected uniformly without replacement
    (fairseq's MaskTokensDataset), then 80/10/10. Returns (model input ids, labels).
    """
    candidate = ~special_mask
    B, T = input_ids.shape
    n = candidate.sum(dim=1)
    k = torch.floor(mlm_probability * n + torch.rand(B, generator=generator)).long()
    scores = torch.rand(B, T, generator=generator).masked_fill(~candidate, 2.0)  # non-candidates last
    rank = scores.argsort(dim=1).argsort(dim=1)
    selected = (rank < k[:, None]) & candidate
    labels = input_ids.masked_fill(~selected, IGNORE_INDEX)
    r = torch.rand(B, T, generator=generator)
    to_mask = selected & (r < 0.8)
    to_random = selected & (r >= 0.8) & (r < 0.9)
    random_tokens = random_ids[torch.randint(len(random_ids), (B, T), generator=generator)]
    masked = input_ids.masked_fill(to_mask, mask_id)
    masked = torch.where(to_random, random_tokens.to(input_ids.dtype), masked)
    return masked, labels


# --- Chinese whole-word masking -----------------------------------------------------------------


def segment_chinese(text: str) -> list[tuple[str, int, int]]:
    """jieba's segmentation as (word, start, end) character spans (dictionary shipped with jieba)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return list(jieba.tokenize(text))


def jieba_word_ids(text: str, offsets: Sequence[tuple[int, int]]) -> list[int | None]:
    """Word id of each token from its character span: the jieba word its first character lies in.

    Drives Chinese whole-word masking with a character-level tokenizer; a token with an empty span
    (a special token) gets None.
    """
    word_at = [0] * len(text)
    for index, (_, start, end) in enumerate(segment_chinese(text)):
        word_at[start:end] = [index] * (end - start)
    return [word_at[start] if end > start and start < len(text) else None for start, end in offsets]


__all__ = [
    "IGNORE_INDEX",
    "word_groups",
    "token_groups",
    "num_to_mask",
    "select_groups",
    "non_special_ids",
    "replace_selected",
    "mask_sequence",
    "special_tokens_mask",
    "mask_batch",
    "segment_chinese",
    "jieba_word_ids",
]
