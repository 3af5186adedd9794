"""Option types and parsers shared by the commands: K lists, algorithm lists, --fail-if,
result formats and the results file; every check runs before any work is done."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recbench.algorithms import plugins
from recbench.errors import UsageError
from recbench.experiment import AlgoSpec
from recbench.metrics import metric_help
from recbench.render import FORMAT_BY_SUFFIX, format_help, output_format
from recbench.split import split_help

if TYPE_CHECKING:
    from recbench.tuning.reuse import StoredBest

#: the largest K accepted (item indices are int32)
MAX_K = 2**31 - 1


DatasetOpt = Annotated[
    str,
    typer.Option("--dataset", "-d", help="Registry name or path to a CSV/TSV/Parquet file."),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(help="Column roles in file order, e.g. user,item,rating,timestamp (- skips)."),
]
SepOpt = Annotated[
    str | None,
    typer.Option(
        help="Field separator: ',', ';', '|', '::', tab ('\\t' or tab) or space (' ' or space); "
        "default: sniffed from line 1."
    ),
]
SplitOpt = Annotated[str, typer.Option("--split", help=split_help(holding_out=True))]
KOpt = Annotated[str, typer.Option("--k", help="Cut-offs for ranking metrics, e.g. 5,10,20.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="[ALGO.]NAME=VALUE; repeatable."),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(help="Held-out ratings >= this are relevant (default: all held-out ones)."),
]
ResultFormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help=format_help()),
]
NoStoreOpt = Annotated[
    bool, typer.Option("--no-store", help="Do not record this run in the results store.")
]
SaveStudyOpt = Annotated[
    Path | None,
    typer.Option("--save-study", help="Write the equivalent study file (for `recbench run`)."),
]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write results here.")]
FailIfOpt = Annotated[
    list[str] | None,
    typer.Option("--fail-if", help="Exit 1 when e.g. 'ndcg@10<0.30' holds; repeatable."),
]
MetricsOpt = Annotated[
    str | None,
    typer.Option(help=metric_help()),
]
MinUserOpt = Annotated[
    int, typer.Option(help="Keep users (and items) of the iterated k-core: >= N ratings.")
]
MinItemOpt = Annotated[int, typer.Option(help="Items need >= N ratings (iterated with users).")]
ImplicitOpt = Annotated[
    float | None,
    typer.Option(help="Keep ratings >= T as implicit feedback (rating values dropped)."),
]
SegmentOpt = Annotated[
    bool,
    typer.Option(
        "--by-segment", help="Also show metrics by user history length and warm/cold items."
    ),
]
MemoryOpt = Annotated[int, typer.Option(help="Memory budget in MB for one batch of user scores.")]
CiOpt = Annotated[
    bool,
    typer.Option(
        "--ci/--no-ci",
        help="Show a 95% confidence interval in every cell (bootstrap over users on one split, "
        "t over folds or repeats).",
    ),
]
BaselineOpt = Annotated[
    str | None,
    typer.Option(
        help="Test every other algorithm against this one (paired over users), or 'best' "
        "(best on the first ranking metric shown); marks cells significantly better/worse."
    ),
]
TestOpt = Annotated[
    str, typer.Option("--test", help="Paired test for --baseline: randomization, t or wilcoxon.")
]
CorrectionOpt = Annotated[
    str,
    typer.Option(help="Multiple-comparison correction over the table: holm, bonferroni, bh, none."),
]
AlphaOpt = Annotated[float, typer.Option(help="Significance level for --baseline marks.")]
RepeatsOpt = Annotated[
    int,
    typer.Option(
        help="Rerun split + fit + evaluate with seeds seed..seed+N-1 (k-fold: the whole k-fold); "
        "intervals over the repeat means."
    ),
]


def parse_ks(text: str) -> tuple[int, ...]:
    """``5,10,20`` -> (5, 10, 20): whole numbers from 1 to :data:`MAX_K`, duplicates dropped."""
    ks: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            k = int(part)
        except ValueError:
            raise UsageError(
                f"--k expects whole numbers like 10 or 5,10,20, got '{part}'"
            ) from None
        if k <= 0:
            raise UsageError(f"--k must be positive, got {k}")
        if k > MAX_K:
            raise UsageError(f"--k {k} is too large (at most {MAX_K:,})")
        if k not in ks:
            ks.append(k)
    return tuple(ks)


def result_format(fmt: str | None, output: Path | None) -> str:
    """The results format: --format, else the --output suffix, else table."""
    if fmt is None:
        return FORMAT_BY_SUFFIX.get(output.suffix.lower(), "table") if output else "table"
    return output_format(fmt).name


def check_output(path: Path | None) -> Path | None:
    """Check before any work that the results file can be written; the path to write to.

    The directory must exist and accept a new file (a probe file is created and removed); an
    existing target must be a regular file (never a device or a directory). A symlink is
    followed, so the file it points to is replaced.
    """
    if path is None:
        return None
    path = Path(path)
    try:
        if path.is_symlink():
            path = path.resolve(strict=False)
        if path.is_dir():
            raise UsageError(f"--output {path} is a directory")
        if path.exists() and not path.is_file():
            raise UsageError(f"--output {path} exists and is not a regular file")
        parent = path.parent
        if not parent.is_dir():
            raise UsageError(f"--output: directory {parent} does not exist")
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise UsageError(f"--output {path} cannot be written ({exc.strerror})") from None
    except RuntimeError as exc:  # a symlink loop (Python < 3.13)
        raise UsageError(f"--output {path} cannot be written ({exc})") from None
    return path


_ALGO_RE = re.compile(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*", re.S)


#: the bracket key naming a stored study whose best parameters an entry reuses
STUDY_KEY = "@study"


def split_algo_list(text: str) -> list[tuple[str, dict[str, str], str | None, str | None]]:
    """``a,b[k=v,k2=v2],b[@study=S]`` -> [(name, params, variant, study), ...] (commas inside
    [] kept); ``study`` is the stored study named by ``@study=NAME``, if any."""
    parts: list[str] = []
    depth, cur = 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth < 0:
            raise UsageError(f"--algos '{text}': ']' without '['")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise UsageError(f"--algos '{text}': '[' without ']'")
    parts.append(cur)
    found = []
    for part in parts:
        if not part.strip():
            continue
        m = _ALGO_RE.fullmatch(part)
        if not m:
            raise UsageError(f"--algos: cannot read '{part.strip()}' (use NAME or NAME[k=v,...])")
        name, inner = m.group(1), m.group(2)
        params: dict[str, str] = {}
        variant = None
        study = None
        if inner is not None:
            pairs = [p for p in re.split(r"[,;]", inner) if p.strip()]
            for p in [p for p in pairs if p.strip().startswith("@")]:
                key, eq, value = p.strip().partition("=")
                if key.strip() != STUDY_KEY or not eq or not value.strip():
                    raise UsageError(
                        f"--algos: cannot read '{p.strip()}' in '{part.strip()}' "
                        f"(the one @-key is {STUDY_KEY}=NAME)"
                    )
                if study is not None:
                    raise UsageError(f"--algos: '{part.strip()}' names {STUDY_KEY} twice")
                study = value.strip()
                pairs.remove(p)
            params = plugins.parse_params(pairs)
            variant = ",".join(
                ([f"{STUDY_KEY}={study}"] if study else [])
                + [f"{k}={v}" for k, v in params.items()]
            )
        found.append((name, params, variant, study))
    return found


def parse_algos(
    text: str | None,
    param_pairs: list[str] | None,
    data_dir: Path | None = None,
    studies: dict[str, StoredBest] | None = None,
) -> list[AlgoSpec]:
    """``--algos`` plus ``--param [algo.]name=value`` -> validated AlgoSpecs.

    Entries are ``name`` or ``name[k=v,...]`` (a labelled configuration; several of one
    algorithm may share a table). A bare ``--param name=value`` applies to every selected
    algorithm that has that parameter (an error when none has it); ``algo.name=value`` targets
    the entries of one algorithm. ``name[@study=S]`` takes the best parameters of the stored
    study ``S`` under ``data_dir`` (see :mod:`recbench.tuning.reuse`), recorded in ``studies``
    by row label when given. Precedence, lowest first: ``--param``, the study's parameters,
    values written inside the brackets.
    """
    entries: list[tuple[str, dict[str, str], str | None, str | None]] = []
    if text is None:
        for n in plugins.entries():
            try:
                cls = plugins.load(n)
            except UsageError:
                continue
            if not cls.missing_requirements():
                entries.append((n, {}, None, None))
    else:
        entries = split_algo_list(text)
        if not entries:
            raise UsageError("--algos is empty")
    names = list(dict.fromkeys(n for n, _, _, _ in entries))
    classes = {n: plugins.load(n) for n in names}
    for n, cls in classes.items():
        plugins.ensure_available(n, cls)
    shared: dict[str, dict[str, Any]] = {n: {} for n in names}
    for key, value in plugins.parse_params(param_pairs).items():
        algo, dot, pname = key.rpartition(".")
        if dot:
            if algo not in shared:
                raise UsageError(
                    f"--param {key}: '{algo}' is not among --algos ({', '.join(names)})"
                )
            shared[algo][pname] = value
            continue
        takers = [n for n, cls in classes.items() if pname in cls.Config.model_fields]
        if not takers:
            raise UsageError(
                f"unknown parameter '{pname}': none of {', '.join(names)} has it "
                "(see `recbench algorithms`)"
            )
        for n in takers:
            shared[n][pname] = value
    specs: list[AlgoSpec] = []
    for n, own, variant, study in entries:
        best = None
        if study is not None:
            if data_dir is None:
                raise UsageError(f"--algos '{n}[{variant}]': {STUDY_KEY} is not available here")
            from recbench.tuning.reuse import stored_best

            best = stored_best(data_dir, study, n)
        params = {**shared[n], **(best.params if best else {}), **own}
        config = plugins.make_config(n, classes[n], params)  # validates, naming the parameter
        typed = {k: getattr(config, k) for k in params}  # "10" -> 10 in results and manifests
        specs.append(AlgoSpec(n, typed, variant))
        if best is not None and studies is not None:
            studies[specs[-1].label] = best
    labels = [s.label for s in specs]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise UsageError(f"--algos lists '{dup[0]}' twice")
    return specs
