"""Pretraining datasets, their collator and dataloader.

Masking is static (masked when the dataset is built, `dupe_factor` copies with different masks,
reused every epoch) or dynamic (masked by `PretrainingCollator` each time a batch is made).
The held-out documents are split off before any of that, so no validation sequence is also
trained on (under another mask, or packed or paired differently).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from bench.data.batching import pad
from bench.data.masking import (
    mask_batch,
    mask_sequence,
    non_special_ids,
    special_tokens_mask,
    token_groups,
    word_groups,
)
from bench.data.pretraining.examples import build_examples
from bench.data.pretraining.tokenized import TokenizedSentence
from bench.data.tokenizer import SpecialIds
from lightning_modules.inputs import IGNORE_INDEX, MASKING_MODES


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

    def state_dict(self) -> dict[str, Any]:
        """The masking RNG's position (a resumed pretraining draws the masks it would have drawn)."""
        return {"generator": None if self._generator is None else self._generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._generator = None
        if state.get("generator") is not None:
            self._generator = torch.Generator()
            self._generator.set_state(state["generator"])

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        ids = [e["input_ids"] for e in examples]
        T = max(len(x) for x in ids)
        batch = {
            "input_ids": pad(ids, self.special.pad, T),
            "attention_mask": pad([[1] * len(x) for x in ids], 0, T),
            "token_type_ids": pad([e["token_type_ids"] for e in examples], 0, T),
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
            batch["labels"] = pad([e["labels"] for e in examples], IGNORE_INDEX, T)
        return batch


def split_documents(
    documents: Sequence[Sequence[TokenizedSentence]], val_fraction: float, seed: int
) -> tuple[list, list]:
    """(train, held-out) documents: a seeded draw of max(1, fraction x n) documents, both parts in
    corpus order (FULL-SENTENCES packs consecutive documents)."""
    n = len(documents)
    if n < 3:
        raise ValueError(f"the pretraining corpus has {n} document(s): at least 3 are needed (one is held out)")
    held = set(random.Random(seed).sample(range(n), max(1, round(val_fraction * n))))
    return [d for i, d in enumerate(documents) if i not in held], [d for i, d in enumerate(documents) if i in held]


@dataclass
class PretrainingData:
    train: PretrainingDataset
    val: PretrainingDataset
    collator: PretrainingCollator  # the training batches' masks (dynamic recipes)
    val_collator: PretrainingCollator  # its own seed: held-out masks do not depend on how long training ran


def build_for_objective(
    objective,
    documents: Sequence[Sequence[TokenizedSentence]],
    special: SpecialIds,
    vocab_size: int,
    seed: int = 0,
    val_fraction: float = 0.05,
) -> PretrainingData:
    """Training and held-out sets of a recipe (an ObjectiveConfig: masking, dupe_factor,
    sentence_task, input_format, max_seq_length, mlm_probability, short_seq_prob), for
    `tokenize_documents` output in the recipe's language. The documents are split first; the
    held-out ones are built once (no duplication), statically masked if the recipe is static."""
    train_docs, val_docs = split_documents(documents, val_fraction, seed)
    kw = dict(
        masking=objective.masking,
        input_format=objective.input_format,
        sentence_task=objective.sentence_task,
        max_seq_length=objective.max_seq_length,
        special=special,
        vocab_size=vocab_size,
        mlm_probability=objective.mlm_probability,
        short_seq_prob=objective.short_seq_prob,
    )
    train = build_pretraining_dataset(train_docs, dupe_factor=objective.dupe_factor, seed=seed, **kw)
    val = build_pretraining_dataset(val_docs, dupe_factor=1, seed=seed + 1, **kw)

    def collator(s: int) -> PretrainingCollator:
        return PretrainingCollator(
            special, vocab_size, dynamic=not train.static, mlm_probability=objective.mlm_probability, seed=s
        )

    return PretrainingData(train, val, collator(seed), collator(seed + 1))


class ResumableDataLoader(DataLoader):
    """A single-process DataLoader whose position Lightning (>= 2.3) keeps in its checkpoints
    through `state_dict` / `load_state_dict`: the shuffle generator's state when the current pass
    began, the batches served since, and the collator's masking RNG. After `load_state_dict` the
    next pass replays that pass's order and skips the served batches' indices (without loading or
    masking them), so a fit resumed mid-epoch sees exactly the batches an uninterrupted one would.
    `len()` stays the whole pass: Lightning counts the resumed pass's batches from where it was.
    """

    _pass_start: torch.Tensor | None = None
    _served = 0
    _resume: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        # A generator: nothing runs before the first batch is asked for (after Lightning's set_epoch).
        resume, self._resume = self._resume, None
        skip = 0
        if resume is not None:
            finished = resume["served"] >= len(self)  # saved after a pass's last batch: a new pass
            if self.generator is not None:
                self.generator.set_state(resume["generator"] if finished else resume["pass_start"])
            skip = 0 if finished else resume["served"]
        self._pass_start = None if self.generator is None else self.generator.get_state()
        iterator = super().__iter__()
        for _ in range(skip):
            iterator._next_index()
        self._served = skip
        for batch in iterator:
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"served": self._served, "pass_start": self._pass_start}
        state["generator"] = None if self.generator is None else self.generator.get_state()
        if callable(getattr(self.collate_fn, "state_dict", None)):
            state["collator"] = self.collate_fn.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = dict(state)
        if "collator" in state:
            self.collate_fn.load_state_dict(state["collator"])


def pretraining_dataloader(
    dataset: PretrainingDataset,
    collator: PretrainingCollator,
    batch_size: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
) -> ResumableDataLoader:
    """A resumable DataLoader with a seeded shuffle (the order, like the masks, is reproducible).
    Single-process: the masks' RNG lives in the collator of this process, where it is saved."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return ResumableDataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collator,
                               generator=generator, drop_last=False)
