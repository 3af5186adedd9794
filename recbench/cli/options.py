"""Option types and parsers shared by the commands: K lists, algorithm lists, --fail-if,
result formats and the results file; every check runs before any work is done."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recbench.data.sources import SPLIT_DEFAULT_HELP
from recbench.errors import UsageError
from recbench.metrics import metric_help
from recbench.render import format_help
from recbench.render.outputs import check_output as check_output
from recbench.result_options import parse_ks as parse_ks
from recbench.result_options import result_format as result_format
from recbench.split import split_help

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
SplitOpt = Annotated[
    str | None, typer.Option("--split", help=split_help(holding_out=True) + SPLIT_DEFAULT_HELP)
]
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
CandidatesOpt = Annotated[
    str | None,
    typer.Option(
        "--candidates",
        help="full (default: rank the whole catalogue), or sampled:N[:uniform|popularity] to "
        "also rank each test item against N sampled negatives per user, in labelled columns "
        "beside the full ones (as papers do; see Krichene & Rendle 2020).",
    ),
]
RepeatTargetsOpt = Annotated[
    bool,
    typer.Option(
        "--repeat-targets",
        help="Do not exclude the user's history from the ranking, so a repeat of a history "
        "item can be a hit (repeat-consumption data such as music).",
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
MlflowOpt = Annotated[
    bool, typer.Option("--mlflow", help="Then export the run to MLflow (runs export --to mlflow).")
]
RepeatsOpt = Annotated[
    int,
    typer.Option(
        help="Rerun split + fit + evaluate with seeds seed..seed+N-1 (k-fold: the whole k-fold); "
        "intervals over the repeat means."
    ),
]


def table_or_json(fmt: str, command: str) -> str:
    """A --format of table or json (any case); anything else is a one-line error."""
    if fmt.lower() not in ("table", "json"):
        raise UsageError(f"unknown --format '{fmt.lower()}' ({command} supports table or json)")
    return fmt.lower()
