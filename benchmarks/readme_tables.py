"""Regenerate the README's and the docs' tables from the commands behind them
(``make readme-tables``).

Each block between ``<!-- readme-tables:NAME begin -->`` and ``<!-- readme-tables:NAME end -->``
in the files of ``TARGETS`` is rewritten from a fresh run of the commands it shows, so the
figures cannot drift from what recbench computes:

- ``demo``: the Quick start table (``make demo``: every family on ml-latest-small), in README.md
  and docs/getting-started.md;
- ``parity``: the Surprise parity table (5-fold SVD and biases on ml-100k), in
  docs/results/surprise.md;
- ``stats``: the statistics example's table, Holm-adjusted p-values and the ``--repeats 5``
  interval and test (ml-100k), in docs/guides/trustworthy.md.

ml-100k is read from ``../shared/datasets/ml-100k/u.data`` relative to the repository (it is
never committed); without it the ml-100k blocks are skipped with a message. ``--only NAME``
regenerates one block. Takes a few minutes on two cores (EASE's fit dominates).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: the files holding each block (each exactly once)
TARGETS: dict[str, tuple[str, ...]] = {
    "demo": ("README.md", "docs/getting-started.md"),
    "parity": ("docs/results/surprise.md",),
    "stats": ("docs/guides/trustworthy.md",),
}
ML100K = REPO.parent / "shared" / "datasets" / "ml-100k" / "u.data"
#: how the README writes the ml-100k data options (the file is ml-100k's u.data)
ML100K_ARGS = ["--columns", "user,item,rating,timestamp", "--sep", "\\t"]
ML100K_SHOWN = "--dataset ml-100k/u.data --columns user,item,rating,timestamp --sep '\\t'"
DEMO_ALGOS = "random,popularity,baseline,content,user-knn,svd,als,ease,hybrid"
STATS_ALGOS = "ease,item-knn,user-knn,als,popularity"
STATS_SPLIT = "user-holdout:0.25"
BEYOND = ("coverage", "gini", "novelty", "arp", "aplt", "ild", "personalisation")
#: column titles and number formats of the beyond-accuracy table
BEYOND_COLUMNS = {"arp": ("ARP", ".1f"), "novelty": ("novelty", ".3f"), "aplt": ("APLT", ".4f")}
BEYOND_COLUMNS |= {"ild": ("ILD", ".4f")}
#: Surprise's README figures (RMSE / MAE, 5-fold on ml-100k), for the parity table
SURPRISE = {"svd": "0.934 / 0.737", "baseline": "0.944 / 0.748"}
WIDTH = 100  # caption lines are wrapped to the README's line length


# --------------------------------------------------------------------------- renderers (pure)


def replace_block(text: str, name: str, body: str, where: str = "README.md") -> str:
    """``text`` (the file ``where``) with the block ``name`` between its marker comments
    replaced by ``body``."""
    begin, end = f"<!-- readme-tables:{name} begin -->", f"<!-- readme-tables:{name} end -->"
    pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
    if len(pattern.findall(text)) != 1:
        raise SystemExit(f"error: {where} needs exactly one {begin} ... {end} block")
    return pattern.sub(lambda _: f"{begin}\n{body.rstrip()}\n{end}", text)


def table_lines(stdout: str) -> list[str]:
    """The table of ``recbench compare``'s text output: header, rule and rows."""
    lines = [ln.rstrip() for ln in stdout.splitlines()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("algorithm"))
    stop = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:stop]


def without_timings(lines: list[str]) -> list[str]:
    """The table lines cut before the ``fit s`` / ``score s`` columns (seconds differ from run
    to run and machine to machine; the statistics example is about the metrics)."""
    cut = lines[0].find("   fit s")
    return [ln[:cut].rstrip() for ln in lines] if cut > 0 else lines


def _cell(doc: dict[str, Any], algo: str, key: str) -> dict[str, Any]:
    return next(a for a in doc["algorithms"] if a["name"] == algo)["metrics"][key]


def _p(x: float) -> str:
    return f"{x:.2g}" if x >= 1e-3 else f"{x:.1e}".replace("e-0", "e-")


def _signed(x: float) -> str:
    return f"{x:.3f}".replace("-", "−")


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False)


def demo_block(stdout: str) -> str:
    """The Quick start demo: the table and its caption as ``make demo`` prints them."""
    lines = [ln.rstrip() for ln in stdout.splitlines() if not ln.startswith("wrote ")]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "```\n" + "\n".join(lines) + "\n```"


