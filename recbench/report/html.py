"""One self-contained HTML report: summary table, charts (Vega-Lite, JS inlined), protocol.

The page loads nothing from the network: the Vega / Vega-Lite / vega-embed bundle is inlined
once, every chart's spec is inlined as JSON and rendered to SVG. When every chart has rendered
the body gets ``data-rendered="N"``; any script error is written into ``#report-errors`` (so a
headless browser's DOM dump shows both).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from recbench.report.charts import chart_specs
from recbench.report.data import ReportData

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:1.5em;margin-bottom:4px} h2{font-size:1.15em;margin-top:28px}
table.summary{border-collapse:collapse;font-size:0.9em;margin:8px 0}
table.summary th,table.summary td{padding:3px 9px;border-bottom:1px solid #ddd;text-align:right}
table.summary th.l,table.summary td.l{text-align:left}
td.best{font-weight:bold;background:#e3f4e1;color:#14632b}
.iv{color:#777;font-size:0.85em}
.sig.better{color:#14632b} .sig.worse{color:#b00}
.charts{display:flex;flex-wrap:wrap;gap:18px}
.chart{border:1px solid #eee;padding:6px}
.meta{font-size:0.88em;color:#444} .meta li{margin:2px 0}
.warning{color:#a14400;font-weight:600}
#report-errors{color:#b00;white-space:pre-wrap}
"""

