"""One encoder for the whole BERT family, readable top to bottom (nanoGPT style).

BERT, RoBERTa, DistilBERT and every ALBERT row are configurations of `Encoder`:
- `embedding_size` (E) below `hidden_size` (H) factorizes the embeddings (ALBERT) and adds a
  projection E -> H;
- `sharing` picks which blocks are shared across the L layers:
  none (BERT), attention, ffn, or all (ALBERT). A shared block is one module used L times, so
  `parameters()` counts it once, exactly as the papers count it.
Layers are post-LN (LayerNorm after each residual add), as in all five papers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

SHARING_MODES = ("none", "attention", "ffn", "all")
ACTIVATIONS = ("gelu", "gelu_new")


@dataclass
class EncoderConfig:
    vocab_size: int = 30522
    embedding_size: int = 768  # E
    hidden_size: int = 768  # H
    num_layers: int = 12  # L
    num_heads: int = 12  # A
    intermediate_size: int = 3072  # I
    max_position_embeddings: int = 512
    type_vocab_size: int = 2  # 0: no token-type embeddings (DistilBERT)
    sharing: str = "none"
    pooler: bool = True
    position_offset: int = 0  # RoBERTa numbers positions from padding_idx + 1 = 2
    activation: str = "gelu"  # ALBERT uses the tanh approximation, "gelu_new"
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    attention_dropout: float = 0.1
    pad_token_id: int = 0

    def __post_init__(self) -> None:
        if self.sharing not in SHARING_MODES:
            raise ValueError(f"sharing must be one of {', '.join(SHARING_MODES)}, got {self.sharing!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        for key in ("vocab_size", "embedding_size", "hidden_size", "num_layers", "num_heads", "intermediate_size"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.hidden_size % self.num_heads:  # after the signs: -64 % 2 == 0 would pass for the wrong reason
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads})"
            )

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model config key(s): {', '.join(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


class Embeddings(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        E = cfg.embedding_size
        self.word = nn.Embedding(cfg.vocab_size, E, padding_idx=cfg.pad_token_id)
        self.position = nn.Embedding(cfg.max_position_embeddings + cfg.position_offset, E)
        self.token_type = nn.Embedding(cfg.type_vocab_size, E) if cfg.type_vocab_size else None
        self.norm = nn.LayerNorm(E, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        # ALBERT's factorization: V x E embeddings, then one E x H projection.
        self.project = nn.Linear(E, cfg.hidden_size) if E != cfg.hidden_size else None
        self.position_offset = cfg.position_offset

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        T = input_ids.shape[1]
        pos = torch.arange(self.position_offset, T + self.position_offset, device=input_ids.device)
        x = self.word(input_ids) + self.position(pos)
        if self.token_type is not None:
            # RoBERTa has a single token type: its inputs carry no segment ids, whatever a pair encoding says.
            use_ids = token_type_ids is not None and self.token_type.num_embeddings > 1
            x = x + self.token_type(token_type_ids if use_ids else torch.zeros_like(input_ids))
        x = self.dropout(self.norm(x))
        return self.project(x) if self.project is not None else x


class Attention(nn.Module):
    """Multi-head self-attention with one fused QKV matmul, then residual + LayerNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        H = cfg.hidden_size
        self.num_heads = cfg.num_heads
        self.qkv = nn.Linear(H, 3 * H)
        self.out = nn.Linear(H, H)
        self.norm = nn.LayerNorm(H, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        self.attention_dropout = cfg.attention_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        B, T, H = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, H // self.num_heads).permute(2, 0, 3, 1, 4)
        p = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        y = y.transpose(1, 2).reshape(B, T, H)
        return self.norm(x + self.dropout(self.out(y)))


class FeedForward(nn.Module):
    """H -> I -> H with GELU, then residual + LayerNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.up = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.down = nn.Linear(cfg.intermediate_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        self.approximate = "tanh" if cfg.activation == "gelu_new" else "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(self.down(F.gelu(self.up(x), approximate=self.approximate))))


class Encoder(nn.Module):
    """Embeddings, L post-LN layers with a sharing mode, optional pooler.

    Returns (hidden states [B, T, H], pooled [B, H] or None).
    """

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        L = cfg.num_layers
        self.embeddings = Embeddings(cfg)
        # The sharing modes, in two lines: a shared block is built once and used by every layer.
        self.attention = nn.ModuleList(Attention(cfg) for _ in range(1 if cfg.sharing in ("attention", "all") else L))
        self.ffn = nn.ModuleList(FeedForward(cfg) for _ in range(1 if cfg.sharing in ("ffn", "all") else L))
        self.pooler = nn.Linear(cfg.hidden_size, cfg.hidden_size) if cfg.pooler else None
        self.apply(init_weights)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.embeddings(input_ids, token_type_ids)
        mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            # Additive mask [B, 1, 1, T]: padded keys get -inf-like scores.
            mask = torch.zeros(attention_mask.shape, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill(attention_mask == 0, torch.finfo(x.dtype).min)[:, None, None, :]
        for i in range(self.cfg.num_layers):
            x = self.attention[min(i, len(self.attention) - 1)](x, mask)
            x = self.ffn[min(i, len(self.ffn) - 1)](x)
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None
        return x, pooled


class MLMHead(nn.Module):
    """Transform (H -> E, GELU, LayerNorm) + decoder tied to the word embeddings.

    Called with `positions` it computes logits only on those (masked) positions: the
    full-vocabulary matmul is the costliest part of pretraining a small model.
    """

    def __init__(self, cfg: EncoderConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.transform = nn.Linear(cfg.hidden_size, cfg.embedding_size)
        self.norm = nn.LayerNorm(cfg.embedding_size, eps=cfg.layer_norm_eps)
        self.word_embeddings = word_embeddings  # tied: not a new parameter
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.approximate = "tanh" if cfg.activation == "gelu_new" else "none"
        init_weights(self.transform)

    def forward(self, hidden: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """hidden [B, T, H]; positions: bool mask [B, T] -> logits [N, V], else [B, T, V]."""
        if positions is not None:
            hidden = hidden[positions]
        h = self.norm(F.gelu(self.transform(hidden), approximate=self.approximate))
        return F.linear(h, self.word_embeddings.weight, self.bias)


class SentencePairHead(nn.Module):
    """NSP / SOP: a 2-way classifier on the pooled [CLS]."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.classifier = nn.Linear(cfg.hidden_size, 2)
        init_weights(self.classifier)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(pooled)


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialization: N(0, 0.02) weights, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def count_parameters(encoder: Encoder) -> dict[str, int]:
    """Total / embedding / non-embedding parameters of an encoder (pooler included in total).

    `embedding` is the embedding block (word, position, token-type, LayerNorm, projection E->H),
    the part that factorization shrinks; `non_embedding` is everything else.
    """
    total = sum(p.numel() for p in encoder.parameters())
    embedding = sum(p.numel() for p in encoder.embeddings.parameters())
    pooler = sum(p.numel() for p in encoder.pooler.parameters()) if encoder.pooler is not None else 0
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding, "pooler": pooler}


