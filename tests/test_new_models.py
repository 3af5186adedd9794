"""ncf, cluster-ncf, multvae and text-svd learn planted structure on toy problems.

(The shared contract - shapes, determinism, save/load identity - is the conformance test in
test_algorithms.py, parametrised over every registered plugin, these included.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recbench.algorithms import make
from recbench.algorithms.neural.common import kmeans, validation_cut, validation_ndcg
from recbench.algorithms.text_svd import tfidf_matrix
from recbench.errors import UsageError

from .helpers import checkerboard, make_dataset

pytest.importorskip("torch")

FAST: dict[str, dict[str, Any]] = {
    "ncf": {"epochs": 15, "factors": 8, "layers": "16,8", "batch_size": 256},
    "cluster-ncf": {
        "epochs": 15,
        "factors": 8,
        "layers": "16,8",
        "batch_size": 256,
        "n_clusters": 2,
        "svd_factors": 4,
    },
    "multvae": {"hidden": 32, "latent": 8, "epochs": 150, "batch_size": 20},
}


def own_half_share(recs: np.ndarray, users: np.ndarray, n_items: int) -> float:
    half = n_items // 2
    own = np.where((users % 2 == 0)[:, None], recs < half, recs >= half)
    return float(own.mean())


@pytest.mark.parametrize("name", ["ncf", "cluster-ncf", "multvae"])
def test_neural_rankers_learn_the_checkerboard(name: str) -> None:
    """Loss falls over the epochs, and each user's own unseen half-items come first."""
    ds = checkerboard()
    losses: list[float] = []
    model = make(name, {**FAST[name], "val_fraction": 0.0}, seed=0)
    model.fit(ds, lambda step, of, loss: losses.append(loss))
    assert len(losses) >= 5 and losses[-1] < 0.85 * losses[0], losses
    users = np.arange(ds.n_users)
    recs, _ = model.recommend(users, 3, exclude=ds.interactions.csr("binary"))
    # NCF samples a user's few unseen own-half items as negatives too, so it is a little less
    # sure of them than the autoencoder, which never sees negatives
    assert own_half_share(recs, users, ds.n_items) >= (0.98 if name == "multvae" else 0.9)


@pytest.mark.parametrize("name", ["ncf", "multvae"])
def test_early_stopping_keeps_a_validated_epoch(name: str) -> None:
    ds = checkerboard()
    params = {**FAST[name], "patience": 2, "val_fraction": 0.2}
    model: Any = make(name, params, seed=1).fit(ds)
    assert 1 <= int(model.epochs_run_) <= params["epochs"]


def test_cluster_ncf_finds_the_groups_and_places_newcomers() -> None:
    ds = checkerboard()
    params = {**FAST["cluster-ncf"], "user_dropout": 0.3}
    model: Any = make("cluster-ncf", params, seed=0).fit(ds)
    clusters = np.asarray(model.user_cluster_)
    even, odd = clusters[0::2], clusters[1::2]
    assert len(set(even)) == 1 and len(set(odd)) == 1 and even[0] != odd[0]
    # a newcomer who rated three items of the first half belongs with the even users
    half = ds.n_items // 2
    history = sp.csr_array((np.full(3, 5.0), ([0, 0, 0], [0, 1, 2])), shape=(1, ds.n_items))
    assert model.clusters_of(history)[0] == even[0]
    scores = model.score_history(history)
    assert scores.shape == (1, ds.n_items)
    unseen = np.setdiff1d(np.arange(ds.n_items), [0, 1, 2])
    top = unseen[np.argsort(-scores[0, unseen], kind="stable")[:5]]
    assert np.sum(top < half) >= 4
    assert scores[0, 3:half].mean() > scores[0, half:].mean()


def test_cluster_ncf_refuses_more_clusters_than_users() -> None:
    ds = checkerboard(n_users=6)
    with pytest.raises(UsageError, match="n_clusters=7 is more than the 6 users"):
        make("cluster-ncf", {"n_clusters": 7, "epochs": 1}).fit(ds)


