"""HTML report: self-contained, numbers equal the store's, and rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

import recbench
from recbench.metrics import DEFAULT_METRICS
from recbench.store import Store
from recbench.store.diff import summary

from .helpers import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real ml-latest-small run (3 cheap algorithms, K = 5 and 10) in a fresh store."""
    data = tmp_path_factory.mktemp("data")
    res = recbench.compare(["popularity", "baseline", "random"], k=[5, 10], data_dir=data)
    assert res.run_id is not None
    return data, res.run_id


@pytest.fixture(scope="module")
def report(stored: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recbench.cli.app import main

    data, run_id = stored
    out = tmp_path_factory.mktemp("report") / "report.html"
    try:
        main(["-q", "--data-dir", str(data), "report", run_id, "-o", str(out)])
    except SystemExit as exc:
        assert not exc.code
    return out


class _Cells(HTMLParser):
    """Summary-table cells: (algorithm, metric) -> (shown text, data-value)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], tuple[str, float]] = {}
        self._cur: tuple[str, str, float] | None = None
        self._in_value = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "td" and a.get("data-metric"):
            self._cur = (
                a["data-algorithm"] or "",
                a["data-metric"] or "",
                float(a["data-value"] or "nan"),
            )
        if tag == "span" and a.get("class") == "v":
            self._in_value = True

    def handle_data(self, data: str) -> None:
        if self._in_value and self._cur is not None:
            algo, metric, value = self._cur
            self.cells[(algo, metric)] = (data.strip(), value)
            self._in_value = False


def _expected(stored: tuple[Path, str]) -> dict[tuple[str, str], float]:
    data, run_id = stored
    store = Store.in_data_dir(data)
    summ = summary(store.results(store.get(run_id)))
    return {
        (r.algorithm, r.metric if pd.isna(r.k) else f"{r.metric}@{int(r.k)}"): r.mean
        for r in summ.itertuples()
        if r.metric in DEFAULT_METRICS
    }


def test_report_is_self_contained_and_small(report: Path, stored: tuple[Path, str]) -> None:
    text = report.read_text()
    assert report.stat().st_size < 5_000_000
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|@import", text)
    assert "vegaEmbed" in text and stored[1] in text
    parser = _Cells()
    parser.feed(text)
    expected = _expected(stored)
    assert set(parser.cells) == set(expected)
    for key, (shown, value) in parser.cells.items():
        assert value == pytest.approx(expected[key], rel=1e-12, abs=1e-15)
        assert shown == f"{expected[key]:.4f}"


def test_report_of_two_runs_and_chart_files(
    stored: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, run_id = stored
    other = recbench.compare(["popularity"], k=[5, 10], data_dir=data)
    out = tmp_path / "two.html"
    res = run_cli(["report", run_id, other.run_id or "", "-o", str(out)], capsys, data_dir=data)
    assert res.code == 0, res.err
    html = out.read_text()
    assert html.count(run_id) >= 2 and (other.run_id or "") in html
    svg_dir = tmp_path / "charts"
    res = run_cli(["report", run_id, "--format", "svg", "-o", str(svg_dir)], capsys, data)
    assert res.code == 0, res.err
    files = sorted(svg_dir.glob("*.svg"))
    assert files and all(f.read_text().lstrip().startswith("<svg") for f in files)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (make browser installs it)")
def test_report_renders_in_headless_chromium(
    report: Path, stored: tuple[Path, str], tmp_path: Path
) -> None:
    assert CHROMIUM is not None
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=30000",
    ]
    dom = subprocess.run(
        [*base, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=300
    ).stdout
    errors = re.search(r'<pre id="report-errors">(.*?)</pre>', dom, re.S)
    assert errors is not None and errors.group(1).strip() == "", errors.group(1) if errors else dom
    n_charts = int(re.search(r'data-charts="(\d+)"', dom).group(1))  # type: ignore[union-attr]
    rendered = re.search(r'data-rendered="(\d+)"', dom)
    assert rendered is not None, "the charts never finished rendering"
    assert n_charts >= 5 and int(rendered.group(1)) == n_charts
    # every chart element holds a non-empty SVG with drawn marks
    chunks = dom.split('<div class="chart">')[1:]
    assert len(chunks) == n_charts
    for chunk in chunks:
        svg = chunk[: chunk.find("</svg>")]
        assert "<svg" in svg and re.search(r"<(path|rect|line|circle)\b", svg)
    parser = _Cells()
    parser.feed(dom)
    expected = _expected(stored)
    assert {k: v[1] for k, v in parser.cells.items()} == pytest.approx(expected)
    ms = re.search(r'data-render-ms="(\d+)"', dom)
    print(f"report rendered in {ms.group(1) if ms else '?'} ms (page time in Chromium)")
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, "--window-size=1400,2400", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=300,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
