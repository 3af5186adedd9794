"""The documentation site is tested: its examples run, its links resolve, it works in a browser.

- Every ``console`` block whose commands start with ``$ recbench`` runs (on the bundled
  ml-latest-small, in a fresh data directory per page) and its output is compared with the page,
  each number to the decimals the page shows; ``…`` on a page stands for output left out
  (timings, run ids). A block preceded by ``<!-- docs-test: skip "REASON" -->`` is skipped with
  that reason (data under ../shared, the network, a cluster).
- Every ``python`` block in the guides runs; a ``text`` block right after it is its printed output.
- An edited number makes the check fail (checked on copies of the pages with a digit changed).
- The built site's internal links and anchors resolve (no network), and headless Chromium opens
  the index and a guide without console errors and its search finds what it should.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.browser import Browser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HAS_MKDOCS = importlib.util.find_spec("mkdocs") is not None
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH = "100"  # the terminal width the pages' outputs were generated at

# --- parsing the pages ------------------------------------------------------------------------

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
SKIP = re.compile(r'<!--\s*docs-test:\s*skip\s+"([^"]+)"\s*-->')


@dataclass
class Block:
    page: str  # path relative to docs/
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None  # the reason given on the page, if skipped
    output: str | None = None  # for python: the text block that follows it

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def parse_blocks(page: str, text: str) -> list[Block]:
    """Fenced blocks of one page, with their skip markers and python outputs."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[j]):
            j += 1
        body = "\n".join(ln[len(indent) :] for ln in lines[i + 1 : j])
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        skip = SKIP.search(lines[k]) if k >= 0 else None
        blocks.append(Block(page, i + 1, lang, body, skip.group(1) if skip else None))
        i = j + 1
    for a, b in itertools.pairwise(blocks):
        between = lines[a.line + a.text.count("\n") + 1 : b.line - 1]
        if a.lang == "python" and b.lang == "text" and not "".join(between).strip():
            a.output = b.text
    return blocks


def pages() -> dict[str, str]:
    return {str(p.relative_to(DOCS)): p.read_text() for p in sorted(DOCS.rglob("*.md"))}


def all_blocks() -> list[Block]:
    return [b for page, text in pages().items() for b in parse_blocks(page, text)]


def console_steps(block: Block) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a console block; ``\\`` continues a command."""
    steps: list[tuple[str, list[str]]] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("$ "):
            cmd = lines[i][2:]
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            steps.append((cmd, []))
        elif steps:
            steps[-1][1].append(lines[i])
        i += 1
    return [(cmd, "\n".join(out)) for cmd, out in steps]


# --- comparing output with a page -------------------------------------------------------------

NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?"
TOKEN = re.compile(rf"({NUMBER})|(…)|(\s+)")


def _line_pattern(line: str) -> tuple[re.Pattern[str], list[str]]:
    """A regex for one shown line (numbers captured, ``…`` any text) and its shown numbers."""
    parts: list[str] = []
    shown: list[str] = []
    pos = 0
    for m in TOKEN.finditer(line):
        parts.append(re.escape(line[pos : m.start()]))
        if m.group(1):
            parts.append(f"({NUMBER})")
            shown.append(m.group(1))
        elif m.group(2):
            parts.append(".*?")
        else:
            parts.append(r"\s+")
        pos = m.end()
    parts.append(re.escape(line[pos:]))
    return re.compile("".join(parts)), shown


def _same_number(shown: str, actual: str) -> bool:
    """True when ``actual`` rounds to ``shown`` at the decimals ``shown`` has."""
    s, a = shown.replace(",", ""), actual.replace(",", "")
    if "e" in s.lower() or "e" in a.lower():
        return s == a
    decimals = len(s.split(".")[1]) if "." in s else 0
    quantum = Decimal(1).scaleb(-decimals)
    return Decimal(a).quantize(quantum, rounding=ROUND_HALF_UP) == Decimal(s)


def check_output(expected: str, actual: str) -> list[str]:
    """Differences between a page's shown output and the real one (empty: they agree).

    Blank lines are ignored; each shown line must match the next output line (a line of only
    ``…`` lets any number of output lines pass), words exactly and numbers to the decimals
    shown."""
    want = [ln.strip() for ln in expected.splitlines() if ln.strip()]
    got = [ln.strip() for ln in actual.splitlines() if ln.strip()]
    problems: list[str] = []
    j = 0
    gap = False
    for line in want:
        if line == "…":
            gap = True
            continue
        pattern, shown = _line_pattern(line)
        candidates = range(j, len(got)) if gap else range(j, min(j + 1, len(got)))
        hit = next((k for k in candidates if pattern.fullmatch(got[k])), None)
        if hit is None:
            near = got[j] if j < len(got) else "<end of output>"
            problems.append(f"shown {line!r}\n    output {near!r}")
            break
        found = pattern.fullmatch(got[hit])
        assert found is not None
        for s, a in zip(shown, found.groups(), strict=True):
            if not _same_number(s, a):
                problems.append(f"shown {s} but the output has {a}, in {got[hit]!r}")
        j, gap = hit + 1, False
    return problems


# --- running the examples ---------------------------------------------------------------------


def _env(data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RECBENCH_DATA=str(data),
        COLUMNS=WIDTH,
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        NO_COLOR="1",
    )
    env.pop("RECBENCH_AUTO_DOWNLOAD", None)
    return env


def run_command(cmd: str, cwd: Path) -> str:
    args = shlex.split(cmd)
    assert args[0] == "recbench", f"only recbench commands run in the docs test: {cmd}"
    res = subprocess.run(
        [sys.executable, "-m", "recbench", *args[1:]],
        cwd=cwd,
        env=_env(cwd / "data"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, f"$ {cmd}\nexit {res.returncode}\n{res.stderr[-2000:]}"
    return res.stdout


def run_python(code: str, cwd: Path) -> str:
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=_env(cwd / "data"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def _runnable(kind: str) -> list[Block]:
    return [b for b in all_blocks() if b.lang == kind and b.skip is None]


def _skipped() -> list[Block]:
    return [b for b in all_blocks() if b.lang in ("console", "python") and b.skip is not None]


Run = list[tuple[str, str, str]]  # (command or "python", shown output, real output)


def _run_page(page: str, text: str, cwd: Path) -> dict[str, Run | str]:
    """The runnable examples of one page, in order, in one working and data directory (so a
    page's later commands see its earlier ones): where -> steps, or the failure."""
    runs: dict[str, Run | str] = {}
    for block in parse_blocks(page, text):
        if block.skip is not None or block.lang not in ("console", "python"):
            continue
        try:
            if block.lang == "console":
                steps = [(c, shown, run_command(c, cwd)) for c, shown in console_steps(block)]
            else:
                steps = [("python", block.output or "", run_python(block.text, cwd))]
        except AssertionError as exc:
            runs[block.where] = str(exc)
            continue
        runs[block.where] = steps
    return runs


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run | str]:
    """Every runnable example, run once; pages run side by side on the machine's cores."""
    jobs = []
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for page, text in pages().items():
            if not any(
                b.skip is None and b.lang in ("console", "python") for b in parse_blocks(page, text)
            ):
                continue
            cwd = tmp_path_factory.mktemp("docs-" + page.replace("/", "-").removesuffix(".md"))
            jobs.append(pool.submit(_run_page, page, text, cwd))
    runs: dict[str, Run | str] = {}
    for job in jobs:
        runs.update(job.result())
    return runs


