"""Length-grouped batches with dynamic padding.

    make_dataloader(features, batch_size, shuffle, seed, pad_id) -> DataLoader of dicts of tensors

Training order (shuffle=True, group_by_length=True) follows Hugging Face's LengthGroupedSampler:
shuffle, cut into mega-batches of `mega_batch_mult` batches, sort each mega-batch by length, cut
it into batches; the batches are then shuffled, except that the longest batch goes first (an
out-of-memory error shows at step 1, not at step 900). Each batch is padded to its own longest
example, so padding stays small. Evaluation (shuffle=False) keeps the dataset order, so that
predictions line up with the dataset's example_id / offset_mapping columns.

Batches hold input_ids, attention_mask, token_type_ids and labels / start_positions /
end_positions, shaped [B, T] or [B, C, T] for multiple choice. Non-tensor columns (example_id,
offset_mapping) stay on the dataset. Under DDP each rank takes every world_size-th batch.

The loader is resumable: Lightning (>= 2.3) keeps its `state_dict` (the epoch whose order is being
served and how many of its batches were served) in every checkpoint and hands it back on resume,
so a fit resumed mid-epoch goes on with exactly the batches an uninterrupted one would see.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler

TENSOR_COLUMNS = ("input_ids", "token_type_ids", "attention_mask", "labels", "start_positions", "end_positions")
PADDED = {"input_ids", "token_type_ids", "attention_mask"}


def feature_lengths(dataset) -> np.ndarray:
    """Tokens per example (for [C, T] features, the longest choice), read from Arrow without decoding.
    Goes through the dataset's indices, so a `.select(...)` or `.shuffle()` view gets its own lengths."""
    col = dataset.select_columns(["input_ids"]).with_format("arrow")[:].column("input_ids")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_list(col.type.value_type) or pa.types.is_large_list(col.type.value_type):
        inner = pc.list_flatten(col)
        lengths = pc.list_value_length(inner).to_numpy(zero_copy_only=False)
        parents = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
        out = np.zeros(len(col), dtype=np.int64)
        np.maximum.at(out, parents, lengths)
        return out
    return pc.list_value_length(col).to_numpy(zero_copy_only=False).astype(np.int64)


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of indices: length-grouped and shuffled per epoch (train), or in order (eval)."""

    def __init__(self, lengths, batch_size: int, shuffle: bool, seed: int = 0, group_by_length: bool = True,
                 mega_batch_mult: int = 50, drop_last: bool = False):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.lengths = np.asarray(lengths)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.group_by_length, self.mega_batch_mult, self.drop_last = group_by_length, mega_batch_mult, drop_last
        self.epoch = 0
        self.skip = 0  # batches of the next pass already served (a resumed epoch)

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning (or by hand) so each epoch gets a new order."""
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = np.arange(n)
            batches = [order[i : i + bs].tolist() for i in range(0, n, bs)]
        else:
            g = np.random.default_rng([self.seed, self.epoch])
            order = g.permutation(n)
            if self.group_by_length:
                mega = bs * self.mega_batch_mult
                parts = [order[i : i + mega] for i in range(0, n, mega)]
                order = np.concatenate([p[np.argsort(-self.lengths[p], kind="stable")] for p in parts])
            batches = [order[i : i + bs].tolist() for i in range(0, n, bs)]
            if self.group_by_length and len(batches) > 1:
                longest = max(range(len(batches)), key=lambda i: max(self.lengths[batches[i]]))
                first = batches.pop(longest)
                batches = [first] + [batches[i] for i in g.permutation(len(batches))]
        if self.drop_last and batches and len(batches[-1]) < bs:
            batches.pop()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            world, rank = dist.get_world_size(), dist.get_rank()
            batches = batches[: len(batches) - len(batches) % world][rank::world]
        return batches

    def __iter__(self):
        batches = self._batches()
        skip, self.skip = self.skip, 0
        return iter(batches[skip:])

    def __len__(self) -> int:
        return len(self._batches())


