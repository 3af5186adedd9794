"""Next-item protocol (issue 25): the leave-one-out split, the sequence plugins in the normal
compare / tune / fit / recommend path, sampled candidates beside full ranking, repeat targets,
and the leak test: no test item, and no validation item a model stops early on, reaches what a
model is fitted with. Tiny sequence data only; the full LastFM / Games runs are benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recbench import executors
from recbench.algorithms import plugins
from recbench.algorithms import sequential as seq
from recbench.candidates import CandidateSpec, candidate_hits, draw_negatives, parse_candidates
from recbench.data.build import build_dataset
from recbench.data.model import PART_TRAIN, PART_VALID, Dataset
from recbench.errors import UsageError
from recbench.evaluation import EvalConfig, evaluate
from recbench.experiment import AlgoSpec, run_cell
from recbench.split import Split, make_split, parse_split
from recbench.stats.agreement import discordant_pairs, kendall_tau, order
from tests.helpers import run_cli

SEQ_MODELS = ("sasrec", "gsasrec", "bert4rec", "gru4rec", "pop-recent", "markov", "sknn")
#: tiny, fast settings for the torch models
TINY = {"epochs": 3, "hidden": 8, "max_len": 8, "heads": 1}
LASTFM = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "lastfm-s3rec"


def events(n_users: int = 40, n_items: int = 30, seed: int = 0) -> pd.DataFrame:
    """Users walking the catalogue in steps (a learnable next item), 2-11 events each, with
    timestamps out of file order for some rows so that event order is checked."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start = int(rng.integers(0, n_items))
        for t in range(int(rng.integers(2, 12))):
            rows.append((f"u{u}", f"i{(start + t * (1 + u % 2)) % n_items}", 100 + t))
    frame = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # shuffled file


def dataset(**kw: Any) -> Dataset:
    return build_dataset("toy-seq", events(**kw), checksum="x", dedup="none")


def loo(ds: Dataset) -> Split:
    return make_split(ds, parse_split("leave-one-out"), 0)


def ordered(ds: Dataset) -> list[np.ndarray]:
    view = ds.interactions.sequences()
    return [view.of(u) for u in range(ds.n_users)]


def params(name: str) -> dict[str, Any]:
    if name in ("sasrec", "gsasrec", "bert4rec", "gru4rec"):
        return {k: v for k, v in TINY.items() if name != "gru4rec" or k != "heads"}
    return {}


# -- the split ---------------------------------------------------------------------------------


def test_leave_one_out_holds_out_last_event_and_marks_the_one_before_as_validation() -> None:
    ds = dataset()
    sp = loo(ds)
    full = ordered(ds)
    test_item = dict(zip(sp.test.user.tolist(), sp.test.item.tolist(), strict=True))
    assert sp.valid is not None
    valid_item = dict(zip(sp.valid.user.tolist(), sp.valid.item.tolist(), strict=True))
    train = sp.train.interactions
    assert train.part is not None
    history = train.sequences()
    for u, s in enumerate(full):
        if len(s) < 3:  # short users only train, and are said so in the protocol line
            assert u not in test_item and u not in valid_item
            assert history.of(u).tolist() == s.tolist()
            continue
        assert test_item[u] == s[-1] and valid_item[u] == s[-2]
        assert history.of(u).tolist() == s[:-1].tolist()  # the test history: valid included
    marked = train.item[train.part == PART_VALID]
    assert sorted(marked.tolist()) == sorted(sp.valid.item.tolist())
    assert np.count_nonzero(train.part == PART_TRAIN) == len(train) - len(sp.valid)
    n_short = sum(len(s) < 3 for s in full)
    assert f"{n_short:,} users with fewer than 3 events only train" in sp.protocol


def test_leave_one_out_uses_file_order_without_timestamps() -> None:
    frame = pd.DataFrame({"user": ["a"] * 4, "item": ["x", "y", "z", "w"]})
    sp = loo(build_dataset("f", frame, checksum="x", dedup="none"))
    items = sp.train.interactions.items
    assert items.raw(sp.test.item).tolist() == ["w"]
    assert sp.valid is not None and items.raw(sp.valid.item).tolist() == ["z"]
    assert "the data has no timestamps, so event order is file order" in sp.protocol
    assert "no timestamps" not in loo(dataset()).protocol  # timestamped data says nothing