def parity_block(doc: dict[str, Any]) -> str:
    """Markdown table: RMSE and MAE ± the half-width of their interval, against Surprise."""
    kinds = sorted(
        {c["ci"]["kind"] for a in doc["algorithms"] for c in a["metrics"].values() if c.get("ci")}
    )
    rows = [
        "| algorithm | RMSE (recbench) | MAE (recbench) | Surprise README |",
        "|---|---:|---:|---|",
    ]
    for a in doc["algorithms"]:
        cells = []
        for key in ("rmse", "mae"):
            c = a["metrics"][key]
            ci = c.get("ci")
            half = f" ± {(ci['high'] - ci['low']) / 2:.4f}" if ci and ci["low"] is not None else ""
            cells.append(f"{c['mean']:.4f}{half}")
        rows.append(f"| {a['name']} | {cells[0]} | {cells[1]} | {SURPRISE.get(a['name'], '')} |")
    return "\n".join(rows) + f"\n\n±: half-width of the interval, {'; '.join(kinds)}."


def beyond_table(doc: dict[str, Any]) -> list[str]:
    """Markdown rows of the beyond-accuracy metrics @10, one row per algorithm."""
    head = [BEYOND_COLUMNS.get(m, (m, ".4f"))[0] for m in BEYOND]
    rows = [f"| algorithm | {' | '.join(head)} |", "|---|" + "---:|" * len(BEYOND)]
    for a in doc["algorithms"]:
        cells = [
            format(a["metrics"][f"{m}@10"]["mean"], BEYOND_COLUMNS.get(m, (m, ".4f"))[1])
            for m in BEYOND
        ]
        rows.append(f"| {a['name']} | {' | '.join(cells)} |")
    return rows


def stats_block(
    table: dict[str, Any],
    stdout: str,
    wilcoxon: dict[str, Any],
    repeats: dict[str, Any],
    beyond: dict[str, Any] | None = None,
) -> str:
    """The statistics section's example: the table, the caption's interval and test lines, the
    Holm-adjusted p-values on NDCG@10, Wilcoxon (Pratt) on R@10, the ``--repeats`` run and the
    beyond-accuracy table."""
    base = table["statistics"]["baseline"]
    others = [a["name"] for a in table["algorithms"] if a["name"] != base]
    out = [
        f"`recbench compare {ML100K_SHOWN} --split {STATS_SPLIT} --algos {STATS_ALGOS} "
        f"--baseline {base}`:",
        "",
        "```",
        *without_timings(table_lines(stdout)),
        "",
        *[w for note in table["statistics"]["notes"][:2] for w in _wrap(note)],
        "```",
        "",
    ]
    parts = []
    for algo in others:
        comp = _cell(table, algo, "ndcg@10")["comparison"]
        text = f"{algo} {_p(comp['p_adjusted'])}"
        if algo == "als":
            text += (
                f" (mean difference {_signed(comp['mean_diff'])}, 95% BCa interval "
                f"[{_signed(comp['diff_low'])}, {_signed(comp['diff_high'])}])"
            )
        parts.append(text)
    w = {a: _cell(wilcoxon, a, "recall@10")["comparison"] for a in others}
    out += _wrap(
        f"Holm-adjusted p on NDCG@10 against {base.upper()} (randomization test): "
        f"{', '.join(parts)}. With `--test wilcoxon` (Pratt's zeros), R@10 against "
        f"{base.upper()}: " + ", ".join(f"{a} {_p(c['p_adjusted'])}" for a, c in w.items()) + "."
    )
    out.append("")
    rows = repeats["rows"]
    ease = _cell(repeats, base, "ndcg@10")
    ci = ease["ci"]
    per_seed: dict[int, list[float]] = {}
    for r in rows:
        if r["algorithm"] == base and r["metric"] == "ndcg" and r["k"] == 10:
            per_seed.setdefault(int(r["seed"]), []).append(float(r["value"]))
    seeds = ", ".join(f"{sum(v) / len(v):.4f}" for _, v in sorted(per_seed.items()))
    single = _cell(table, base, "ndcg@10")["ci"]
    rep_others = [a["name"] for a in repeats["algorithms"] if a["name"] != base]
    comps = [_cell(repeats, a, "ndcg@10")["comparison"] for a in rep_others]
    test_text = "; ".join(
        f"{a} against {base.upper()}: mean difference {_signed(c['mean_diff'])}, interval "
        f"[{_signed(c['diff_low'])}, {_signed(c['diff_high'])}], p {_p(c['p'])}"
        for a, c in zip(rep_others, comps, strict=True)
    )
    out += _wrap(
        f"With `--repeats {repeats['statistics']['repeats']} --algos "
        f"{','.join(a['name'] for a in repeats['algorithms'])}` {base.upper()}'s NDCG@10 is "
        f"{ease['mean']:.4f} ±{(ci['high'] - ci['low']) / 2:.4f}, {ci['kind']} "
        f"[{ci['low']:.4f}, {ci['high']:.4f}] (per repeat {seeds}), against ±"
        f"{(single['high'] - single['low']) / 2:.4f} ({single['kind']}) on one split; the plain "
        f"t over the repeats would claim ±{_plain_half(list(per_seed.values())):.4f}. The paired "
        f"test is the corrected t too: {test_text}."
    )
    if beyond is not None:
        names = ",".join(a["name"] for a in beyond["algorithms"])
        out += [
            "",
            *_wrap(
                f"Beyond accuracy @10 (`--algos {names} --metrics {','.join(BEYOND)} --k 10`; "
                "co-occurrence ILD: `u.data` alone has no genres):"
            ),
            "",
            *beyond_table(beyond),
        ]
    return "\n".join(out)


