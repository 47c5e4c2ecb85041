"""Claims, within-noise marks and the row order against the paper (bench/results/report/claims.py) on
synthetic runs; every spec's claims validate and hold on the paper's own numbers; the index lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.results.report import SpecError, Table, build_table, judge, load_paper, load_spec, main, table_names
from bench.results.report.cells import as_number
from bench.results.report.render import read_verdicts, render_markdown
from bench.results.runs import read_runs
from tests.results.report_support import md_table, write_finetune_run

NOT_RESOLVED = "not resolved at tiny"
# MNLI per seed for each (E, sharing) row; 128/none has one seed, 128/all no run at all
CELLS = {(768, "none"): [80.0, 81.0, 82.0], (768, "all"): [70.0, 71.0, 72.0], (768, "ffn"): [60.0, 61.0, 62.0],
         (768, "attention"): [79.0, 83.0, 81.0], (128, "none"): [75.0]}
SPEC = """
title: claims test
runs: {group: claims_test}
rows: [{key: model.embedding_size, label: E}, {key: model.sharing, label: sharing}]
expect: [[768, none], [768, all], [768, ffn], [768, attention], [128, none], [128, all]]
columns:
  - {name: Params, params: params/total}
  - {name: MNLI, task: mnli, metrics: [mnli/acc_m]}
  - {name: Loss, task: mnli, metrics: [mnli/acc_m], better: lower}