# -- the plugins in the normal path -------------------------------------------------------------


@pytest.mark.parametrize("name", SEQ_MODELS)
def test_sequence_plugin_fits_scores_and_reloads(name: str) -> None:
    """Every sequence plugin runs through run_cell under leave-one-out, beats nothing in
    particular, but scores the catalogue, round-trips its arrays and has a tune space."""
    sp = loo(dataset())
    model, res, _ = run_cell(AlgoSpec(name, params(name)), sp, 0, EvalConfig(ks=(5,)))
    assert res.n_ranked_users == len(sp.test)
    assert 0.0 <= res.metrics["hitrate@5"] <= 1.0
    cls = plugins.load(name)
    assert cls.search_space and cls.family == "sequential"
    again = cls(model.config, seed=0).set_state(model.get_state())
    users = np.arange(5)
    np.testing.assert_allclose(again.score(users), model.score(users), rtol=1e-5, atol=1e-6)


def test_sequence_models_learn_the_walk_and_order_matters() -> None:
    """On data where the next item follows from the last one, markov and sknn rank the test
    item far better than popularity, and sasrec trained a little beats popularity."""
    sp = loo(dataset(n_users=80))
    cfg = EvalConfig(ks=(10,))
    hr = {}
    for name, p in (("popularity", {}), ("markov", {}), ("sasrec", {"epochs": 30, "lr": 0.01})):
        m = plugins.make(name, p, seed=0).fit(sp.train)
        hr[name] = evaluate(m, sp, cfg).metrics["hitrate@10"]
    assert hr["markov"] > hr["popularity"] + 0.3
    assert hr["sasrec"] > hr["popularity"]


def test_popularity_counts_the_history_and_excludes_it_like_poprec() -> None:
    """popularity under leave-one-out = counts over every event before the test item, the
    user's history excluded, ties against the target (the S3-Rec PopRec protocol), by numpy."""
    ds = dataset(n_users=60)
    sp = loo(ds)
    m = plugins.make("popularity", {}, seed=0).fit(sp.train)
    res = evaluate(m, sp, EvalConfig(ks=(10,)))
    full = ordered(ds)
    counts = np.bincount(np.concatenate([s[:-1] if len(s) >= 3 else s for s in full]),
                         minlength=ds.n_items).astype(float)  # fmt: skip
    hits = []
    for s in full:
        if len(s) < 3:
            continue
        c = counts.copy()
        c[s[:-1]] = -np.inf
        order_ = np.lexsort((np.arange(ds.n_items), -c))  # ties by item index, as top_k
        hits.append(s[-1] in order_[:10])
    assert res.metrics["hitrate@10"] == pytest.approx(np.mean(hits))


@pytest.mark.skipif(not (LASTFM / "LastFM.txt").is_file(), reason="LastFM (shared) absent")
def test_lastfm_popularity_reproduces_poprec() -> None:
    """S3-Rec's LastFM, leave-one-out, full ranking: PopRec HR@10 0.0440, NDCG@10 0.0203."""
    rows = [line.split() for line in (LASTFM / "LastFM.txt").read_text().splitlines()]
    frame = pd.DataFrame([(r[0], item) for r in rows for item in r[1:]], columns=["user", "item"])
    sp = loo(build_dataset("lastfm", frame, checksum="x", dedup="none"))
    m = plugins.make("popularity", {}, seed=0).fit(sp.train)
    met = evaluate(m, sp, EvalConfig(ks=(10,))).metrics
    assert abs(met["hitrate@10"] - 0.0440) <= 0.002
    assert abs(met["ndcg@10"] - 0.0203) <= 0.002


@pytest.mark.parametrize("split", ["last:1", "temporal:0.2"])
def test_sequence_models_run_under_last_and_temporal(split: str) -> None:
    ds = dataset()
    sp = make_split(ds, parse_split(split), 0)
    for name in ("sasrec", "markov"):
        model = plugins.make(name, params(name), seed=0).fit(sp.train)
        res = evaluate(model, sp, EvalConfig(ks=(5,)))
        assert res.n_ranked_users > 0
        test_pairs = set(zip(sp.test.user.tolist(), sp.test.item.tolist(), strict=True))
        trained = model.trained_on_
        for u in range(trained.n_users):  # no test pair in what was trained on
            assert not {(u, int(i)) for i in trained.row(u)} & test_pairs