def _plain_half(groups: list[list[float]]) -> float:
    """Half-width of the uncorrected 95% t-interval over the repeat means (for contrast)."""
    from scipy import stats as sps

    means = [sum(g) / len(g) for g in groups]
    n = len(means)
    mean = sum(means) / n
    sd = (sum((m - mean) ** 2 for m in means) / (n - 1)) ** 0.5
    return float(sps.t.ppf(0.975, n - 1) * sd / n**0.5)


# --------------------------------------------------------------------------- runs


def compare(args: list[str], tmp: Path, name: str) -> tuple[dict[str, Any], str]:
    """Run ``recbench compare ARGS`` (no store) writing JSON; (document, text output)."""
    out = tmp / f"{name}.json"
    env = {**os.environ, "COLUMNS": "116", "RECBENCH_DATA": str(tmp / "data")}
    cmd = [sys.executable, "-m", "recbench", "compare", *args, "--no-store", "-o", str(out)]
    print(f"readme-tables: {name}: recbench compare {' '.join(args)}", file=sys.stderr)
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: {name}: recbench exited {proc.returncode}: {proc.stderr.strip()}")
    return json.loads(out.read_text()), proc.stdout


def build(only: str | None, tmp: Path) -> dict[str, str]:
    """Every block's new text (``only``: just that one); ml-100k blocks need the shared file."""
    blocks: dict[str, str] = {}
    if only in (None, "demo"):
        _, text = compare(["--algos", DEMO_ALGOS, "--k", "10"], tmp, "demo")
        blocks["demo"] = demo_block(text)
    wanted = [b for b in ("parity", "stats") if only in (None, b)]
    if wanted and not ML100K.exists():
        print(f"readme-tables: skipping {', '.join(wanted)}: {ML100K} not found", file=sys.stderr)
        return blocks
    data = ["-d", str(ML100K), *ML100K_ARGS]
    if "parity" in wanted:
        doc, _ = compare([*data, "--split", "kfold:5", "--algos", "svd,baseline"], tmp, "parity")
        blocks["parity"] = parity_block(doc)
    if "stats" in wanted:
        common = [*data, "--split", STATS_SPLIT, "--baseline", "ease"]
        table, text = compare([*common, "--algos", STATS_ALGOS], tmp, "stats")
        wil, _ = compare([*common, "--algos", STATS_ALGOS, "--test", "wilcoxon"], tmp, "wilcoxon")
        rep, _ = compare([*common, "--algos", "ease,als", "--repeats", "5"], tmp, "repeats")
        more = [
            *data,
            "--split",
            STATS_SPLIT,
            "--k",
            "10",
            "--no-ci",
            "--metrics",
            ",".join(BEYOND),
        ]
        far, _ = compare([*more, "--algos", f"{STATS_ALGOS},random"], tmp, "beyond")
        blocks["stats"] = stats_block(table, text, wil, rep, far)
    return blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["demo", "parity", "stats"])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="readme-tables-") as tmp:
        blocks = build(args.only, Path(tmp))
    texts: dict[str, str] = {}
    for name, body in blocks.items():  # every file checked before any is written
        for rel in TARGETS[name]:
            text = texts.get(rel) or (REPO / rel).read_text(encoding="utf-8")
            texts[rel] = replace_block(text, name, body, rel)
    for rel, text in texts.items():
        tmp_path = (REPO / rel).with_suffix(".md.tmp")
        tmp_path.write_text(text, encoding="utf-8")
        tmp_path.replace(REPO / rel)
    done = ", ".join(f"{n} ({', '.join(TARGETS[n])})" for n in blocks) or "nothing"
    print(f"readme-tables: rewrote {done}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