def count_config_parameters(cfg: EncoderConfig) -> dict[str, int]:
    """`count_parameters` of the encoder `cfg` describes, built on the meta device (no memory)."""
    with torch.device("meta"):
        return count_parameters(Encoder(cfg))


def forward_flops(cfg: EncoderConfig, seq_len: int, batch: int = 1) -> float:
    """Matmul FLOPs of one forward pass (2 per multiply-add), for achieved-GFLOP/s figures."""
    H, I, T = cfg.hidden_size, cfg.intermediate_size, seq_len
    per_layer = 2 * T * (4 * H * H + 2 * H * I) + 2 * 2 * T * T * H  # projections + QK^T and AV
    emb = 2 * T * cfg.embedding_size * H if cfg.embedding_size != H else 0
    return float(batch * (cfg.num_layers * per_layer + emb + (2 * H * H if cfg.pooler else 0)))


def describe(cfg: EncoderConfig) -> str:
    e = f" E={cfg.embedding_size}" if cfg.embedding_size != cfg.hidden_size else ""
    return f"L={cfg.num_layers} H={cfg.hidden_size} A={cfg.num_heads} I={cfg.intermediate_size}{e} sharing={cfg.sharing}"


__all__ = [
    "SHARING_MODES",
    "EncoderConfig",
    "Encoder",
    "MLMHead",
    "SentencePairHead",
    "count_parameters",
    "count_config_parameters",
    "forward_flops",
    "describe",
    "init_weights",
]
