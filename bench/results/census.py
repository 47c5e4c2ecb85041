"""The parameter census: every model config and every paper row with a `params` column.

Models are built on the meta device (no memory), so BERT-xlarge costs nothing. The paper
figures are rounded to their printed precision ("12M" = 11.5-12.5M; "1270M" = 1265-1275M), and a
figure matches when either counting convention rounds to it:
- with pooler: the whole encoder, as Hugging Face's `BertModel` / `AlbertModel` count it;
- without pooler: the ALBERT paper's BERT rows (334M, 1270M) and not-shared rows follow this.
Rows where the paper disagrees with the architecture itself are named in the spec
(`conf/report/parameters.yaml`, `disagreements`) and flagged in the report.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from bench.config.compose import compose_config, model_names
from bench.config.schema import encoder_config
from bench.io import CONF_DIR, PAPER_DIR, atomic_write_text
from lightning_modules.encoder import count_config_parameters, describe

SPEC = CONF_DIR / "report" / "parameters.yaml"


@dataclass
class Published:
    """A printed parameter figure: its value and the half-width of its rounding interval."""

    text: str
    value: float
    tolerance: float

    @classmethod
    def parse(cls, text: str, unit: str = "") -> Published:
        s = f"{str(text).strip()}{unit}"
        m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([KMB])", s)
        if not m:
            raise ValueError(f"cannot read a parameter figure from {text!r} (expected e.g. '12M')")
        digits, scale = m.group(1), {"K": 1e3, "M": 1e6, "B": 1e9}[m.group(2)]
        if "." in digits:
            step = 10 ** -len(digits.split(".")[1])
        else:  # trailing zeros are not significant: "1270M" is printed to the nearest 10M
            step = 10 ** (len(digits) - len(digits.rstrip("0"))) if digits.rstrip("0") else 1
        return cls(s, float(digits) * scale, step * scale / 2)

    def matches(self, count: int) -> bool:
        return abs(count - self.value) <= self.tolerance + 1e-9


def _row_overrides(src: dict, row: pd.Series) -> tuple[str | None, list[str]]:
    model = src["model"]
    if isinstance(model, dict):
        model = _lookup(src, model, row)
    overrides = [f"model.{k}={v}" for k, v in (src.get("fixed") or {}).items()]
    for key, rule in (src.get("set") or {}).items():
        overrides.append(f"model.{key}={_lookup(src, rule, row)}")
    return model, overrides


def _lookup(src: dict, rule: dict, row: pd.Series):
    col = rule["column"]
    if col not in row.index:
        raise KeyError(f"{src['csv']}: no column {col!r} (columns: {', '.join(row.index)})")
    value = row[col]
    if "map" in rule:
        if value not in rule["map"]:
            raise KeyError(f"{src['csv']}: column {col!r} value {value!r} has no entry in the spec's map")
        return rule["map"][value]
    if "times" in rule:
        value = int(value) * rule["times"]
    if "per" in rule:
        value = int(value) // rule["per"]
    return value


def _verdict(pub: Published | None, c: dict[str, int], note: str | None) -> tuple[str, str]:
    if pub is None:
        return "", "no published figure"
    with_p, without_p = c["total"], c["total"] - c["pooler"]
    hits = [name for name, n in (("with pooler", with_p), ("without pooler", without_p)) if pub.matches(n)]
    best = min((with_p, without_p), key=lambda n: abs(n - pub.value))
    rel = f"{(best - pub.value) / pub.value:+.1%}"
    if hits:
        return rel, "yes, " + (" and ".join(hits) if len(hits) < 2 else "either convention")
    if note:
        return rel, f"**no: the paper disagrees with the architecture** ({note})"
    return rel, "**NO**"


def census() -> tuple[pd.DataFrame, list[str]]:
    spec = yaml.safe_load(SPEC.read_text())
    rows, unexplained = [], []

    def add(source: str, label: str, model: str, overrides: list[str], published: Published | None, note):
        cfg = compose_config([f"model={model}", *overrides])
        enc = encoder_config(cfg.model)
        c = count_config_parameters(enc)
        rel, verdict = _verdict(published, c, note)
        if verdict.startswith("**NO"):
            unexplained.append(f"{source}: {label}")
        rows.append(
            {
                "source": source,
                "row": label,
                "architecture": describe(enc) + (f" V={enc.vocab_size}"),
                "published": published.text if published else "",
                "total (with pooler)": c["total"],
                "without pooler": c["total"] - c["pooler"],
                "embedding": c["embedding"],
                "non-embedding": c["non_embedding"],
                "rel. diff": rel,
                "matches": verdict,
            }
        )

    model_notes = (spec.get("models") or {}).get("disagreements") or {}
    for name in model_names():
        cfg = compose_config([f"model={name}"])
        pub = Published.parse(cfg.model.published_params) if cfg.model.published_params else None
        add(f"conf/model ({cfg.model.published_source or 'no paper figure'})", cfg.model.name, name, [], pub,
            model_notes.get(cfg.model.name))

    for src in spec["sources"]:
        path = PAPER_DIR / src["csv"]
        table = pd.read_csv(path, dtype=str)
        col = src.get("params_column", "params")
        if col not in table.columns:
            raise KeyError(f"{path}: no column {col!r}")
        notes = src.get("disagreements") or {}
        for _, row in table.iterrows():
            label = src["label"].format(**row.to_dict())
            model, overrides = _row_overrides(src, row)
            if model is None:  # not a BERT-family model (ELMo): kept as published only
                rows.append({"source": src["table"], "row": label, "architecture": "not a BERT-family encoder",
                             "published": str(row[col]) + src.get("params_unit", ""), "matches": "published only"})
                continue
            pub = Published.parse(row[col], src.get("params_unit", ""))
            add(src["table"], label, model, overrides, pub, notes.get(label))
    return pd.DataFrame(rows), unexplained


def _fmt(n) -> str:
    return "" if pd.isna(n) else f"{int(n):,}"


def render(df: pd.DataFrame) -> str:
    out = df.copy()
    for c in ("total (with pooler)", "without pooler", "embedding", "non-embedding"):
        out[c] = out[c].map(_fmt)
    out = out.fillna("")
    lines = [
        "# Parameters, counted exactly",
        "",
        "Every model config in `conf/model/` and every paper row with a parameter column, built on the",
        "meta device by the suite's one encoder (`lightning_modules/encoder.py`). Not a profile-dependent",
        "result: the counts are of the full-size architectures.",
        "",
        "Conventions. *total* is the whole encoder with its pooler, as Hugging Face's `BertModel`,",
        "`AlbertModel`, `RobertaModel` and `DistilBertModel` count it (DistilBERT has no pooler);",
        "pretraining heads are not counted (the MLM decoder is tied to the word embeddings).",
        "*embedding* is word + position + token-type embeddings, their LayerNorm and ALBERT's E->H",
        "projection. A published figure matches when a count rounds to it at its printed precision",
        "(\"12M\" = 11.5-12.5M, \"1270M\" = 1265-1275M). The papers are not consistent about the pooler:",
        "the ALBERT paper's BERT rows (334M, 1270M) and its not-shared ALBERT rows (89M, 108M) count",
        "without it, its shared rows (12M, 64M, 83M, 38M) with it; *matches* says which convention fits.",
        "",
        out.to_markdown(index=False),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write reports/parameters.md: exact counts beside the papers'.")
    ap.add_argument("--out", default="reports/parameters.md")
    args = ap.parse_args(argv)
    df, unexplained = census()
    path = atomic_write_text(Path(args.out), render(df))
    print(f"wrote {path} ({len(df)} rows)")
    if unexplained:
        print("published figures that match no convention and are not explained in the spec:", *unexplained, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