def pad(seqs: Sequence, fill: int, length: int | None = None) -> torch.Tensor:
    """Sequences [B][T] (or choices [B][C][T]) right-padded with `fill` to `length` (default: the
    longest) as one long tensor: the one padding of fine-tuning and pretraining batches."""
    nested = bool(seqs) and bool(seqs[0]) and isinstance(seqs[0][0], (list, tuple))
    if length is None:
        length = max((len(s) for row in seqs for s in row) if nested else (len(s) for s in seqs), default=0)
    if nested:
        return torch.tensor([[list(s) + [fill] * (length - len(s)) for s in row] for row in seqs], dtype=torch.long)
    return torch.tensor([list(s) + [fill] * (length - len(s)) for s in seqs], dtype=torch.long)


def collate(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad input_ids (pad_id), attention_mask and token_type_ids (0) to the longest in the batch."""
    input_ids = pad([r["input_ids"] for r in rows], pad_id)
    out: dict[str, torch.Tensor] = {}
    for key in rows[0]:
        if key == "input_ids":
            out[key] = input_ids
        elif key in PADDED:
            out[key] = pad([r[key] for r in rows], 0, input_ids.shape[-1])
        else:
            values = [r[key] for r in rows]
            out[key] = torch.tensor(values, dtype=torch.float32 if isinstance(values[0], float) else torch.long)
    return out


class ResumableLoader(DataLoader):
    """A DataLoader over a LengthGroupedBatchSampler whose position is a state dict of plain ints
    ({"epoch", "served"}: the epoch's order is the sampler's, from (seed, epoch) alone), counted
    where Lightning takes the batches. After `load_state_dict` the next pass serves the rest of
    that epoch, or the next epoch when it had been served whole. `len()` stays a whole epoch:
    Lightning counts a resumed epoch's batches from where it was.
    """

    _served = 0

    def __iter__(self) -> Iterator[Any]:
        # A generator: the order is drawn at the first batch, after Lightning's epoch hooks.
        sampler: LengthGroupedBatchSampler = self.batch_sampler
        self._served = sampler.skip
        # A pass draws a worker base seed from the global RNG, which must not move: a resumed fit starts a
        # pass where the uninterrupted one did not, and dropout would then differ. (Not a generator of the
        # loader's own: ddp_spawn pickles the loader, and a generator's state fails to go through shared memory.)
        with torch.random.fork_rng(devices=[]):
            batches = super().__iter__()
        for batch in batches:
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(self.batch_sampler.epoch), "served": int(self._served)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        sampler: LengthGroupedBatchSampler = self.batch_sampler
        epoch, served = int(state["epoch"]), int(state["served"])
        if served >= len(sampler):  # saved after an epoch's last batch: the next pass is the next epoch
            epoch, served = epoch + 1, 0
        sampler.set_epoch(epoch)
        sampler.skip = served


def make_dataloader(dataset, batch_size: int, shuffle: bool, seed: int, pad_id: int, group_by_length: bool = True,
                    num_workers: int = 0, drop_last: bool = False) -> ResumableLoader:
    """A DataLoader of padded tensor batches over a features Dataset (see module docstring)."""
    columns = [c for c in TENSOR_COLUMNS if c in dataset.column_names]
    if "input_ids" not in columns:
        raise KeyError(f"dataset has no input_ids column (columns: {', '.join(dataset.column_names)})")
    sampler = LengthGroupedBatchSampler(feature_lengths(dataset), batch_size, shuffle, seed, group_by_length,
                                        drop_last=drop_last)
    return ResumableLoader(dataset.select_columns(columns), batch_sampler=sampler,
                           collate_fn=partial(collate, pad_id=pad_id), num_workers=num_workers)


def padding_ratio(loader: DataLoader) -> float:
    """Padded tokens fed / real tokens, over one pass of the loader (1.0 = no padding)."""
    fed = real = 0
    for batch in loader:
        fed += batch["attention_mask"].numel()
        real += int(batch["attention_mask"].sum())
    return fed / max(real, 1)