claims:
"""
# (claim, expected verdict): each kind reproduced, contradicted and not resolved
CLAIMS = [
    ("{kind: better, row: [768, none], than: [768, all], column: MNLI}", "reproduced"),
    ("{kind: better, row: [768, all], than: [768, none], column: MNLI}", "contradicted"),
    ("{kind: better, row: [768, attention], than: [768, none], column: MNLI}", NOT_RESOLVED),  # overlapping
    ("{kind: better, row: [128, none], than: [768, all], column: MNLI}", NOT_RESOLVED),  # n=1
    ("{kind: better, row: [128, all], than: [768, all], column: MNLI}", NOT_RESOLVED),  # no run
    ("{kind: better, row: [768, all], than: [768, none], column: Loss}", "reproduced"),  # lower is better
    ("{kind: not_worse, row: [768, all], than: [768, none], column: MNLI, margin: 15}", "reproduced"),
    ("{kind: not_worse, row: [768, all], than: [768, none], column: MNLI, margin: 5}", "contradicted"),
    ("{kind: not_worse, row: [768, all], than: [768, none], column: MNLI, margin: 10}", NOT_RESOLVED),
    ("{kind: order, rows: [[768, ffn], [768, all], [768, none]], column: MNLI}", "reproduced"),
    ("{kind: order, rows: [[768, none], [768, all], [768, ffn]], column: MNLI}", "contradicted"),
    ("{kind: order, rows: [[768, all], [768, none], [768, attention]], column: MNLI}", NOT_RESOLVED),
    ("{kind: ratio_at_least, row: [768, all], than: [768, none], column: MNLI, ratio: 0.8}", "reproduced"),
    ("{kind: ratio_at_least, row: [768, all], than: [768, none], column: MNLI, ratio: 0.95}", "contradicted"),
    ("{kind: ratio_at_least, row: [768, all], than: [768, none], column: MNLI, ratio: 0.8765}", NOT_RESOLVED),
    ("{kind: ratio_at_most, row: [768, ffn], than: [768, none], column: MNLI, ratio: 0.8}", "reproduced"),
    ("{kind: ratio_at_most, row: [768, ffn], than: [768, none], column: MNLI, ratio: 0.7}", "contradicted"),
    ("{kind: ratio_at_most, row: [768, ffn], than: [768, none], column: MNLI, ratio: 0.753}", NOT_RESOLVED),
    # parameter counts are exact (480K at E=768, 410K at E=128): decided without noise, even at n=1
    ("{kind: ratio_at_most, row: [128, none], than: [768, none], column: Params, ratio: 0.9}", "reproduced"),
    ("{kind: ratio_at_most, row: [128, none], than: [768, none], column: Params, ratio: 0.8}", "contradicted"),
    ("{kind: better, row: [768, all], than: [[768, ffn], [768, attention]], column: [MNLI, Loss]}", "contradicted"),
    # all − none = −10, 95% CI −12.27 to −7.73: alone it contradicts a margin of 7.5; as one of two comparisons it
    # must hold at 97.5% (Bonferroni), CI −12.85 to −7.15, and does not
    ("{kind: not_worse, row: [768, all], than: [768, none], column: MNLI, margin: 7.5}", "contradicted"),
    ("{kind: not_worse, row: [768, all], than: [[768, none], [768, attention]], column: MNLI, margin: 7.5}",
     NOT_RESOLVED),
    # the same on a lower-is-better column (none is 10 worse), and for a ratio: ffn − 0.725 × none, 95% CI +0.22 to
    # +4.33 alone (contradicted: the ratio is above 0.725), 97.5% CI −0.35 to +4.90 as one of two (not resolved)
    ("{kind: not_worse, row: [768, none], than: [768, all], column: Loss, margin: 7.5}", "contradicted"),
    ("{kind: not_worse, row: [768, none], than: [[768, all], [768, attention]], column: Loss, margin: 7.5}",
     NOT_RESOLVED),
    ("{kind: ratio_at_most, row: [768, ffn], than: [768, none], column: MNLI, ratio: 0.725}", "contradicted"),
    ("{kind: ratio_at_most, row: [768, ffn], than: [[768, none], [768, attention]], column: MNLI, ratio: 0.725}",
     NOT_RESOLVED),
]


def _claims_table(tmp_path: Path) -> Table:
    claims = "".join(f"  - {{text: claim {i}, {c[1:]}\n" for i, (c, _) in enumerate(CLAIMS))
    (tmp_path / "claims_test.yaml").write_text(SPEC + claims)
    root = tmp_path / "runs"
    for (E, sharing), values in CELLS.items():
        for seed, v in enumerate(values):
            write_finetune_run(root, f"r{E}{sharing}{seed}", E=E, sharing=sharing, seed=seed, values=[v],
                               group="claims_test", t=seed)
    return build_table(load_spec("claims_test", tmp_path), read_runs(root))


def test_each_claim_kind_is_reproduced_contradicted_or_not_resolved(tmp_path):
    table = _claims_table(tmp_path)
    got = {v.text: v.verdict for v in table.verdicts}
    assert got == {f"claim {i}": want for i, (_, want) in enumerate(CLAIMS)}
    ev = {v.text: v.evidence for v in table.verdicts}
    assert ev["claim 0"].startswith("better: MNLI: 768/none − 768/all = +10.00, claimed > 0: 95% CI +7.")
    assert "(Welch, df 4.0, n=3/3)" in ev["claim 0"]
    assert "too few seeds to test (n=1/3)" in ev["claim 3"] and "no measured value for 128/all" in ev["claim 4"]
    assert "claimed ≥ −15.00" in ev["claim 6"] and "(lower is better)" in ev["claim 5"]
    assert "768/all / 768/none = 0.877, claimed ≥ 0.8: 95% CI of 768/all − 0.8×768/none" in ev["claim 12"]
    assert "(exact counts)" in ev["claim 18"]
    assert ev["claim 20"].startswith("better (4 comparisons: 2 reproduced, 2 contradicted, 0 not resolved): ")
    assert "95% CI −12.27 to −7.73 (Welch" in ev["claim 21"] and "Bonferroni" not in ev["claim 21"]
    assert "95% CI −12.27 to −7.73; 97.5% CI (Bonferroni, 2 comparisons) −12.85 to −7.15 (Welch" in ev["claim 22"]


def test_cells_within_noise_of_the_column_best_are_marked(tmp_path):
    table = _claims_table(tmp_path)
    md = render_markdown(table)
    rows = md_table(md)[1]
    assert rows[("768", "none")]["MNLI"] == "▲ 81.0 ± 2.5 (n=3)"  # the column's best
    assert rows[("768", "attention")]["MNLI"].startswith("≈ 81.0 ± ")  # overlaps the best: within noise
    assert rows[("768", "all")]["MNLI"] == "71.0 ± 2.5 (n=3)"  # clearly worse: no mark
    assert rows[("128", "none")]["MNLI"] == "? 75.0 (n=1)"  # one seed: not resolved
    assert rows[("768", "ffn")]["Loss"].startswith("▲ 61.0")  # lower is better there
    assert rows[("768", "none")]["Params"] == "0.48M"  # exact counts: no marks
    assert "`≈` = the difference from the best row is within noise (Welch's t-test, 95%" in md


def test_claim_lines_come_first_and_read_back(tmp_path):
    table = _claims_table(tmp_path)
    md = render_markdown(table)
    head = md[:md.index("Measured at")]
    assert head.count("\n- **") == len(CLAIMS)
    assert "- **reproduced**: claim 0 — better: MNLI:" in head
    assert read_verdicts(md) == {v.text: (v.verdict, v.evidence) for v in table.verdicts}


def test_row_order_against_the_paper(tmp_path):
    """Kendall's tau with three rows or more; with two, the sign and whether it is outside the noise."""
    table = _claims_table(tmp_path)
    none, ffn, att = ("768", "none"), ("768", "ffn"), ("768", "attention")
    table.spec["columns"][1]["paper"] = ["x"]
    table.paper_values = {none: {"MNLI": 3.0}, ffn: {"MNLI": 1.0}, att: {"MNLI": 2.0}}
    # measured 81, 61, 81 (a tie) against published 3, 1, 2: tau-b = 2 / sqrt(3 * 2); none and attention are
    # within noise, the two pairs with ffn outside it even at 98.3% (Bonferroni over 3), in the paper's order
    assert table_orderings(table) == ["MNLI: Kendall's τ = +0.82 over 3 rows (3 pairs the paper orders, each tested "
                                      "at 98.3% (Bonferroni over 3): 2 as the paper and 0 against it outside the "
                                      "noise, 1 within it): the pairs outside the noise agree with the paper"]
    table.paper_values = {none: {"MNLI": 3.0}, ffn: {"MNLI": 4.0}, att: {"MNLI": 2.0}}
    assert table_orderings(table)[0].endswith("0 as the paper and 2 against it outside the noise, 1 within it): "
                                              "the pairs outside the noise disagree with the paper")
    table.paper_values = {none: {"MNLI": 1.0}, ffn: {"MNLI": 2.0}, att: {"MNLI": 3.0}, ("128", "none"): {"MNLI": 0.0}}
    assert table_orderings(table)[0].endswith("1 as the paper and 1 against it outside the noise, 1 within it, 3 with "
                                              "a row of fewer than two seeds): mixed")
    table.paper_values = {none: {"MNLI": 1.0}, att: {"MNLI": 2.0}, ("128", "none"): {"MNLI": 2.0}}
    assert table_orderings(table)[0].endswith("(2 pairs the paper orders, each tested at 95.0%: 0 as the paper and 0 "
                                              "against it outside the noise, 1 within it, 1 with a row of fewer than "
                                              "two seeds): within noise, not resolved")  # the paper's tie is no pair
    table.paper_values = {none: {"MNLI": 1.0}, ("128", "none"): {"MNLI": 2.0}, att: {"MNLI": 2.0}}
    kept = table.samples[none]["MNLI"]
    table.samples[none]["MNLI"] = {"0": 80.0}  # one seed
    assert table_orderings(table)[0].endswith("with a row of fewer than two seeds): noise not resolved (too few seeds)")
    table.paper_values = {none: {"MNLI": 2.0}, ("128", "none"): {"MNLI": 2.0}, att: {"MNLI": 2.0}}
    assert table_orderings(table)[0].endswith("over 3 rows: the paper orders no pair")
    table.samples[none]["MNLI"] = kept
    table.paper_values = {none: {"MNLI": 3.0}, ffn: {"MNLI": 1.0}}
    assert table_orderings(table)[0].endswith("(95% CI +17.73 to +22.27): agrees with the paper")
    table.paper_values = {none: {"MNLI": 1.0}, ffn: {"MNLI": 3.0}}
    assert table_orderings(table)[0].endswith("disagrees with the paper")
    table.paper_values = {none: {"MNLI": 1.0}, att: {"MNLI": 3.0}}
    assert table_orderings(table)[0].endswith("within noise, not resolved")