def _check_block(block: Block, runs: dict[str, Run | str]) -> None:
    result = runs[block.where]
    if isinstance(result, str):
        pytest.fail(f"{block.where}: {result}")
    for cmd, shown, out in result:
        problems = check_output(shown, out)
        assert not problems, f"{block.where}: {cmd}\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("block", _runnable("console"), ids=lambda b: b.where)
def test_console_example(block: Block, example_runs: dict[str, Run | str]) -> None:
    _check_block(block, example_runs)


@pytest.mark.parametrize("block", _runnable("python"), ids=lambda b: b.where)
def test_python_example(block: Block, example_runs: dict[str, Run | str]) -> None:
    _check_block(block, example_runs)


@pytest.mark.parametrize("block", _skipped(), ids=lambda b: b.where)
def test_skipped_example(block: Block) -> None:
    """Skipped examples show up in the test report with the page's reason."""
    pytest.skip(f"{block.where}: {block.skip}")


def test_every_shell_example_is_a_console_block() -> None:
    """A block that shows a recbench command (``$ recbench`` or a bare ``recbench ...`` line)
    is a console block, so it is run or skipped with a reason, never silently untested."""
    offenders = []
    for b in all_blocks():
        shows = any(ln.startswith("$ ") or ln.startswith("recbench ") for ln in b.text.splitlines())
        if shows and b.lang != "console":
            offenders.append(b.where)
        if b.lang == "console" and b.skip is None:
            cmds = [c for c, _ in console_steps(b)]
            if not cmds or any(not c.startswith("recbench ") for c in cmds):
                offenders.append(f"{b.where} (runs something other than recbench: skip it)")
    assert not offenders, offenders


def test_examples_cover_the_guides() -> None:
    """The runnable examples are spread over the getting-started page and the guides."""
    run = {b.page for b in _runnable("console") + _runnable("python")}
    assert "getting-started.md" in run
    assert len({p for p in run if p.startswith("guides/")}) >= 3, run


def _mutate(text: str, index: int) -> str:
    """``text`` with the last digit of its index-th number (with decimals) changed."""
    nums = [m for m in re.finditer(r"\d+\.\d+", text)]
    m = nums[index]
    digit = m.group()[-1]
    return text[: m.end() - 1] + ("1" if digit != "1" else "2") + text[m.end() :]


