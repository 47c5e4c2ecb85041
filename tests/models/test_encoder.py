"""The one encoder: parameter counts per sharing mode (by formula), forward/backward, MLM head."""

import dataclasses

import pytest
import torch

from lightning_modules.encoder import (
    SHARING_MODES,
    Encoder,
    EncoderConfig,
    MLMHead,
    SentencePairHead,
    count_parameters,
)


def expected_counts(cfg: EncoderConfig) -> dict[str, int]:
    """Parameter counts derived by hand from the architecture, independently of the module tree."""
    V, E, H, I, L, P, T = (cfg.vocab_size, cfg.embedding_size, cfg.hidden_size, cfg.intermediate_size,
                           cfg.num_layers, cfg.max_position_embeddings + cfg.position_offset, cfg.type_vocab_size)
    embedding = V * E + P * E + T * E + 2 * E + ((E * H + H) if E != H else 0)
    attention = (H * 3 * H + 3 * H) + (H * H + H) + 2 * H
    ffn = (H * I + I) + (I * H + H) + 2 * H
    n_attn = 1 if cfg.sharing in ("attention", "all") else L
    n_ffn = 1 if cfg.sharing in ("ffn", "all") else L
    pooler = H * H + H if cfg.pooler else 0
    total = embedding + n_attn * attention + n_ffn * ffn + pooler
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding, "pooler": pooler}


@pytest.mark.parametrize("sharing", SHARING_MODES)
@pytest.mark.parametrize("E", [16, 32])
def test_counts_match_formula(tiny_cfg, sharing, E):
    cfg = dataclasses.replace(tiny_cfg, sharing=sharing, embedding_size=E)
    assert count_parameters(Encoder(cfg)) == expected_counts(cfg)


def test_full_size_counts_on_meta():
    """The published architectures, counted on the meta device (Hugging Face's own counts)."""
    with torch.device("meta"):
        bert = Encoder(EncoderConfig())
        albert = Encoder(EncoderConfig(vocab_size=30000, embedding_size=128, sharing="all", activation="gelu_new"))
        distil = Encoder(EncoderConfig(num_layers=6, type_vocab_size=0, pooler=False))
    assert count_parameters(bert)["total"] == 109_482_240 == expected_counts(bert.cfg)["total"]
    assert count_parameters(albert)["total"] == 11_683_584
    assert count_parameters(distil)["total"] == 66_362_880


def test_depth_does_not_grow_all_shared(tiny_cfg):
    counts = {L: count_parameters(Encoder(dataclasses.replace(tiny_cfg, sharing="all", num_layers=L)))["total"]
              for L in (1, 3, 6)}
    assert len(set(counts.values())) == 1


@pytest.mark.parametrize("sharing", SHARING_MODES)
def test_forward_backward_every_sharing_mode(tiny_cfg, sharing):
    torch.manual_seed(0)
    cfg = dataclasses.replace(tiny_cfg, sharing=sharing)
    enc = Encoder(cfg)
    ids = torch.randint(5, cfg.vocab_size, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 7:] = 0
    hidden, pooled = enc(ids, mask, torch.zeros_like(ids))
    assert hidden.shape == (2, 10, cfg.hidden_size) and pooled.shape == (2, cfg.hidden_size)
    (hidden.pow(2).mean() + pooled.sum()).backward()
    for name, p in enc.named_parameters():
        if name.startswith("embeddings.token_type"):
            continue  # only type 0 is used here
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # A shared block receives the gradient of every layer: with sharing the module count is 1.
    n_attn = 1 if sharing in ("attention", "all") else cfg.num_layers
    assert len(enc.attention) == n_attn


def test_padding_does_not_change_real_positions(tiny_cfg):
    torch.manual_seed(0)
    enc = Encoder(tiny_cfg).eval()
    ids = torch.randint(5, tiny_cfg.vocab_size, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = torch.tensor([[1] * 6 + [0] * 4])
    a, _ = enc(ids)
    b, _ = enc(padded, mask)
    torch.testing.assert_close(a, b[:, :6], atol=1e-5, rtol=1e-5)


def test_mlm_head_on_masked_positions_equals_full_head(tiny_cfg):
    torch.manual_seed(0)
    enc = Encoder(tiny_cfg).eval()
    head = MLMHead(tiny_cfg, enc.embeddings.word).eval()
    ids = torch.randint(5, tiny_cfg.vocab_size, (3, 12))
    hidden, _ = enc(ids)
    positions = torch.rand(3, 12) < 0.3
    positions[0, 0] = True
    full = head(hidden)
    sparse = head(hidden, positions)
    assert sparse.shape == (int(positions.sum()), tiny_cfg.vocab_size)
    torch.testing.assert_close(sparse, full[positions])
    # The decoder is tied: no second V x E matrix.
    assert head.word_embeddings.weight is enc.embeddings.word.weight
    assert SentencePairHead(tiny_cfg)(torch.zeros(2, tiny_cfg.hidden_size)).shape == (2, 2)


def test_distilbert_shape_has_no_token_types_or_pooler():
    enc = Encoder(EncoderConfig(vocab_size=50, embedding_size=16, hidden_size=16, num_layers=2, num_heads=2,
                                intermediate_size=32, type_vocab_size=0, pooler=False))
    hidden, pooled = enc(torch.randint(0, 50, (1, 5)))
    assert pooled is None and enc.embeddings.token_type is None and hidden.shape == (1, 5, 16)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"sharing": "foo"}, "sharing must be one of none, attention, ffn, all"),
        ({"activation": "relu"}, "activation must be one of gelu, gelu_new"),
        ({"hidden_size": 30, "num_heads": 4}, "hidden_size (30) must be divisible by num_heads (4)"),
        ({"num_layers": 0}, "num_layers must be positive"),
    ],
)
def test_bad_config_values_name_the_key(kwargs, needle):
    with pytest.raises(ValueError, match=None) as err:
        EncoderConfig(**kwargs)
    assert needle in str(err.value)


def test_unknown_key_is_named():
    with pytest.raises(ValueError, match="unknown model config key"):
        EncoderConfig.from_dict({"hidden_size": 32, "hiddn_size": 32})