def table_orderings(table: Table) -> list[str]:
    from bench.results.report import orderings

    return orderings(table)


ACCURACY_TABLES = ["albert_depth", "albert_embedding_size", "albert_sharing", "albert_width", "bert_scaling",
                   "distilbert_glue", "roberta_batch_size", "roberta_data_steps", "roberta_masking", "roberta_nsp",
                   "wwm_chinese", "distilbert_speed"]


def test_every_paper_table_has_claims_that_validate():
    specs = {name: load_spec(name) for name in table_names()}  # every spec loads: its claims validate
    for name in ACCURACY_TABLES:
        assert specs[name]["claims"], f"conf/report/{name}.yaml has no claims"


def test_claims_hold_on_the_papers_own_numbers():
    """Each claim, judged on the published values (two seeds 0.01 apart), is reproduced: the claims say
    what the paper's table shows."""
    for name in ACCURACY_TABLES:
        spec = load_spec(name)
        paper = load_paper(spec)
        if paper is None:
            continue
        labels = [r["label"] for r in spec["rows"]]
        values, samples = {}, {}
        for _, prow in paper.iterrows():
            lab = tuple(prow[c] for c in labels)
            values[lab] = {c["name"]: as_number(prow[c["paper"][0]]) if c["paper"] else None for c in spec["columns"]}
            samples[lab] = {k: {"0": v - 0.01, "1": v + 0.01} for k, v in values[lab].items() if v is not None}
        table = Table(spec, "paper", labels, [], [], [], values, values, samples=samples)
        for claim in spec["claims"]:
            v = judge(table, claim)
            assert v.verdict == "reproduced", f"{name}: {v.text}: {v.evidence}"