_BOOT = """
(function(){
  var errs=document.getElementById('report-errors');
  function note(m){errs.textContent+=String(m)+'\\n';}
  window.addEventListener('error',function(e){note('error: '+e.message);});
  var ce=console.error;console.error=function(){note('console.error: '+
    Array.prototype.join.call(arguments,' '));ce.apply(console,arguments);};
  var specs=JSON.parse(document.getElementById('chart-specs').textContent);
  var jobs=specs.map(function(s,i){
    return vegaEmbed('#chart-'+i,s,{renderer:'svg',actions:false}).catch(function(e){note(e);});
  });
  Promise.all(jobs).then(function(){
    var n=document.querySelectorAll('.chart svg.marks').length;
    document.body.setAttribute('data-render-ms',String(Math.round(performance.now())));
    document.body.setAttribute('data-rendered',String(n));
  });
})();
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _script_safe(text: str) -> str:
    """Inline script text that cannot end its <script> element early."""
    return re.sub(r"</(script)", lambda m: "<\\/" + m.group(1), text, flags=re.IGNORECASE)


def _summary_table(data: ReportData) -> str:
    summ = data.summary
    if not len(summ):
        return "<p>No results.</p>"
    several = len(data.runs) > 1
    order = summ.assign(_rank=[0 if pd.isna(k) else int(k) for k in summ["k"]]).sort_values(
        "_rank", kind="stable"
    )
    cols = list(dict.fromkeys(order["column"]))
    higher = dict(zip(summ["column"], summ["higher_is_better"], strict=False))
    keys = ["run", "dataset", "split"] if several else ["dataset", "split"]
    parts = []
    for group_key, g in summ.groupby(keys, sort=False):
        best: dict[str, float] = {}
        for col in cols:
            v = g.loc[g["column"] == col, "mean"]
            if len(v):
                best[col] = float(v.max() if higher[col] else v.min())
        title = " · ".join(
            str(x) for x in (group_key if isinstance(group_key, tuple) else [group_key])
        )
        head = "".join(f"<th>{_esc(c)}</th>" for c in cols)
        rows = []
        for algo, a in g.groupby("algorithm", sort=False):
            cells = []
            for col in cols:
                r = a[a["column"] == col]
                if not len(r):
                    cells.append("<td>—</td>")
                    continue
                r0 = r.iloc[0]
                mean = float(r0["mean"])
                cls = ' class="best"' if col in best and mean == best[col] else ""
                iv = ""
                if pd.notna(r0["low"]):
                    iv = f' <span class="iv">[{r0["low"]:.4f}, {r0["high"]:.4f}]</span>'
                metric_key = r0["metric"] if pd.isna(r0["k"]) else f"{r0['metric']}@{int(r0['k'])}"
                sig = ""
                if data.marks is not None:
                    gk = (str(r0["run"]), str(r0["dataset"]), str(r0["split"]))
                    verdict = data.marks.verdicts.get((*gk, str(algo), metric_key))
                    if verdict:
                        arrow = "▲" if verdict == "better" else "▼"
                        sig = f' <span class="sig {verdict}" title="{verdict}">{arrow}</span>'
                cells.append(
                    f'<td{cls} data-run="{_esc(r0["run"])}" data-algorithm="{_esc(algo)}" '
                    f'data-metric="{_esc(metric_key)}" data-value="{mean!r}">'
                    f'<span class="v">{mean:.4f}</span>{sig}{iv}</td>'
                )
            first = g.iloc[0]
            group = (str(first["run"]), str(first["dataset"]), str(first["split"]))
            is_base = data.marks is not None and data.marks.baselines.get(group) == algo
            tag = ' <span class="iv">(baseline)</span>' if is_base else ""
            rows.append(f'<tr><td class="l">{_esc(algo)}{tag}</td>{"".join(cells)}</tr>')
        parts.append(
            f'<h3>{_esc(title)}</h3><table class="summary"><thead><tr><th class="l">algorithm'
            f"</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    note = (
        '<p class="meta">Mean over folds and repeats; best value per column highlighted. '
        "Brackets: 95% interval (ranking metrics: percentile bootstrap over users for one "
        "split, t over the folds of one k-fold, Nadeau &amp; Bengio's corrected resampled t over "
        "every run with repeats; rating metrics: over folds when there are several).</p>"
    )
    if data.marks is not None and data.marks.baselines:
        st = data.marks.settings
        note += (
            f'<p class="meta">▲ / ▼: significantly better / worse than the baseline (marked) on '
            f"that ranking metric: paired {_esc(st['test'])} test over users (folds pooled per "
            "user; with repeats the corrected resampled t over runs), "
            f"{_esc(st['correction'])}-corrected over the table, alpha = "
            f"{_esc(st['alpha'])}. Baseline: {_esc(st['baseline'])}.</p>"
        )
    return note + "".join(parts)


def _manifest_text(data: ReportData) -> str:
    items = []
    for rd in data.runs:
        m = rd.run.manifest
        ds = "; ".join(
            f"{d.get('name')} ({d.get('n_ratings', 0):,} ratings, {d.get('n_users', 0):,} users, "
            f"{d.get('n_items', 0):,} items, checksum {str(d.get('checksum'))[:12]})"
            for d in m.get("datasets") or []
        )
        machine = m.get("machine") or {}
        deps = ", ".join(f"{k} {v}" for k, v in (m.get("dependencies") or {}).items())
        protocols = sorted({str(p) for p in _protocols(rd)})
        rel = m.get("relevance_threshold")
        relevance = (
            f"held-out ratings >= {rel} are relevant"
            if rel is not None
            else "every held-out rating is relevant"
        )
        ended = (
            f"ended {_esc(m.get('ended'))}"
            if m.get("ended")
            else "not ended (its process is gone)"
            if rd.run.status == "interrupted"
            else "not ended"
        )
        lines = [
            f"<b>run {_esc(rd.run.run_id)}</b> ({_esc(m.get('kind'))}, {_esc(rd.run.status)}), "
            f"started {_esc(m.get('started'))}, {ended}",
            f"Data: {_esc(ds)}",
            f"Protocol: {_esc('; '.join(protocols) or ', '.join(m.get('splits') or []))}. "
            f"Seeds {_esc(m.get('seeds'))}; K = {_esc(m.get('ks'))}; {_esc(relevance)}. Ranking "
            "over the full catalogue with each user's training items excluded, no sampled "
            "negatives.",
            "Algorithms: "
            + _esc(
                "; ".join(
                    f"{a.get('label')} {json.dumps(a.get('params') or {}, sort_keys=True)}"
                    for a in m.get("algorithms") or []
                )
            ),
            f"Software: recbench {_esc(m.get('recbench_version'))}, Python {_esc(m.get('python'))}"
            f", {_esc(deps)}",
            f"Machine: {_esc(machine.get('system'))} {_esc(machine.get('arch'))}, "
            f"{_esc(machine.get('cpus'))} CPUs, {_esc(machine.get('memory_gb'))} GB memory",
        ]
        items.append('<ul class="meta">' + "".join(f"<li>{x}</li>" for x in lines) + "</ul>")
    return "".join(items)


def _protocols(rd: Any) -> list[str]:
    p = rd.run.manifest.get("protocol")
    return list(rd.protocols) or ([p] if p else [])


def render_html(data: ReportData, js_bundle: str, title: str = "recbench report") -> str:
    """The whole page as a string (nothing is written)."""
    specs = chart_specs(data)
    charts = "".join(
        f'<div class="chart"><div id="chart-{i}" aria-label="{_esc(cap)}"></div></div>'
        for i, (cap, _) in enumerate(specs)
    )
    spec_json = _script_safe(json.dumps([s for _, s in specs], default=str))
    runs = ", ".join(rd.run.run_id for rd in data.runs)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style>"
        f"<script>{_script_safe(js_bundle)}</script></head>"
        f'<body data-charts="{len(specs)}"><h1>{_esc(title)}</h1>'
        f'<p class="meta">Runs: {_esc(runs)}</p><pre id="report-errors"></pre>'
        + "".join(f'<p class="warning">warning: {_esc(n)}</p>' for n in data.notes)
        + f"<h2>Summary</h2>{_summary_table(data)}"
        f'<h2>Charts</h2><div class="charts">{charts}</div>'
        f"<h2>Protocol and manifest</h2>{_manifest_text(data)}"
        f'<script type="application/json" id="chart-specs">{spec_json}</script>'
        f"<script>{_BOOT}</script></body></html>"
    )


def vega_bundle(cache_dir: Path | None = None) -> str:
    """The vega-embed JavaScript bundle (Vega, Vega-Lite, vega-embed) from vl-convert.

    Building it takes seconds, so with ``cache_dir`` it is kept there (written atomically).
    """
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    from recbench.atomic import atomic_write_text

    vl = vl_version_for_vl_convert()
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"vega-embed-{vl}-vlc{getattr(vlc, '__version__', '0')}.js"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    bundle = str(vlc.javascript_bundle(vl_version=vl))  # type: ignore[call-arg]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, bundle)
    return bundle


def chart_images(data: ReportData, fmt: str) -> list[tuple[str, bytes]]:
    """(caption, PNG or SVG bytes) per chart, rendered offline by vl-convert."""
    import vl_convert as vlc

    out = []
    for cap, spec in chart_specs(data):
        if fmt == "svg":
            out.append((cap, vlc.vegalite_to_svg(spec).encode()))
        else:
            out.append((cap, bytes(vlc.vegalite_to_png(spec, scale=2))))
    return out
