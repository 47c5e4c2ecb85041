"""Length-grouped dynamic padding: batches pad to their longest, [T] and [C, T] features, eval
order kept, each example once per epoch, padding ratio <= 1.15 with grouping."""

import datasets
import numpy as np
import pytest
import torch

from bench.data.batching import LengthGroupedBatchSampler, collate, feature_lengths, make_dataloader, padding_ratio

IDS = datasets.List(datasets.Value("int32"))


def flat_dataset(lengths, with_eval_columns=False):
    rng = np.random.default_rng(0)
    rows = {"input_ids": [[2] + list(rng.integers(5, 50, n - 2)) + [3] for n in lengths],
            "token_type_ids": [[0] * n for n in lengths], "attention_mask": [[1] * n for n in lengths],
            "labels": [i % 3 for i in range(len(lengths))]}
    if with_eval_columns:
        rows["example_id"] = [f"ex{i}" for i in range(len(lengths))]
        rows["offset_mapping"] = [[None] + [[j, j + 1] for j in range(n - 2)] + [None] for n in lengths]
    return datasets.Dataset.from_dict(rows)


def test_collate_pads_to_the_longest_in_the_batch():
    rows = [{"input_ids": [2, 7, 3], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 0], "labels": 1},
            {"input_ids": [2, 9, 9, 9, 3], "attention_mask": [1] * 5, "token_type_ids": [0, 0, 1, 1, 1], "labels": 0}]
    b = collate(rows, pad_id=0)
    assert b["input_ids"].tolist() == [[2, 7, 3, 0, 0], [2, 9, 9, 9, 3]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1] * 5]
    assert b["token_type_ids"][1].tolist() == [0, 0, 1, 1, 1]
    assert b["labels"].dtype == torch.long and b["labels"].tolist() == [1, 0]
    b = collate([{"input_ids": [5], "labels": 2.5}, {"input_ids": [5, 6], "labels": 1.0}], pad_id=9)
    assert b["labels"].dtype == torch.float32 and b["input_ids"].tolist() == [[5, 9], [5, 6]]


def test_collate_multiple_choice_gives_b_c_t():
    rows = [{"input_ids": [[2, 5, 3], [2, 5, 6, 3], [2, 3], [2, 7, 7, 7, 3]], "attention_mask": [[1] * 3, [1] * 4, [1] * 2, [1] * 5],
             "token_type_ids": [[0] * 3, [0] * 4, [0] * 2, [0] * 5], "labels": 3}] * 2
    b = collate(rows, pad_id=0)
    assert b["input_ids"].shape == (2, 4, 5) and b["attention_mask"].shape == (2, 4, 5)
    assert b["input_ids"][0, 2].tolist() == [2, 3, 0, 0, 0] and b["attention_mask"][0, 2].sum() == 2
    assert feature_lengths(datasets.Dataset.from_list(rows)).tolist() == [5, 5]


def test_every_example_once_per_epoch_and_epochs_differ():
    lengths = np.random.default_rng(1).integers(5, 60, 1000)
    s = LengthGroupedBatchSampler(lengths, 16, shuffle=True, seed=3, mega_batch_mult=10)
    e0 = [i for b in s for i in b]
    assert sorted(e0) == list(range(1000))
    s.set_epoch(1)
    e1 = [i for b in s for i in b]
    assert sorted(e1) == list(range(1000)) and e1 != e0
    s.set_epoch(0)
    assert [i for b in s for i in b] == e0  # the seed and epoch fix the order
    first = next(iter(s))
    assert max(lengths[first]) == lengths.max()  # the longest batch first: memory errors show at step 1


def test_eval_order_is_the_dataset_order():
    ds = flat_dataset([7, 30, 5, 12, 40, 9], with_eval_columns=True)
    loader = make_dataloader(ds, 4, shuffle=False, seed=0, pad_id=0)
    batches = list(loader)
    assert torch.cat([b["labels"] for b in batches]).tolist() == ds["labels"]
    assert set(batches[0]) == {"input_ids", "token_type_ids", "attention_mask", "labels"}  # no example_id/offsets
    assert batches[0]["input_ids"].shape == (4, 30)
    assert ds.column_names[-2:] == ["example_id", "offset_mapping"]  # still on the dataset


def test_grouping_keeps_padding_small():
    lengths = np.random.default_rng(2).integers(8, 128, 3000)
    ds = flat_dataset(lengths)
    grouped = padding_ratio(make_dataloader(ds, 32, shuffle=True, seed=0, pad_id=0))
    plain = padding_ratio(make_dataloader(ds, 32, shuffle=True, seed=0, pad_id=0, group_by_length=False))
    assert grouped <= 1.15 < plain
    real = sum(lengths)
    fed = sum(b["attention_mask"].sum().item() for b in make_dataloader(ds, 32, shuffle=True, seed=0, pad_id=0))
    assert fed == real  # padding never drops a real token


def test_lengths_follow_a_selected_view():
    ds = flat_dataset([5, 9, 20, 7, 11])
    view = ds.select([4, 2, 0])
    assert feature_lengths(view).tolist() == [11, 20, 5]
    batch = next(iter(make_dataloader(view, 3, shuffle=False, seed=0, pad_id=0)))
    assert batch["attention_mask"].sum(1).tolist() == [11, 20, 5]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="batch_size must be positive"):
        LengthGroupedBatchSampler([3, 4], 0, shuffle=True)
    with pytest.raises(KeyError, match="no input_ids column"):
        make_dataloader(datasets.Dataset.from_dict({"x": [[1]]}), 2, True, 0, 0)


def test_loader_resumes_mid_epoch_and_after_an_epoch_end():
    """The loader's state (epoch, batches served) gives back the rest of the epoch, or the next epoch
    when it was saved after the last batch; plain ints, so it loads with torch.load(weights_only=True)."""
    ds = flat_dataset(np.random.default_rng(2).integers(4, 30, 40))

    def ids(batches):
        return [b["input_ids"][:, 0].tolist() + [int(b["input_ids"].sum())] for b in batches]

    def epoch(loader, n):
        loader.batch_sampler.set_epoch(n)
        return list(loader)

    ref = make_dataloader(ds, 8, shuffle=True, seed=5, pad_id=0)
    full = [epoch(ref, 0), epoch(ref, 1)]
    loader = make_dataloader(ds, 8, shuffle=True, seed=5, pad_id=0)
    loader.batch_sampler.set_epoch(1)
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    assert state == {"epoch": 1, "served": 2}
    resumed = make_dataloader(ds, 8, shuffle=True, seed=5, pad_id=0)
    resumed.load_state_dict(state)
    assert len(resumed) == 5 and ids(resumed) == ids(full[1][2:])
    assert resumed.state_dict() == {"epoch": 1, "served": 5}
    at_end = make_dataloader(ds, 8, shuffle=True, seed=5, pad_id=0)
    at_end.load_state_dict({"epoch": 0, "served": 5})
    assert ids(at_end) == ids(full[1])
    before = torch.get_rng_state()
    list(make_dataloader(ds, 8, shuffle=True, seed=5, pad_id=0))
    assert torch.equal(torch.get_rng_state(), before)  # a pass draws nothing from the global RNG