# -- the leak test ------------------------------------------------------------------------------


def _spy_fits(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Split]]:
    """Record what every sequence fit is given (sequences, validation targets) and every
    compare cell's split."""
    fits: list[Any] = []
    cells: list[Split] = []
    real_fit, real_cell = seq.fit, executors.cell_here

    def fit_spy(seqs, n_items, config, *, valid_targets=None, **kw):  # type: ignore[no-untyped-def]
        fits.append((type(config).__name__, seqs, valid_targets))
        return real_fit(seqs, n_items, config, valid_targets=valid_targets, **kw)

    def cell_spy(name, index, algo, split, *args, **kw):  # type: ignore[no-untyped-def]
        cells.append(split)
        return real_cell(name, index, algo, split, *args, **kw)

    monkeypatch.setattr(seq, "fit", fit_spy)
    monkeypatch.setattr(executors, "cell_here", cell_spy)
    return fits, cells


def test_no_test_or_validation_item_reaches_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare --tune under leave-one-out: every sequence fit (tuning trials, the final fits)
    trains on no test item and no item of the validation position; the final torch fits train
    on exactly the events before the validation item and stop on it; the baselines and the
    non-sequential models see the test history (validation included), never a test item."""
    frame = events(n_users=30)
    frame = frame.drop_duplicates(["user", "item"])  # one position per (user, item)
    path = tmp_path / "seq.csv"
    frame.to_csv(path, index=False)
    fits, cells = _spy_fits(monkeypatch)
    res = run_cli(
        ["compare", "-d", str(path), "--split", "leave-one-out", "--no-store", "--no-ci",
         "--algos", "sasrec[epochs=2,hidden=8,max_len=8],markov,ease", "--tune", "2"],
        capsys, tmp_path / "data",
    )  # fmt: skip
    assert res.code == 0, res.err
    outer = cells[0]
    assert all(np.array_equal(c.test.item, outer.test.item) for c in cells)
    assert outer.valid is not None
    test = dict(zip(outer.test.user.tolist(), outer.test.item.tolist(), strict=True))
    valid = dict(zip(outer.valid.user.tolist(), outer.valid.item.tolist(), strict=True))
    history = outer.train.interactions.sequences()
    # tune's trials test on the validation item of users with 3+ history events
    tuned_on = {u: valid[u] for u in test if len(history.of(u)) >= 3}
    assert len(fits) >= 2 * 2 + 2  # 2 trials each for sasrec and markov, then the final fits
    for kind, seqs, targets in fits:
        for u in range(seqs.n_users):
            row = set(seqs.row(u).tolist())
            assert test.get(u) not in row, (kind, u)  # no fit ever trains on a test item
            if targets is not None:  # a fit that stops early never trains on what it stops on
                assert targets[u] not in row, (kind, u)
                assert targets[u] != test.get(u, -2)
                assert tuned_on.get(u) not in row, (kind, u)
    final = [(s, t) for k, s, t in fits if k == "SASRecConfig"][-1]
    for u in test:
        assert final[0].row(u).tolist() == history.of(u)[:-1].tolist()  # seq[:-2]
        assert final[1][u] == valid[u]  # stops early on the validation item
    train_pairs = set(zip(outer.train.interactions.user.tolist(),
                          outer.train.interactions.item.tolist(), strict=True))  # fmt: skip
    assert not train_pairs & set(test.items())  # what ease and markov were fitted with


# -- sampled candidates -------------------------------------------------------------------------


def test_parse_candidates_forms_and_errors() -> None:
    assert parse_candidates(None) is None and parse_candidates("full") is None
    assert parse_candidates("sampled:100", 3) == CandidateSpec(100, "uniform", 3)
    assert parse_candidates("sampled:5:popularity").sampler == "popularity"  # type: ignore[union-attr]
    for bad in ("sampled", "sampled:x", "sampled:0", "sampled:5:zipf", "random:5", "sampled:1:a:b"):
        with pytest.raises(UsageError) as e:
            parse_candidates(bad)
        assert "\n" not in str(e.value)


def test_negatives_are_frozen_unseen_and_ties_count_against_the_target() -> None:
    import scipy.sparse as sp

    excluded = sp.csr_array(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]], np.float32))
    spec = CandidateSpec(3, "uniform", 7)
    a = draw_negatives(spec, np.array([0, 1]), excluded, np.zeros(6))
    b = draw_negatives(spec, np.array([0, 1]), excluded, np.zeros(6))
    assert np.array_equal(a, b)
    assert not set(a[0]) & {0, 1} and not set(a[1]) & {4, 5}
    assert all(len(set(r)) == 3 for r in a)
    pop = draw_negatives(CandidateSpec(3, "popularity", 7), np.array([0]), excluded, np.ones(6))
    assert not set(pop[0]) & {0, 1}
    scores = np.array([[0.5, 0.0, 0.5, 0.9, 0.1, 0.1]], np.float32)
    hits, n_rel = candidate_hits(scores, [np.array([0])], np.array([[2, 3, 4]]))
    assert n_rel.tolist() == [1] and hits[0].tolist() == [False, False, True, False]


def test_kendall_tau_and_order() -> None:
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(kendall_tau([1, 1], [1, 2]))
    assert order(["a", "b", "c"], [0.2, 0.9, 0.5]) == ["b", "c", "a"]
    assert discordant_pairs([1, 2, 3], [1, 3, 2]) == 1
    assert discordant_pairs([1, 1, 3], [2, 1, 3]) == 0  # a tie is no disagreement


def test_compare_sampled_columns_beside_full_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "seq.csv"
    events(n_users=40).to_csv(path, index=False)
    res = run_cli(
        ["compare", "-d", str(path), "--split", "leave-one-out", "--no-store", "--no-ci",
         "--algos", "popularity,markov,ease", "--metrics", "hr,ndcg",
         "--candidates", "sampled:10", "-f", "markdown"],
        capsys, tmp_path / "data",
    )  # fmt: skip
    assert res.code == 0, res.err
    header = next(line for line in res.out.splitlines() if "HR@10" in line)
    cols = [c.strip() for c in header.strip("|").split("|")]
    at = cols.index("HR@10")
    assert cols[at + 1] == "HR@10 (10 sampled)" and "NDCG@10 (10 sampled)" in cols
    assert "Krichene & Rendle 2020" in res.out
    # on this data markov leads ease in full HR@10 and trails it on 10 sampled negatives:
    # one of three pairs swapped, tau = (2 - 1) / 3
    assert "HR@10 (10 sampled) orders the algorithms differently from HR@10" in res.out
    assert "(1 pair of algorithms swapped): Kendall tau 0.33" in res.out


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ("sampled:nope", "N must be a whole number"),
        ("top:100", "unknown --candidates form"),
        ("sampled:30", "below the catalogue size"),
        ("sampled:25", "some user has only"),
    ],
)
def test_bad_candidates_exit_2_and_record_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str, says: str
) -> None:
    path = tmp_path / "seq.csv"
    events(n_users=20).to_csv(path, index=False)  # 30 items
    data = tmp_path / "data"
    res = run_cli(
        ["compare", "-d", str(path), "--split", "leave-one-out", "--algos", "popularity",
         "--candidates", form],
        capsys, data,
    )  # fmt: skip
    assert res.code == 2 and says in res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    runs = data / "runs"
    assert not runs.exists() or not any(runs.rglob("*.json*"))


# -- repeats, explanations ----------------------------------------------------------------------


def test_repeat_targets_lets_a_history_item_be_a_hit() -> None:
    """A listener who repeats a song: excluded by default (a miss), a hit with repeats on."""
    rows = [("a", "x", 1), ("a", "y", 2), ("a", "z", 3), ("a", "x", 4)]
    rows += [(f"b{u}", i, t) for u in range(5) for t, i in enumerate(["x", "y", "z", "w"])]
    ds = build_dataset("r", pd.DataFrame(rows, columns=["user", "item", "timestamp"]),
                       checksum="x", dedup="none")  # fmt: skip
    sp = loo(ds)
    m = plugins.make("popularity", {}, seed=0).fit(sp.train)
    a = int(ds.interactions.users.index(["a"])[0])

    def hit(exclude: bool) -> float:
        res = evaluate(m, sp, EvalConfig(ks=(1,), exclude_history=exclude))
        pu = res.per_user.set_index("user")
        return float(pu.loc[a, "hitrate@1"])

    assert hit(True) == 0.0 and hit(False) == 1.0


def test_explain_names_history_items_by_deletion() -> None:
    """markov scores from the last history item only: on walks of step one, deleting the last
    item is what lowers the next item's score."""
    rows = [(f"u{u}", f"i{(u + t) % 20}", t) for u in range(20) for t in range(6)]
    ds = build_dataset("walk", pd.DataFrame(rows, columns=["user", "item", "timestamp"]),
                       checksum="x", dedup="none")  # fmt: skip
    sp = loo(ds)
    m = plugins.make("markov", {}, seed=0).fit(sp.train)
    u = int(np.argmax(sp.train.interactions.user_counts()))
    hist = m.histories(np.array([u])).items
    recs = m.recommend(np.array([u]), 1, exclude=sp.train.interactions.csr("binary"))[0][0]
    reasons = m.explain_user(u, recs)
    assert reasons is not None and len(reasons) == 1
    assert reasons[0].startswith("its score drops most") and f"{{item:{hist[-1]}}}" in reasons[0]