@pytest.mark.parametrize(("claim", "error"), [
    ("{text: t, kind: better, row: 9, than: 1, column: MNLI}", r"claims\[0\]: row '9' is not a measured row label"),
    ("{text: t, kind: better, row: 1, than: 1, column: MNL}", r"claims\[0\]: column 'MNL' is not a column"),
    ("{text: t, kind: beter, row: 1, than: 1, column: MNLI}", r"claims\[0\]: kind 'beter': use one of"),
    ("{text: t, kind: ratio_at_least, row: 1, than: 1, column: MNLI}", r"kind ratio_at_least needs key\(s\) \['ratio'\]"),
    ("{text: t, kind: order, rows: [1], column: MNLI}", "order needs rows: at least two"),
    ("{text: t, kind: better, row: 1, than: 2, column: R}", "is a ratio_of column"),
    ("{text: t, kind: better, row: 1, than: 2, column: MNLI, margin: -1}", "margin must be a number >= 0"),
    ("{text: t, kind: better, row: 1, than: 2, column: MNLI, colum: X}", r"unknown key\(s\) \['colum'\]"),
    ("{text: t, kind: better, row: 1, than: 2, column: MNLI, ratio: 2}", r"key\(s\) \['ratio'\] do not apply to kind better"),
])
def test_claim_errors_name_the_spec_file_and_key(tmp_path, claim, error):
    (tmp_path / "bad.yaml").write_text(
        "title: t\nrows: [{key: model.num_layers, label: layers}]\nexpect: [1, 2]\n"
        "columns: [{name: MNLI, metrics: [mnli/acc_m]}, {name: R, ratio_of: MNLI, to_row: 1}]\n"
        f"claims: [{claim}]\n")
    with pytest.raises(SpecError, match=rf"bad\.yaml: .*{error}"):
        load_spec("bad", tmp_path)


def test_index_lists_every_claim_with_its_verdict(tmp_path):
    from bench.benchmarks.report import make_runs

    make_runs(tmp_path / "runs", n=60)
    out = tmp_path / "reports"
    assert main(["experiment=roberta_masking,distilbert_speed", f"runs={tmp_path / 'runs'}", f"out={out}",
                 "publish=false"]) == 0
    index = (out / "README.md").read_text()
    verdicts = index[index.index("## Verdicts"):]
    rows = [line for line in verdicts.splitlines() if line.startswith("| ") and "---" not in line]
    for name in table_names():
        for claim in load_spec(name)["claims"]:
            line = next((r for r in rows if f"| {claim['text']} |" in r), None)
            assert line is not None, f"{name}: {claim['text']} not in the index"
            if name in ("roberta_masking", "distilbert_speed"):  # generated: the report's verdict
                verdict, evidence = read_verdicts((out / f"{name}.md").read_text())[claim["text"]]
                assert line.startswith(f"| [{name}]({name}.md) |") and f"| {verdict} |" in line
            else:
                assert line.startswith(f"| {name} |") and line.endswith("| no verdict yet | no report yet |")


def test_mean_of_cell_gets_its_interval_over_the_seeds_common_to_its_inputs():
    from bench.results.report.cells import Cell, mean_cell, seed_cell

    a = seed_cell([70.0], {"0": 60.0, "1": 80.0}, 1)
    b = seed_cell([50.0], {"0": 40.0, "1": 60.0}, 1)
    col = {"name": "Avg", "mean_of": ["A", "B"], "digits": 1}
    avg = mean_cell({"A": a, "B": b}, col)  # per seed: (60+40)/2 = 50, (80+60)/2 = 70
    assert avg.samples == {"0": 50.0, "1": 70.0} and avg.text == "60.0 ± 127.1 (n=2)"
    three = seed_cell([70.0], {"0": 60.0, "1": 80.0, "2": 70.0}, 1)
    lost = seed_cell([50.0], {"0": 40.0, "1": 60.0}, 1)  # seed 2's job failed
    avg = mean_cell({"A": three, "B": lost}, col)  # seeds 0 and 1 only, flagged
    assert avg.samples == {"0": 50.0, "1": 70.0} and avg.text == "60.0 ± 127.1 (n=2)*" and avg.flagged
    other = seed_cell([50.0], {"2": 40.0, "3": 60.0}, 1)
    avg = mean_cell({"A": a, "B": other}, col)  # no common seed: the mean of the means, no interval, flagged
    assert avg.text == "60.0*" and avg.samples is None and avg.flagged
    one = seed_cell([50.0], {"1": 60.0, "2": 40.0}, 1)
    assert mean_cell({"A": a, "B": one}, col).text == "60.0*"  # one common seed of three: no n=1 cell
    single = seed_cell([60.0], {"0": 60.0}, 1)
    assert mean_cell({"A": single, "B": single}, col).text == "60.0 (n=1)"  # one seed everywhere: nothing lost
    assert mean_cell({"A": a, "B": Cell("missing")}, col).text == "n/a"
