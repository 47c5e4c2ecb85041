"""The inference-time job: what the timer includes (no tokenization, no warm-up), the logged
environment, the Hugging Face comparison, the inference modes and their accuracy cost.

Tiny models and hand-made pairs only; no assertion on how fast anything is, only on what is timed.
"""

import random
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import bench.jobs.speed as speed
from bench.jobs.speed import (
    Encoded,
    SpeedSettings,
    accuracy_drops,
    default_settings,
    encode_pairs,
    make_batches,
    measure,
    measurement,
    mode_accuracy_cost,
    prepare_mode,
    speed_job,
    speed_yaml,
    summarize,
    time_columns,
)
from bench.jobs.speed import job as speed_job_module
from lightning_modules.encoder import Encoder, EncoderConfig

WORDS = "the a cat dog man woman sat ran plays guitar on mat fast slow red blue sings eats".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
ENV_KEYS = [
    "speed/total_s", "speed/median_ms", "speed/p90_ms", "speed/examples_per_s", "speed/n_examples",
    "speed/threads", "speed/device", "speed/cpu", "speed/torch", "speed/dtype", "speed/seq_len_mean",
    "speed/seq_len_max", "speed/total_s_full_pass", "speed/total_s_full_pass_extrapolated", "params/total",
]  # fmt: skip
HF_KEYS = ["speed/hf_total_s", "speed/hf_median_ms", "speed/hf_p90_ms", "speed/hf_examples_per_s", "speed/ours_over_hf"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def pairs():
    rng = random.Random(0)
    sentence = lambda: " ".join(rng.choices(WORDS, k=rng.randint(3, 10)))  # noqa: E731
    return [(sentence(), sentence()) for _ in range(24)]


@pytest.fixture
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {t: i for i, t in enumerate(SPECIAL + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tok


def tiny(**kw) -> EncoderConfig:
    d = dict(vocab_size=64, embedding_size=32, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
             max_position_embeddings=64, dropout=0.0, attention_dropout=0.0)  # fmt: skip
    return EncoderConfig(**(d | kw))


def hf_twin(cfg: EncoderConfig) -> nn.Module:
    pytest.importorskip("transformers")
    return speed.build_hf_model(cfg)[0]


class SlowTokenizer:
    """Delegates to a real tokenizer after a sleep: tokenization inside the timer would show."""

    def __init__(self, tok, delay: float):
        self.tok, self.delay, self.calls = tok, delay, 0

    def encode(self, a, b=None):
        time.sleep(self.delay)
        self.calls += 1
        return self.tok.encode(a, b)

    def get_vocab_size(self, *args, **kwargs) -> int:
        return self.tok.get_vocab_size(*args, **kwargs)

    def to_str(self, *args, **kwargs) -> str:
        return self.tok.to_str(*args, **kwargs)


def job_cfg(profile: str = "tiny", **speed_overrides):
    """A composed-like root config: conf/speed/default.yaml as shipped, a tiny model, stub task/data."""
    root = OmegaConf.create({
        "profile": {"name": profile}, "seed": 0,
        "model": {"name": "tiny", **tiny().to_dict()},
        "task": {"name": "stsb", "language": "en", "columns": {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}},
        "data": {"source": "synthetic"},
        "speed": speed_yaml(),
    })  # fmt: skip
    for k, v in {"threads": 1, "warmup": 2, **speed_overrides}.items():
        OmegaConf.update(root, f"speed.{k}", v, merge=False)
    return root


@pytest.fixture
def stub_data(monkeypatch, pairs, tokenizer):
    """speed_job's data hooks, fed with the fixture pairs; the tokenizer is slow, to be seen if timed."""
    slow = SlowTokenizer(tokenizer, delay=0.05)
    monkeypatch.setattr(speed_job_module, "load_pairs", lambda cfg, split, n, start=0: pairs[: n or len(pairs)])
    monkeypatch.setattr(speed_job_module, "load_tokenizer", lambda cfg: slow)
    return slow


# ----------------------------------------------------------------------------- what is timed
def test_timer_excludes_tokenization(stub_data, pairs):
    t0 = time.perf_counter()
    out = speed_job(job_cfg(hf=False))
    wall = time.perf_counter() - t0
    sleep_total = stub_data.delay * len(pairs)
    assert stub_data.calls == len(pairs)  # every pair tokenized exactly once, before timing
    assert wall >= sleep_total  # the sleeps did happen in the job...
    assert out["speed/total_s"] < sleep_total / 2  # ...but not inside the timed pass
    assert out["speed/n_examples"] == len(pairs)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_warmup_calls_are_not_counted(pairs, tokenizer, batch_size):
    encoded = encode_pairs(pairs[:10], tokenizer, 64)
    enc = Encoder(tiny())
    calls = []
    enc.register_forward_hook(lambda m, i, o: calls.append(i))
    out = measure(enc, encoded, default_settings(warmup=3, batch_size=batch_size, threads=1))
    n_batches = -(-10 // batch_size)
    assert len(calls) == 3 + n_batches
    assert out["speed/n_examples"] == out["speed/fp32/n_examples"] == 10


def test_warmup_time_is_not_in_the_total():
    calls = {"n": 0}

    def slow_first_three(batch):
        calls["n"] += 1
        if calls["n"] <= 3:
            time.sleep(0.1)

    times, errors = time_columns({"x": slow_first_three}, [{}] * 5, warmup=3)
    assert calls["n"] == 8 and len(times["x"]) == 5 and not errors
    assert sum(times["x"]) < 0.1


def test_columns_interleave_with_rotating_order():
    order = []
    cols = {name: (lambda b, name=name: order.append((b["i"], name))) for name in "abc"}
    times, _ = time_columns(cols, [{"i": i} for i in range(3)], warmup=0, interleave=True)
    assert order == [(0, "a"), (0, "b"), (0, "c"), (1, "b"), (1, "c"), (1, "a"), (2, "c"), (2, "a"), (2, "b")]
    assert all(len(t) == 3 for t in times.values())


def test_optional_column_failing_in_warmup_is_dropped_required_raises():
    def broken(batch):
        raise RuntimeError("no compiler")

    times, errors = time_columns({"ok": lambda b: None, "bad": broken}, [{}] * 2, warmup=1, optional=["bad"])
    assert list(times) == ["ok"] and "no compiler" in errors["bad"]
    with pytest.raises(RuntimeError, match="no compiler"):
        time_columns({"bad": broken}, [{}], warmup=1)


def test_summarize_statistics():
    st = summarize([0.01] * 8 + [0.02, 0.10], [1] * 10, full_pass_examples=1500)
    assert st["n_examples"] == 10 and st["total_s"] == pytest.approx(0.20)
    assert st["median_ms"] == pytest.approx(10.0) and st["p90_ms"] == pytest.approx(20.0)  # nearest rank
    assert st["mean_ms"] == pytest.approx(20.0) and st["examples_per_s"] == pytest.approx(50.0)
    assert st["total_s_full_pass"] == pytest.approx(30.0) and st["total_s_full_pass_extrapolated"] is True
    full = summarize([0.5, 1.5], [2, 2], full_pass_examples=4)  # batch time / batch size per example
    assert full["median_ms"] == pytest.approx(500.0) and full["total_s_full_pass_extrapolated"] is False


# ----------------------------------------------------------------------------- inputs
def test_encode_pairs_truncates_without_touching_the_callers_tokenizer(tokenizer):
    long = " ".join(WORDS * 3)
    enc = encode_pairs([(long, long), ("the cat", None)], tokenizer, max_length=16)
    assert len(enc[0].input_ids) == 16 and len(enc[0].token_type_ids) == 16
    assert enc[1].input_ids == tokenizer.encode("the cat").ids
    assert tokenizer.truncation is None
    with pytest.raises(ValueError, match="no examples"):
        encode_pairs([], tokenizer, 16)


def test_make_batches_pads_and_masks():
    enc = [Encoded([2, 5, 3], [0, 0, 0]), Encoded([2, 6, 7, 3, 8, 3], [0, 0, 0, 0, 1, 1]), Encoded([2, 3], [0, 0])]
    b1, b2 = make_batches(enc, 2, pad_id=0, with_types=True, device="cpu")
    assert b1["input_ids"].tolist() == [[2, 5, 3, 0, 0, 0], [2, 6, 7, 3, 8, 3]]
    assert b1["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert b1["token_type_ids"][1].tolist() == [0, 0, 0, 0, 1, 1] and b2["input_ids"].shape == (1, 2)
    assert "token_type_ids" not in make_batches(enc, 1, 0, with_types=False, device="cpu")[0]


# ----------------------------------------------------------------------------- logged keys
def test_environment_fields_are_logged(pairs, tokenizer):
    encoded = encode_pairs(pairs, tokenizer, 64)
    out = measure(Encoder(tiny()), encoded, default_settings(warmup=1, threads=1))
    assert not [k for k in ENV_KEYS if k not in out]
    lengths = [len(e.input_ids) for e in encoded]
    assert out["speed/seq_len_mean"] == pytest.approx(sum(lengths) / len(lengths))
    assert out["speed/seq_len_max"] == max(lengths)
    assert out["speed/threads"] == 1 and out["speed/device"] == "cpu" and out["speed/torch"] == torch.__version__
    assert out["speed/dtype"] == "float32" and out["speed/cpu"]
    assert out["params/total"] == sum(p.numel() for p in Encoder(tiny()).parameters())
    assert out["speed/total_s_full_pass"] == pytest.approx(out["speed/total_s"] / len(pairs) * 1500)


@pytest.mark.parametrize("arch", [{}, {"type_vocab_size": 0, "pooler": False}], ids=["bert", "distilbert"])
def test_hf_comparison_same_inputs(pairs, tokenizer, arch):
    cfg = tiny(**arch)
    hf = hf_twin(cfg)
    encoded = encode_pairs(pairs[:8], tokenizer, 64)
    hf_calls = []
    hf.register_forward_hook(lambda m, i, o: hf_calls.append(1))
    out = measure(Encoder(cfg), encoded, default_settings(warmup=2, threads=1), hf)
    assert not [k for k in HF_KEYS if k not in out]
    assert len(hf_calls) == 2 + 8 and out["speed/hf/fp32/n_examples"] == 8
    assert out["speed/ours_over_hf"] == pytest.approx(out["speed/total_s"] / out["speed/hf_total_s"])
    assert out["speed/fp32/over_hf_fp32"] == out["speed/ours_over_hf"] > 0


def test_speed_job_end_to_end(stub_data, pairs):
    pytest.importorskip("transformers")
    out = speed_job(job_cfg("tiny", full_size=True))
    assert not [k for k in ENV_KEYS + HF_KEYS if k not in out]
    assert out["speed/hf_family"] == "bert" and out["speed/task"] == "stsb" and out["speed/full_size"] is True
    assert out["speed/modes"] == "fp32" and out["speed/total_s_full_pass_extrapolated"] is True
    assert torch.get_num_threads() == 1  # the job's own thread count was undone
    assert out["tokenizer/vocab_size"] > 0 and len(out["tokenizer/sha256"]) == 64 and out["tokenizer/source"]


def test_speed_job_picks_the_profile_size_when_not_full_size(stub_data):
    cfg = job_cfg("tiny", full_size=False, hf=False)
    cfg.profile.model = {
        "hidden_size": 16,
        "embedding_size": 16,
        "num_heads": 2,
        "intermediate_size": 32,
        "num_layers": 1,
    }
    out = speed_job(cfg)
    assert out["speed/architecture"].startswith("L=1 H=16") and out["params/total"] > 0


# ----------------------------------------------------------------------------- settings
def test_speed_defaults_follow_the_profile():
    tiny_s = SpeedSettings.from_cfg(job_cfg("tiny").speed)
    paper_s = SpeedSettings.from_cfg(job_cfg("paper").speed)
    assert (tiny_s.max_examples, tiny_s.modes) == (100, ["fp32"])
    assert paper_s.max_examples is None and paper_s.modes == ["fp32", "int8_dynamic", "bf16_autocast", "compile"]
    assert tiny_s.batch_size == 1 and tiny_s.full_size and tiny_s.gpu.batch_sizes == [1, 32]
    explicit = SpeedSettings.from_cfg(job_cfg("tiny", max_examples=50, modes=["fp32", "int8_dynamic"]).speed)
    assert (explicit.max_examples, explicit.modes) == (50, ["fp32", "int8_dynamic"])


def test_the_composed_node_extends_the_schema_and_the_yaml_holds_the_values():
    from hydra.errors import ConfigCompositionException

    from bench.config.compose import compose_config

    assert SpeedSettings.from_cfg(compose_config(["profile=paper"]).speed) == default_settings("paper")
    with pytest.raises(ConfigCompositionException):
        compose_config(["speed.warmup=some"])


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match="speed.bogus"):
        SpeedSettings.from_cfg({"bogus": 1})
    with pytest.raises(ValueError, match="speed.gpu.bogus"):
        default_settings(gpu={"bogus": 1})
    with pytest.raises(ValueError, match="missing speed config key.*speed.batch_size"):
        SpeedSettings.from_cfg({"modes": ["fp32"]})
    with pytest.raises(ValueError, match="batch_size"):  # a wrong type, as when composed
        default_settings(batch_size="many")
    with pytest.raises(ValueError, match="speed.modes.*fp16"):
        default_settings(modes=["fp16"])
    with pytest.raises(ValueError, match="speed.gpu.modes"):
        default_settings(gpu={"modes": ["int8_dynamic"]})
    with pytest.raises(ValueError, match="speed.batch_size"):
        default_settings(batch_size=0)


def test_emulated_bf16_is_skipped_unless_asked(monkeypatch, pairs, tokenizer):
    monkeypatch.setattr(measurement, "native_bf16", lambda device: False)
    encoded = encode_pairs(pairs[:4], tokenizer, 64)
    out = measure(Encoder(tiny()), encoded, default_settings(modes=["fp32", "bf16_autocast"], warmup=0))
    assert "no native bf16" in out["speed/bf16_autocast/skipped"] and "speed/bf16_autocast/total_s" not in out
    s = default_settings(modes=["bf16_autocast"], warmup=0, skip_emulated_bf16=False)
    out = measure(Encoder(tiny()), encoded, s)
    assert out["speed/bf16_autocast/n_examples"] == 4 and "speed/fp32/total_s" in out  # fp32 always measured


def test_bench_speed_forces_job_type_and_task(monkeypatch):
    import bench.jobs.run

    seen = []
    monkeypatch.setattr(bench.jobs.run, "main", lambda: seen.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", ["bench-speed", "model=distilbert_base"])
    speed.main()
    assert seen[-1] == ["bench-speed", "model=distilbert_base", "job_type=speed", "task=stsb"]
    monkeypatch.setattr(sys, "argv", ["bench-speed", "task=sst2"])
    speed.main()
    assert seen[-1] == ["bench-speed", "task=sst2", "job_type=speed"]


# ----------------------------------------------------------------------------- modes
def test_prepare_mode_leaves_the_module_alone():
    enc = Encoder(tiny()).eval()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    int8, _ = prepare_mode(enc, "int8_dynamic")
    bf16, _ = prepare_mode(enc, "bf16")
    compiled, _ = prepare_mode(enc, "compile")  # lazy: nothing is compiled until called
    assert all(isinstance(m, nn.Linear) for m in (enc.attention[0].qkv, enc.ffn[0].up))
    assert not isinstance(int8.attention[0].qkv, nn.Linear) and ".quantized." in type(int8.attention[0].qkv).__module__
    assert bf16.attention[0].qkv.weight.dtype == torch.bfloat16 and enc.attention[0].qkv.weight.dtype == torch.float32
    assert compiled.attention[0].qkv.weight is enc.attention[0].qkv.weight
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())
    with pytest.raises(ValueError, match="unknown inference mode"):
        prepare_mode(enc, "fp16")
    with pytest.raises(ValueError, match="CPU only"):
        prepare_mode(enc, "int8_dynamic", device="cuda")


class TinyClassifier(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.encoder, self.head = Encoder(cfg), nn.Linear(cfg.hidden_size, 2)

    def forward(self, batch: dict) -> torch.Tensor:
        return self.head(self.encoder(batch["input_ids"], batch["attention_mask"])[1])


def toy_batches(n: int, seed: int) -> list[dict]:
    """Label = whether the first word id is in the upper half of the vocabulary."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 64, (n, 8), generator=g)
    ids[:, 0] = 2
    labels = (ids[:, 1] >= 34).long()
    return [{"input_ids": ids[i : i + 32], "attention_mask": torch.ones_like(ids[i : i + 32]), "labels": labels[i : i + 32]}
            for i in range(0, n, 32)]  # fmt: skip


def accuracy(preds: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (preds.argmax(-1) == labels).float().mean().item()


def test_mode_accuracy_cost_on_a_fine_tuned_classifier():
    torch.manual_seed(0)
    model = TinyClassifier(tiny())
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for batch in toy_batches(32 * 80, seed=1):
        loss = nn.functional.cross_entropy(model(batch), batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    eval_batches = toy_batches(256, seed=2)
    res = mode_accuracy_cost(model, eval_batches, accuracy, ["fp32", "int8_dynamic", "bf16_autocast", "bf16"])
    with torch.no_grad():
        model.eval()
        by_hand = accuracy(torch.cat([model(b) for b in eval_batches]), torch.cat([b["labels"] for b in eval_batches]))
    assert res["fp32"] == pytest.approx(by_hand) and res["fp32"] > 90  # it did learn
    drops = accuracy_drops(res)
    assert set(drops) == {"fp32", "int8_dynamic", "bf16_autocast", "bf16"} and drops["fp32"] == 0
    assert all(abs(d) <= 5 for d in drops.values()), res  # a trained tiny model barely moves in any mode
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(KeyError, match="reference mode"):
        accuracy_drops({"int8_dynamic": 90.0})


def test_mode_accuracy_cost_restores_the_training_flag():
    model = TinyClassifier(tiny()).train()
    mode_accuracy_cost(model, toy_batches(32, seed=0), accuracy, ["fp32"])
    assert model.training


def test_each_seed_times_its_own_pairs_wrapping_at_the_end_of_the_split(synthetic_world):
    from omegaconf import open_dict

    from bench.config.compose import compose_config

    cfg = compose_config(["task=stsb"])
    with open_dict(cfg):
        cfg.data = synthetic_world
    load = speed_job_module.load_pairs
    whole = load(cfg, "validation", None)
    assert load(cfg, "validation", 10) + load(cfg, "validation", 10, start=10) == whole[:20]  # seeds 0 and 1
    assert load(cfg, "validation", 10, start=len(whole) - 5) == whole[-5:] + whole[:5]
    assert load(cfg, "validation", None, start=7) == whole  # the whole split: no window
