"""The parameter census: every published params figure is matched or explained."""

import pandas as pd
import pytest

from bench.io import PAPER_DIR
from bench.results.census import Published, census, main, render


@pytest.mark.parametrize(
    "text, count, ok",
    [("12M", 11_683_584, True), ("12M", 11_092_992, False), ("1270M", 1_272_164_352, True),
     ("1270M", 1_276_360_704, False), ("110", 109_482_240, True), ("2.5M", 2_540_000, True)],
)
def test_published_rounding(text, count, ok):
    unit = "M" if text[-1].isdigit() else ""
    assert Published.parse(text, unit).matches(count) is ok


def test_bad_published_figure_is_named():
    with pytest.raises(ValueError, match="'twelve'"):
        Published.parse("twelve")


@pytest.fixture(scope="module")
def table():
    df, unexplained = census()
    assert unexplained == []
    return df


def _row(df, source_prefix, row):
    hit = df[df.source.str.startswith(source_prefix) & (df.row == row)]
    assert len(hit) == 1, (source_prefix, row)
    return hit.iloc[0]


@pytest.mark.parametrize(
    "source, row, convention",
    [
        ("ALBERT, effect of embedding size", "all-shared, E=128", "with pooler"),
        ("ALBERT, cross-layer", "E=768, shared-attention", "with pooler"),
        ("ALBERT, cross-layer", "E=128, shared-FFN", "with pooler"),
        ("ALBERT, BERT scaling", "BERT-xlarge (ALBERT authors' run)", "without pooler"),
    ],
)
def test_issue_examples_match(table, source, row, convention):
    assert _row(table, source, row)["matches"].startswith("yes") and convention in _row(table, source, row)["matches"]


def test_every_paper_params_row_is_covered(table):
    """Each CSV with a params column contributes every row; nothing is silently dropped."""
    for csv, col in [("albert_embedding_size.csv", "params"), ("albert_sharing.csv", "params"),
                     ("albert_depth.csv", "params"), ("albert_width.csv", "params"),
                     ("bert_scaling.csv", "params"), ("distilbert_speed.csv", "params_millions")]:
        published = pd.read_csv(PAPER_DIR / csv, dtype=str)[col]
        assert len(published) > 0
    # the *_released tables repeat rows of the paper tables, named by checkpoint
    n_paper_rows = sum(len(pd.read_csv(p)) for p in PAPER_DIR.glob("*.csv") if not p.stem.endswith("_released")
                       and {"params", "params_millions"} & set(pd.read_csv(p, nrows=0).columns))
    n_models = table.source.str.startswith("conf/model").sum()
    assert len(table) == n_paper_rows + n_models


def test_disagreements_are_named(table):
    flagged = table[table.matches.str.contains("disagrees", na=False)]
    assert set(flagged.row) == {"ALBERT-xxlarge", "H=4096", "H=6144"}


def test_report_written(tmp_path, table):
    out = tmp_path / "parameters.md"
    assert main(["--out", str(out)]) == 0
    text = out.read_text()
    assert text == render(table)
    assert "| ALBERT-base" in text and "11,683,584" in text and "with pooler" in text
