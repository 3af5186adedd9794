"""The record tables (metrics, split kinds, output formats) and everything derived from them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from recbench.metrics import (
    DEFAULT_METRICS,
    METRIC_ALIASES,
    METRIC_SPECS,
    METRICS,
    RANKING_METRICS,
    RATING_METRICS,
    metric_help,
    metric_key_pattern,
    ranking_metrics,
    resolve_metric,
)
from recbench.metrics.rating import per_user_errors
from recbench.metrics.spec import RankingMetric, RatingMetric

# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


def test_metric_names_and_aliases_are_unique_and_resolve() -> None:
    names = [m.name for m in METRIC_SPECS]
    assert len(names) == len(set(names))
    assert not set(METRIC_ALIASES) & set(names)
    for alias, name in METRIC_ALIASES.items():
        assert resolve_metric(alias.upper()) is METRICS[name]
    assert resolve_metric("nope") is None


def test_every_metric_states_its_direction() -> None:
    assert {m.name: m.direction for m in METRIC_SPECS} == {
        "rmse": "lower",
        "mae": "lower",
        "precision": "higher",
        "recall": "higher",
        "ndcg": "higher",
        "map": "higher",
        "mrr": "higher",
        "hitrate": "higher",
        "coverage": "higher",
        "gini": "lower",
        "novelty": "higher",
        "arp": "lower",
        "aplt": "higher",
        "ild": "higher",
        "personalisation": "higher",
    }
    for m in METRIC_SPECS:
        assert m.higher_is_better == (m.direction == "higher")


def test_derived_lists_follow_the_table() -> None:
    assert [m.name for m in METRIC_SPECS if isinstance(m, RatingMetric)] == RATING_METRICS
    assert [m.name for m in METRIC_SPECS if isinstance(m, RankingMetric)] == RANKING_METRICS
    assert DEFAULT_METRICS == ("rmse", "mae", "precision", "recall", "ndcg")
    help_text = metric_help()
    for m in METRIC_SPECS:
        assert m.name in help_text and f"{m.direction} is better" in help_text
        assert m.help and m.label


def test_key_pattern_matches_every_metric_key_and_nothing_else() -> None:
    pat = re.compile(metric_key_pattern())
    for m in METRIC_SPECS:
        good = m.key(10) if m.kind != "rating" else m.key()
        bad = m.key() if m.kind != "rating" else m.key(10)
        assert pat.match(good) and not pat.match(bad), m.name
    assert pat.match("coverage@10") and not pat.match("coverage")
    assert not pat.match("nope@10")


def test_ranking_dispatch_uses_each_records_function() -> None:
    rng = np.random.default_rng(0)
    hits = rng.random((20, 12)) < 0.3
    n_rel = rng.integers(1, 6, 20)
    out = ranking_metrics(hits, n_rel, (3, 12))
    assert set(out) == {(m, k) for m in RANKING_METRICS for k in (3, 12)}
    for m in METRIC_SPECS:
        if isinstance(m, RankingMetric):
            np.testing.assert_array_equal(out[(m.name, 3)], m.at_k(hits, n_rel, 3))


def test_rating_records_per_user_agree_with_per_user_errors() -> None:
    users = np.array([0, 0, 2, 2, 2])
    pred = np.array([3.0, 4.0, 2.0, 5.0, 1.0])
    actual = np.array([4.0, 4.0, 1.0, 5.0, 3.0])
    pu = per_user_errors(users, pred, actual, 4)
    for m in METRIC_SPECS:
        if isinstance(m, RatingMetric):
            np.testing.assert_array_equal(m.per_user(users, pred, actual, 4), pu[m.name])
            assert m.overall(pred, actual) == pytest.approx(
                {"rmse": np.sqrt(np.mean((pred - actual) ** 2)), "mae": 0.8}[m.name]
            )


# --------------------------------------------------------------------------------------------
# split kinds
# --------------------------------------------------------------------------------------------


def test_split_help_lists_every_kind_including_cold_start_and_none() -> None:
    from recbench.split import SPLIT_KINDS, split_help

    text = split_help()
    for kind in SPLIT_KINDS:
        assert kind.usage in text and kind.summary in text
    for usage in ("user-cold:F", "item-cold:F", "none", "kfold:N", "last:N", "holdout:F"):
        assert usage in text
    assert "none" not in split_help(exclude=("none",)).split(";")[-1]


def test_every_split_kind_record_parses_its_example_and_states_its_protocol() -> None:
    from recbench.split import SPLIT_KINDS, parse_split

    for kind in SPLIT_KINDS:
        spec = parse_split(kind.example)
        assert spec.record is kind and str(spec) == kind.example
        line = spec.describe(seed=7)
        assert line and "\n" not in line
        assert spec.cold == kind.cold
        assert spec.n_folds == (int(kind.example_value) if kind.multi_fold else 1)


def test_unknown_split_message_lists_every_kinds_example() -> None:
    from recbench.errors import UsageError
    from recbench.split import SPLIT_KINDS, parse_split

    with pytest.raises(UsageError) as info:
        parse_split("bogus:1")
    for kind in SPLIT_KINDS:
        assert kind.example in str(info.value)


def test_a_new_split_kind_is_one_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing, captions, naming and dispatch all follow a record added to the table."""
    from recbench import split as split_mod
    from recbench.split import SplitKind, make_split, parse_split
    from tests.test_split import make_dataset

    def first_n(ds, value, rng):  # type: ignore[no-untyped-def]
        folds = np.full(len(ds.interactions), -1, dtype=np.int32)
        folds[: int(value)] = 0
        return folds

    kind = SplitKind(
        "first",
        "count",
        "the first N interactions held out",
        lambda v, seed: f"the first {int(v)} interactions held out",
        first_n,
        example_value=2,
        minimum=1,
        minimum_text="N >= 1",
    )
    monkeypatch.setitem(split_mod.SPLIT_KIND_BY_NAME, "first", kind)
    ds = make_dataset([1, 1, 2, 2, 3], [1, 2, 1, 3, 2], [4, 3, 5, 2, 1])
    spec = parse_split("first:2")
    split = make_split(ds, spec, seed=0)
    assert len(split.test) == 2 and split.name == "first" and split.spec == "first:2"
    assert split.protocol == "the first 2 interactions held out"


def test_splits_carry_the_full_spec() -> None:
    from recbench.split import make_splits, parse_split
    from tests.test_split import make_dataset

    ds = make_dataset([1, 1, 2, 2, 3, 3], [1, 2, 1, 3, 2, 3], [4, 3, 5, 2, 1, 3])
    names = [(s.name, s.spec) for s in make_splits(ds, parse_split("kfold:3"), seed=0)]
    assert names == [("fold-1", "kfold:3"), ("fold-2", "kfold:3"), ("fold-3", "kfold:3")]
    (one,) = make_splits(ds, parse_split("holdout:0.3"), seed=0)
    assert (one.name, one.spec) == ("holdout", "holdout:0.3")