def test_sampled_metrics_leave_the_tables_when_compare_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recbench.metrics import METRICS

    path = tmp_path / "seq.csv"
    events(n_users=20).to_csv(path, index=False)
    before = set(METRICS)
    res = run_cli(
        ["compare", "-d", str(path), "--split", "leave-one-out", "--no-store",
         "--algos", "popularity", "--candidates", "sampled:5"],
        capsys, tmp_path / "data",
    )  # fmt: skip
    assert res.code == 0, res.err
    assert "(5 sampled)" in res.out and set(METRICS) == before


def test_runs_show_labels_stored_sampled_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recbench.candidates import stored_metric
    from recbench.render.runs import _column

    assert _column("hitrate_s5pop", 10) == "HR@10 (5 popularity-sampled)"
    assert _column("ndcg_s100", 10) == "NDCG@10 (100 sampled)"
    assert _column("ndcg", 10) == "NDCG@10" and _column("gone_metric", 10) == "gone_metric"
    assert stored_metric("nonsense_s5") is None and stored_metric("ndcg_sx") is None
    path = tmp_path / "seq.csv"
    events(n_users=20).to_csv(path, index=False)
    data = tmp_path / "data"
    res = run_cli(
        ["compare", "-d", str(path), "--split", "leave-one-out", "--no-ci",
         "--algos", "popularity", "--metrics", "hr", "--candidates", "sampled:5:popularity"],
        capsys, data,
    )  # fmt: skip
    assert res.code == 0, res.err
    run_id = next((data / "runs").iterdir()).name
    res = run_cli(["runs", "show", run_id], capsys, data)
    assert res.code == 0, res.err
    table = res.out[res.out.index("results of") :]
    assert "popularity-" in table and "hitrate_s" not in table


def test_evaluate_takes_candidates_and_repeat_targets_like_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "seq.csv"
    events(n_users=30).to_csv(path, index=False)
    data = tmp_path / "data"
    base = ["evaluate", "--algo", "markov", "-d", str(path), "--split", "leave-one-out",
            "--no-ci", "--metrics", "hr", "-f", "markdown"]  # fmt: skip
    res = run_cli([*base, "--candidates", "sampled:10"], capsys, data)
    assert res.code == 0, res.err
    header = next(line for line in res.out.splitlines() if "HR@10" in line)
    assert "HR@10 (10 sampled)" in header and "Krichene & Rendle 2020" in res.out
    res = run_cli([*base, "--repeat-targets", "--no-store"], capsys, data)
    assert res.code == 0, res.err
    runs_before = sorted((data / "runs").iterdir())
    res = run_cli([*base, "--candidates", "sampled:100000"], capsys, data)
    assert res.code == 2 and len(res.err.strip().splitlines()) == 1, res.err
    assert sorted((data / "runs").iterdir()) == runs_before  # nothing recorded