def test_multvae_scores_a_history() -> None:
    ds = checkerboard()
    model = make("multvae", FAST["multvae"], seed=0).fit(ds)
    history = sp.csr_array((np.ones(3), ([0, 0, 0], [16, 17, 18])), shape=(1, ds.n_items))
    scores = model.score_history(history)[0]
    unseen = np.setdiff1d(np.arange(ds.n_items), [16, 17, 18])
    top = unseen[np.argsort(-scores[unseen], kind="stable")[:5]]
    assert np.all(top >= ds.n_items // 2)


def test_kmeans_recovers_planted_clusters_deterministically() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = np.repeat(np.arange(3), 50)
    x = centres[truth] + rng.normal(scale=0.5, size=(150, 2))
    cents, labels = kmeans(x, 3, seed=4)
    # same partition as the truth, up to relabelling
    pairs = {(int(t), int(lab)) for t, lab in zip(truth, labels, strict=True)}
    assert len(pairs) == 3
    again, labels2 = kmeans(x, 3, seed=4)
    np.testing.assert_array_equal(labels, labels2)
    np.testing.assert_array_equal(cents, again)


def test_validation_cut_and_ndcg() -> None:
    ds = checkerboard()
    fit_part, held = validation_cut(ds, 0.25, seed=0)
    assert len(fit_part.interactions) + held.nnz == len(ds.interactions)
    assert np.all(np.diff(held.indptr) >= 1)
    seen = sp.csr_array(fit_part.interactions.csr("binary"))
    oracle = validation_ndcg(lambda u: held[u].toarray().astype(np.float32), seen, held)
    assert oracle == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = validation_ndcg(lambda u: rng.random((len(u), ds.n_items)), seen, held)
    assert noise < 0.6


# -- text-svd ------------------------------------------------------------------------------
def genre_world(seed: int = 0):  # type: ignore[no-untyped-def]
    """Two user groups; group A rates 'alpha' films 5 and 'beta' films 1, group B the reverse.
    Items 0 and 1 (alpha) and 28 and 29 (beta) have no ratings at all."""
    rng = np.random.default_rng(seed)
    n_users, n_items, half = 40, 30, 15
    grid_u, grid_i = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    u, i = grid_u.ravel(), grid_i.ravel()
    likes = (u % 2 == 0) == (i < half)
    r = np.where(likes, 5.0, 1.0)
    cold = np.isin(i, [0, 1, 28, 29])
    held = (rng.random(len(u)) < 0.2) & ~cold
    train = ~held & ~cold
    genres = np.where(np.arange(n_items) < half, "Alpha", "Beta")
    titles = [
        f"{'Sunny' if g == 'Alpha' else 'Gloomy'} film {k} (1999)" for k, g in enumerate(genres)
    ]
    frame = pd.DataFrame({"title": titles, "genres": genres, "tags": [""] * n_items})
    ds = make_dataset(u[train], i[train], r[train], n_users=n_users, n_items=n_items)
    from dataclasses import replace

    ds = replace(ds, item_features=frame, rating_scale=(1.0, 5.0))
    return ds, (u[held], i[held], r[held])


def test_tfidf_matrix_reads_titles_genres_and_tags() -> None:
    frame = pd.DataFrame(
        {
            "title": ["Toy Story (1995)", "Toy Soldiers (1991)", "Heat (1995)"],
            "genres": ["Animation|Comedy", "Action", "Action|Crime"],
            "tags": ["pixar|fun", "", "pixar"],
        }
    )
    x = tfidf_matrix(frame, 3, min_df=2)
    assert x.shape == (3, 4)  # in two items or more: w:toy, g:action, t:pixar, tw:pixar
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    # 4 title words (the year in parentheses is not one), 4 genres, 2 tags, 2 tag words
    assert tfidf_matrix(frame, 3, min_df=1).shape[1] == 12


def test_text_svd_learns_ratings_and_rates_cold_items_from_text() -> None:
    ds, (hu, hi, hr) = genre_world()
    losses: list[float] = []
    model = make("text-svd", {"n_factors": 4, "lr": 0.01, "val_fraction": 0.0, "epochs": 80})
    model.fit(ds, lambda step, of, loss: losses.append(loss))
    assert losses[-1] < 0.5 * losses[0]
    pred = model.predict(hu, hi)
    assert np.sqrt(np.mean((pred - hr) ** 2)) < 0.6
    users = np.arange(40)
    cold_alpha = model.predict(users, np.zeros(40, np.int64))
    cold_beta = model.predict(users, np.full(40, 29))
    even = users % 2 == 0
    assert cold_alpha[even].mean() > 4 and cold_alpha[~even].mean() < 2
    assert cold_beta[even].mean() < 2 and cold_beta[~even].mean() > 4


def test_text_svd_without_text_is_plain_biased_mf() -> None:
    ds, (hu, hi, hr) = genre_world()
    from dataclasses import replace

    model = make("text-svd", {"n_factors": 4, "lr": 0.01, "val_fraction": 0.0, "epochs": 80})
    model.fit(replace(ds, item_features=None))
    assert np.sqrt(np.mean((model.predict(hu, hi) - hr) ** 2)) < 0.6
    assert np.all(np.isfinite(model.score(np.arange(4))))
