"""`recbench compare` and `evaluate`: thin wrappers over the experiment and evaluation library."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recbench import executors
from recbench.algorithms import plugins
from recbench.candidates import CandidateSpec, install, parse_candidates
from recbench.cli.common import (
    State,
    cell_progress,
    err,
    get_dataset,
    info,
    out,
    state,
    status,
    warn,
    write_results,
)
from recbench.cli.options import (
    AlphaOpt,
    BaselineOpt,
    CandidatesOpt,
    CiOpt,
    ColumnsOpt,
    CorrectionOpt,
    DatasetOpt,
    FailIf,
    FailIfOpt,
    ImplicitOpt,
    KOpt,
    MemoryOpt,
    MetricsOpt,
    MinItemOpt,
    MinUserOpt,
    OutputOpt,
    ParamOpt,
    RepeatsOpt,
    RepeatTargetsOpt,
    ResultFormatOpt,
    SegmentOpt,
    SepOpt,
    SplitOpt,
    TestOpt,
    ThresholdOpt,
    check_output,
    parse_algos,
    parse_fail_if,
    parse_ks,
    result_format,
)
from recbench.cli.runs import NoStoreOpt, SaveStudyOpt, remember, start_live, study_options
from recbench.data import Dataset, DatasetSpec, Preprocessing
from recbench.data.loading import DEFAULT_DATASET
from recbench.data.sources import default_split
from recbench.errors import ModelDirError, UsageError
from recbench.evaluation import EvalConfig, check_candidates
from recbench.experiment import (
    ExperimentResult,
    fold_summary,
    run_experiment,
    run_repeats,
    single_result,
)
from recbench.metrics import BEYOND_NAMES, METRIC_ALIASES, METRICS
from recbench.persistence import load_model, model_origin
from recbench.render import parse_metrics, print_table, render_text, table_text, tables
from recbench.significance import StatsOptions, analyse, check_pairable, stats_options
from recbench.split import make_split, parse_split, split_help
from recbench.store.live import hooks
from recbench.tuning.reuse import StoredBest, check_reuse


class Request:
    """The options compare and evaluate share, validated before any work is done."""

    def __init__(
        self,
        ks: str,
        threshold: float | None,
        memory_mb: int,
        fmt: str | None,
        output: Path | None,
        metrics: str | None,
        fail_if: list[str] | None,
        candidates: CandidateSpec | None = None,
        repeat_targets: bool = False,
    ) -> None:
        self.metrics = _check_metrics(metrics)
        beyond = tuple(m for m in self.metrics if m in BEYOND_NAMES)
        self.eval = EvalConfig(
            ks=parse_ks(ks),
            relevance_threshold=threshold,
            memory_mb=memory_mb,
            beyond=beyond,
            candidates=candidates,
            exclude_history=not repeat_targets,
        )
        #: removes the sampled metrics from the tables again (call when the command ends)
        self.undo: Callable[[], None] = lambda: None
        if candidates is not None:  # sampled twins of the ranking metrics, beside them
            self.metrics, self.undo = install(candidates, self.metrics)
        self.fmt = result_format(fmt, output)
        self.output = check_output(output)
        self.fail_if = parse_fail_if(fail_if, self.eval.ks)

    def fit_catalogue(self, st: State, ds: Dataset) -> None:
        """Clamp every K (and --fail-if K) to the catalogue size, saying so."""
        n = ds.n_items
        if max(self.eval.ks) <= n:
            return
        big = ",".join(str(k) for k in self.eval.ks if k > n)
        info(st, f"note: --k {big} is more than the {n:,} items of {ds.name}; using K={n}")
        ks = tuple(dict.fromkeys(min(k, n) for k in self.eval.ks))
        self.eval = replace(self.eval, ks=ks)
        self.fail_if = [replace(c, k=min(c.k, n)) if c.k is not None else c for c in self.fail_if]


def _check_metrics(spec: str | None) -> tuple[str, ...]:
    metrics = tuple(METRIC_ALIASES.get(m, m) for m in parse_metrics(spec))  # hr -> hitrate
    for m in metrics:
        if m not in METRICS:
            raise UsageError(f"unknown metric '{m}' in --metrics (use {', '.join(METRICS)})")
    return metrics


def _emit(
    st: State,
    res: ExperimentResult,
    req: Request,
    by_segment: bool,
    command: str,
    stats: StatsOptions | None = None,
) -> None:
    """Print/write results, then apply --fail-if (exit 1 naming what failed)."""
    if stats is not None:
        res.stats = analyse(res, stats, req.metrics)
    shown = tables(res, req.metrics, by_segment, command)
    fmt, output = req.fmt, req.output
    if output is not None:
        if fmt == "table":
            text = table_text(res, req.metrics, by_segment, command)
        else:
            text = render_text(res, fmt, req.metrics, by_segment)
        try:
            write_results(output, text)
        except UsageError:
            _print_results(res, req, shown, by_segment)  # the work is not lost
            raise
        if not st.quiet:
            for table in shown:
                print_table(out, table)
        info(st, f"wrote {fmt} results to {output}")
    else:
        _print_results(res, req, shown, by_segment)
    failures = check_fail_if(res, req.fail_if)
    if failures:
        for line in failures:
            err.print(f"fail-if {line}", markup=False)
        raise typer.Exit(1)


def _print_results(
    res: ExperimentResult, req: Request, shown: list[Table], by_segment: bool
) -> None:
    if req.fmt == "table":
        for table in shown:
            print_table(out, table)
    else:
        typer.echo(render_text(res, req.fmt, req.metrics, by_segment), nl=False)


def check_fail_if(res: ExperimentResult, conds: list[FailIf]) -> list[str]:
    """Messages for every (condition, algorithm) that holds, on means over folds."""
    if not conds:
        return []
    summ = fold_summary(res.results)
    msgs = []
    algos = list(dict.fromkeys(res.results["algorithm"]))
    for c in conds:
        if c.algorithm and c.algorithm not in algos:
            raise UsageError(f"--fail-if '{c.text}': '{c.algorithm}' was not run")
        if c.significance:
            msgs += _significance_failures(res, c)
            continue
        sel = summ[summ["metric"] == c.metric]
        sel = sel[sel["k"].isna()] if c.k is None else sel[sel["k"] == c.k]
        if c.algorithm:
            sel = sel[sel["algorithm"] == c.algorithm]
        if not len(sel):
            raise UsageError(f"--fail-if '{c.text}': no algorithm run produces {c.key()}")
        for r in sel.itertuples():
            if c.triggered(float(r.mean)):
                msgs.append(f"{c.text}: {r.algorithm} {c.key()} = {r.mean:.4f}")
    return msgs


def _significance_failures(res: ExperimentResult, c: FailIf) -> list[str]:
    """--fail-if 'ALGO:METRIC@K worse|better': the comparisons with that verdict."""
    comps = res.stats.comparisons if res.stats is not None else {}
    msgs = []
    for (algo, key), comp in comps.items():
        if key == c.key() and (c.algorithm is None or algo == c.algorithm) and comp.verdict == c.op:
            msgs.append(
                f"{c.text}: {algo} {key} is significantly {c.op} than {comp.baseline} "
                f"(mean difference {comp.result.mean_diff:+.4f}, "
                f"adjusted p = {comp.p_adjusted:.2g})"
            )
    return msgs


def compare(
    ctx: typer.Context,
    algos: Annotated[
        str | None,
        typer.Option(
            "--algos",
            "-a",
            help="Comma list of algorithms (default: all available); NAME[k=v,...] for a "
            "configuration, NAME[@study=S] for the best parameters of a stored `tune --study S`.",
        ),
    ] = None,
    dataset: DatasetOpt = DEFAULT_DATASET,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: SplitOpt = None,
    k: KOpt = "10",
    param: ParamOpt = None,
    relevance_threshold: ThresholdOpt = None,
    metrics: MetricsOpt = None,
    fmt: ResultFormatOpt = None,
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    by_segment: SegmentOpt = False,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
    memory_mb: MemoryOpt = 256,
    no_store: NoStoreOpt = False,
    save_study: SaveStudyOpt = None,
    tune_trials: Annotated[
        int,
        typer.Option(
            "--tune",
            help="Tune each algorithm first: N trials on a validation split cut from the "
            "training part, in each repeat from that repeat's own (see `recbench tune`).",
        ),
    ] = 0,
    tune_metric: Annotated[
        str | None, typer.Option(help="Metric --tune optimises (default ndcg@ the first --k).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Run the cells on a Dask LocalCluster of N processes (extra: scale)."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Run the cells on an existing Dask cluster, e.g. tcp://HOST:8786."),
    ] = None,
    ci: CiOpt = True,
    baseline: BaselineOpt = None,
    test: TestOpt = "randomization",
    correction: CorrectionOpt = "holm",
    alpha: AlphaOpt = 0.05,
    repeats: RepeatsOpt = 1,
    candidates: CandidatesOpt = None,
    repeat_targets: RepeatTargetsOpt = False,
) -> None:
    """Fit and evaluate several algorithms on one dataset and split; print a comparison table."""
    st = state(ctx)
    on_dask = executors.check_options(workers, scheduler)
    cands = parse_candidates(candidates, st.seed)
    req = Request(k, relevance_threshold, memory_mb, fmt, output, metrics, fail_if, cands,
                  repeat_targets)  # fmt: skip
    ctx.call_on_close(req.undo)
    split_spec = parse_split(
        split or default_split(DatasetSpec(dataset, columns, sep), st.cache_dir)
    )
    if not split_spec.holds_out:
        raise UsageError(f"compare needs a split with test data (not '{split_spec}')")
    studies: dict[str, StoredBest] = {}
    specs = parse_algos(algos, param, st.cache_dir, studies)
    sig = [(c.algorithm, c.text) for c in req.fail_if if c.significance]
    stats = stats_options(
        ci=ci,
        baseline=baseline,
        test=test,
        correction=correction,
        alpha=alpha,
        repeats=repeats,
        seed=st.seed,
        algorithms=[s.label for s in specs],
        significance_conditions=sig,
    )
    prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
    # the cluster (--workers) starts in the background while the data loads
    executor = executors.make_executor(workers, scheduler)
    with executor:
        ds, _ = get_dataset(st, DatasetSpec(dataset, columns, sep), prep)
        req.fit_catalogue(st, ds)
        check_candidates(ds, split_spec, st.seed, req.eval)  # before anything is recorded
        if stats.baseline is not None:
            check_pairable(ds, split_spec, st.seed, relevance_threshold)
        if algos is None:  # the default set: every available algorithm that suits this dataset
            kept = []
            for spec in specs:
                reason = plugins.load(spec.name).unsuitable(ds)
                if reason:
                    info(st, f"skipping {spec.name}: it {reason}, and {ds.name} has none")
                else:
                    kept.append(spec)
            specs = kept
        seeds = [st.seed + r for r in range(stats.repeats)]
        # a stored study is checked for every repeat's seed, before any work (reuse.py: rule)
        reused = [check_reuse(b, label, ds.checksum, str(split_spec), seeds)
                  for label, b in studies.items()]  # fmt: skip
        tuning = None
        asked = specs  # --save-study writes the rows as given (its `tune` tunes them again)
        if tune_trials:  # each repeat tuned on its own training part; on Dask, trials there too
            from recbench.cli.tune import tune_for_compare

            metric = tune_metric or f"ndcg@{req.eval.ks[0]}"
            tuning = tune_for_compare(st, ds, split_spec, specs, tune_trials, metric,
                                      relevance_threshold, memory_mb, seeds,
                                      executor if on_dask else None)  # fmt: skip
        rows_for = tuning.specs_for if tuning is not None else (lambda seed: specs)
        n_cells = len(specs) * split_spec.n_folds * stats.repeats
        # each cell is recorded as it finishes; a matching interrupted compare is resumed
        live = start_live(st, ds, split_spec, rows_for, stats.repeats, req.eval, no_store, asked,
                          study_options(locals()))  # fmt: skip
        try:
            with cell_progress(st, n_cells) as on_event:
                res = run_repeats(
                    lambda seed: executors.run_experiment(
                        ds,
                        split_spec,
                        rows_for(seed),
                        seed,
                        req.eval,
                        on_event,
                        executor,
                        *hooks(live, seed),
                    ),
                    st.seed,
                    stats.repeats,
                )
        except BaseException as exc:  # the run's recorded cells stay; it is marked failed
            if live is not None:
                live.abort(exc)
            raise
    if tuning is not None:
        res.protocol = f"{res.protocol}; {tuning.note()}"
        res.tuning = tuning.to_json()
    for note, leak_free in reused:
        res.protocol = f"{res.protocol}; {note}"
        if not leak_free:
            warn(note)
    remember(st, res, "compare", no_store, save_study, asked, study_options(locals()), live)
    _emit(st, res, req, by_segment, "compare", stats)


def evaluate(
    ctx: typer.Context,
    model: Annotated[Path | None, typer.Option("--model", "-m", help="A model directory.")] = None,
    algo: Annotated[str | None, typer.Option("--algo", help="Fit this algorithm instead.")] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            "-d",
            help="Registry name or path to a CSV/TSV/Parquet file (with --algo; default "
            f"{DEFAULT_DATASET}).",
        ),
    ] = None,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="With --algo (default holdout:0.2): "
            + split_help(holding_out=True)
            + " A saved model is evaluated on the split in its manifest.",
        ),
    ] = None,
    k: KOpt = "10",
    param: ParamOpt = None,
    relevance_threshold: ThresholdOpt = None,
    metrics: MetricsOpt = None,
    fmt: ResultFormatOpt = None,
    output: OutputOpt = None,
    fail_if: FailIfOpt = None,
    by_segment: SegmentOpt = False,
    min_user_ratings: MinUserOpt = 0,
    min_item_ratings: MinItemOpt = 0,
    implicit_threshold: ImplicitOpt = None,
    memory_mb: MemoryOpt = 256,
    no_store: NoStoreOpt = False,
    save_study: SaveStudyOpt = None,
    ci: CiOpt = True,
) -> None:
    """Evaluate a saved model on the split it was fitted on, or fit and evaluate one algorithm."""
    st = state(ctx)
    if (model is None) == (algo is None):
        raise UsageError("give exactly one of --model DIR or --algo NAME")
    req = Request(k, relevance_threshold, memory_mb, fmt, output, metrics, fail_if)
    if algo is not None:
        split_spec = parse_split(split or "holdout:0.2")
        if not split_spec.holds_out:
            raise UsageError(f"evaluate needs a split with test data (not '{split_spec}')")
        specs = parse_algos(algo, param, st.cache_dir)
        prep = Preprocessing(min_user_ratings, min_item_ratings, implicit_threshold)
        spec = DatasetSpec(dataset or DEFAULT_DATASET, columns, sep)
        ds, _ = get_dataset(st, spec, prep)
        req.fit_catalogue(st, ds)
        with cell_progress(st, split_spec.n_folds) as on_event:
            res = run_experiment(ds, split_spec, specs, st.seed, req.eval, on_event)
        remember(st, res, "evaluate", no_store, save_study, specs, study_options(locals()))
        _emit(st, res, req, by_segment, "evaluate", StatsOptions(ci=ci, seed=st.seed))
        return
    assert model is not None
    ignored = [
        name
        for name, given in (("--dataset", dataset), ("--columns", columns), ("--sep", sep))
        if given is not None
    ]
    if ignored:
        raise UsageError(
            f"{', '.join(ignored)} applies to --algo; a saved model is evaluated on the dataset "
            "recorded in its manifest"
        )
    if param:
        raise UsageError("--param applies to --algo; a saved model keeps its parameters")
    if min_user_ratings or min_item_ratings or implicit_threshold is not None:
        raise UsageError("a saved model keeps the preprocessing recorded in its manifest")
    fitted, config, manifest = load_model(model)
    ds, split_obj, split_spec, seed = model_split(st, model, manifest, split)
    if not split_spec.holds_out:
        raise UsageError(
            f"model {model} was fitted on all ratings (split '{split_spec}'): no test data"
        )
    req.fit_catalogue(st, ds)
    from recbench.evaluation import evaluate as run_eval

    with status(st, "evaluating"):
        result = run_eval(fitted, split_obj, req.eval)
    res = single_result(
        ds,
        split_obj,
        split_spec,
        config["algorithm"],
        config.get("params") or {},
        result,
        float(manifest.get("fit_seconds", 0.0)),
        seed,
        req.eval,
    )
    remember(st, res, "evaluate", no_store, save_study)
    _emit(st, res, req, by_segment, "evaluate", StatsOptions(ci=ci, seed=st.seed))


def model_split(st: State, model: Path, manifest: dict, split: str | None):  # type: ignore[no-untyped-def,type-arg]
    """The dataset and split a model was fitted on, checked against its manifest."""
    origin = model_origin(model, manifest)
    if split is not None and str(parse_split(split)) != str(origin.split):
        raise UsageError(
            f"model {model} was fitted on split '{origin.split}'; it is evaluated on that split "
            f"(drop --split, or fit again with --split {split})"
        )
    ds, _ = get_dataset(st, origin.dataset, origin.preprocessing)
    if ds.checksum != origin.checksum:
        raise ModelDirError(
            f"dataset {origin.dataset.dataset} has changed since model {model} was fitted "
            "(checksum differs); fit the model again"
        )
    return ds, make_split(ds, origin.split, origin.seed, origin.fold), origin.split, origin.seed


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(evaluate)
