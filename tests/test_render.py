"""Rendering: output-format records, segments in every format, escaped labels, full split spec."""

from __future__ import annotations

import io
import json
import re

import jsonschema
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from recbench.errors import UsageError
from recbench.evaluation import EvalConfig
from recbench.executors import run_cells
from recbench.experiment import AlgoSpec, ExperimentResult
from recbench.metrics import metric_key_pattern
from recbench.render import (
    FORMAT_BY_SUFFIX,
    JSON_SCHEMA,
    OUTPUT_FORMAT_NAMES,
    OUTPUT_FORMATS,
    caption,
    format_help,
    render_text,
    rich_table,
    to_json,
)
from recbench.split import parse_split
from tests.test_split import make_dataset

LABEL = "baseline[reg_i=5]"


def synthetic():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    users, items = [], []
    for u in range(60):
        chosen = rng.choice(40, size=int(rng.integers(3, 30)), replace=False)
        users += [u] * len(chosen)
        items += chosen.tolist()
    # users and items with one rating each: those held out need the fallback estimate
    users += list(range(100, 110))
    items += list(range(50, 60))
    n = len(users)
    return make_dataset(users, items, rng.integers(1, 6, n), rng.integers(0, 10**6, n))


def run(split: str) -> ExperimentResult:
    algos = [AlgoSpec("popularity"), AlgoSpec("baseline", {"reg_i": 5.0}, variant="reg_i=5")]
    return run_cells(synthetic(), parse_split(split), algos, 0, EvalConfig(ks=(5,)))


@pytest.fixture(scope="module")
def res() -> ExperimentResult:
    return run("holdout:0.3")


def plain(renderable) -> str:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    Console(file=buf, width=250, no_color=True, highlight=False).print(renderable)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# format records
# --------------------------------------------------------------------------------------------


def test_format_names_and_suffixes_derive_from_the_records() -> None:
    assert OUTPUT_FORMAT_NAMES == ("table", "json", "csv", "markdown", "latex")
    assert tuple(f.name for f in OUTPUT_FORMATS) == tuple(OUTPUT_FORMAT_NAMES)
    assert {f.suffix: f.name for f in OUTPUT_FORMATS} == FORMAT_BY_SUFFIX
    assert FORMAT_BY_SUFFIX[".md"] == "markdown" and FORMAT_BY_SUFFIX[".tex"] == "latex"
    assert len(FORMAT_BY_SUFFIX) == len(OUTPUT_FORMATS)
    for f in OUTPUT_FORMATS:
        assert f.name in format_help() and f.suffix in format_help() and f.help


def test_unknown_format_is_a_usage_error_with_a_suggestion(res: ExperimentResult) -> None:
    with pytest.raises(UsageError, match="did you mean 'json'"):
        render_text(res, "jsn")


@pytest.mark.parametrize("fmt", OUTPUT_FORMAT_NAMES)
def test_every_format_carries_the_protocol(res: ExperimentResult, fmt: str) -> None:
    text = render_text(res, fmt)
    if fmt == "csv":  # tidy rows: the protocol travels as the split spec and seed columns
        assert "holdout:0.3" in text
    elif fmt == "latex":
        assert r"random holdout: 30\% of all ratings held out" in " ".join(text.split())
    else:
        assert "random holdout: 30% of all ratings held out" in " ".join(text.split())


# --------------------------------------------------------------------------------------------
# --by-segment in every format
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", OUTPUT_FORMAT_NAMES)
def test_segments_appear_in_every_format(res: ExperimentResult, fmt: str) -> None:
    assert len(res.segments)
    with_seg = render_text(res, fmt, by_segment=True)
    for seg in set(res.segments["segment"]):
        assert seg in with_seg, (fmt, seg)
    if fmt != "json":  # the JSON document always carries its "segments" list
        assert "history 1-5" not in render_text(res, fmt)


def test_csv_segment_rows_are_tidy_result_rows(res: ExperimentResult) -> None:
    frame = pd.read_csv(io.StringIO(render_text(res, "csv", by_segment=True)))
    overall = frame[frame["segment"].isna()]
    seg = frame[frame["segment"].notna()]
    assert len(overall) == len(res.results)
    assert set(seg["segment"]) == set(res.segments["segment"])
    assert not seg["metric"].isin(["n_users", "n_test"]).any()
    ndcg = seg[(seg["metric"] == "ndcg") & (seg["algorithm"] == "popularity")]
    assert (ndcg["k"] == 5).all() and ndcg["n_users"].notna().all()
    assert set(frame["split"]) == {"holdout:0.3"}


# --------------------------------------------------------------------------------------------
# labels and split spec
# --------------------------------------------------------------------------------------------


def test_labels_with_brackets_survive_rich_markup(res: ExperimentResult) -> None:
    assert LABEL in res.algorithms
    lines = caption(res)
    assert any(LABEL in line for line in lines)  # the fallback line names it
    text = plain(rich_table(res))
    assert text.count(LABEL) >= 2  # its row and the caption
    for fmt in ("table", "markdown"):
        assert LABEL in render_text(res, fmt, by_segment=True)
    assert r"baseline[reg\_i=5]" in render_text(res, "latex")


def test_table_title_names_the_command(res: ExperimentResult) -> None:
    assert "recbench evaluate ·" in plain(rich_table(res, command="evaluate"))
    assert "recbench compare ·" in plain(rich_table(res))


@pytest.mark.parametrize("split", ["holdout:0.3", "kfold:3"])
def test_csv_and_json_rows_keep_the_full_split_spec(split: str) -> None:
    res = run(split)
    frame = pd.read_csv(io.StringIO(render_text(res, "csv")))
    assert set(frame["split"]) == {split}
    assert sorted(set(frame["fold"])) == list(range(parse_split(split).n_folds))
    doc = json.loads(render_text(res, "json"))
    assert {r["split"] for r in doc["rows"]} == {split}
    assert doc["protocol"]["split"] == split


def test_json_validates_and_its_key_pattern_comes_from_the_metric_table(
    res: ExperimentResult,
) -> None:
    doc = to_json(res)
    jsonschema.validate(doc, JSON_SCHEMA)
    metrics = JSON_SCHEMA["properties"]["algorithms"]["items"]["properties"]["metrics"]
    assert list(metrics["patternProperties"]) == [metric_key_pattern()]
    for algo in doc["algorithms"]:
        for key in algo["metrics"]:
            assert re.match(metric_key_pattern(), key)


def test_a_narrow_terminal_never_cuts_a_number(res: ExperimentResult) -> None:
    """rich crops a table wider than the console; print_table widens instead of cutting digits."""
    from recbench.render import print_table, rich_table

    table = rich_table(res)
    buf = io.StringIO()
    print_table(Console(file=buf, width=40, no_color=True), table)
    text = buf.getvalue()
    assert "…" not in text
    summary = res.summary()
    for value in summary.loc[summary["metric"] == "ndcg", "mean"].dropna():
        assert f"{value:.4f}" in text