def test_an_edited_number_fails_the_check(example_runs: dict[str, Run | str]) -> None:
    """Every example that ran: a copy of its page with one number's last digit changed (the
    first and the last number shown) no longer agrees with the output."""
    checked = 0
    for where, steps in example_runs.items():
        if isinstance(steps, str):
            continue
        for _cmd, shown, out in steps:
            if check_output(shown, out) or not re.search(r"\d+\.\d+", shown):
                continue
            for index in (0, -1):
                edited = _mutate(shown, index)
                assert edited != shown
                assert check_output(edited, out), f"{where}: an edited number went unnoticed"
                checked += 1
    assert checked >= 4


def test_checker_rules() -> None:
    """The comparison itself: decimals shown, ellipsis, words, thousands."""
    out = "svd   0.87684 ±0.0267   1,234 users   12.51 s\nnext line"
    assert check_output("svd   0.8768 ±0.027   1,234 users   …", out) == []
    assert check_output("svd 0.877 ±0.03 1,234 users …", out) == []
    assert check_output("svd   0.8769 ±0.027   1,234 users   …", out)  # wrong rounding
    assert check_output("svd   0.8768 ±0.027   1,235 users   …", out)  # an integer
    assert check_output("als   0.8768 ±0.027   1,234 users   …", out)  # a word
    assert check_output("…\nnext line", out) == []
    assert check_output("next line\nsvd …", out)  # order matters
    assert check_output("svd …\nmissing", out)


# --- the built site ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAS_MKDOCS:
        pytest.skip("mkdocs is not installed (pip install 'recbench[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", DISABLE_MKDOCS_2_WARNING="true")
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return out


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(str(a[key]))
        for key in ("href", "src"):
            if a.get(key) and tag in ("a", "link", "img", "script"):
                self.links.append(str(a[key]))


def test_site_links_resolve(site: Path) -> None:
    """Every internal link and anchor of the built site points at something (no network)."""
    parsed: dict[Path, _Links] = {}
    for html in site.rglob("*.html"):
        p = _Links()
        p.feed(html.read_text())
        parsed[html] = p
    broken = []
    n = 0
    for html, p in parsed.items():
        for link in p.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # external: not checked (no network)
            base = site if parts.path.startswith("/") else html.parent  # 404.html: from the root
            path = unquote(parts.path).lstrip("/")
            target = (base / path).resolve() if parts.path else html
            if target.is_dir():
                target = target / "index.html"
            n += 1
            if not target.exists():
                broken.append(f"{html.relative_to(site)}: {link}")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else set()
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{html.relative_to(site)}: {link} (no such anchor)")
    assert n > 500
    assert not broken, broken


def test_site_has_generated_references(site: Path) -> None:
    """The CLI reference and the algorithm table come from the code, so every command and every
    registered algorithm is on them."""
    import typer

    from recbench.algorithms import plugins
    from recbench.cli.app import app

    cli = (site / "reference" / "cli.html").read_text()
    for name in typer.main.get_command(app).commands:  # type: ignore[attr-defined]
        assert f"recbench {name}" in cli, name
    table = (site / "reference" / "algorithm-table.html").read_text()
    for name in plugins.names():
        assert f'id="{name}"' in table, name


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


SEARCH_HITS = "[...document.querySelectorAll('.md-search-result__link')].map(a => a.href)"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (make browser installs it)")
def test_site_in_headless_chromium(served: str, tmp_path: Path) -> None:
    """The index and a guide open without console errors (screenshots of both are taken; with
    RECBENCH_DOCS_SCREENSHOTS=DIR they are kept there); the search finds significance, Dask and
    leave-one-out on the pages that explain them."""
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM, tmp_path / "profile")
    keep = os.environ.get("RECBENCH_DOCS_SCREENSHOTS")
    try:
        for page, title, shot in [
            ("index.html", "recbench", "index.png"),
            ("guides/trustworthy.html", "Trustworthy comparisons", "guide-trustworthy.png"),
        ]:
            browser.open(f"{served}/{page}")
            assert title in browser.js("document.querySelector('article h1').textContent")
            assert browser.js("document.querySelectorAll('.md-nav__link').length") > 20
            assert browser.errors() == [], page
            browser.screenshot(tmp_path / shot)
            assert (tmp_path / shot).stat().st_size > 20_000
            if keep:
                shutil.copy(tmp_path / shot, Path(keep) / shot)
        for query, page in [
            ("significance", "guides/trustworthy.html"),
            ("Dask", "guides/scale.html"),
            ("leave-one-out", "guides/sequences.html"),
        ]:
            browser.open(f"{served}/index.html?q={query}", ready=f"{SEARCH_HITS}.length > 0")
            hits = browser.js(SEARCH_HITS)
            assert any(f"/{page}" in h for h in hits), (query, hits)
            assert browser.errors() == [], query
    finally:
        browser.close()
