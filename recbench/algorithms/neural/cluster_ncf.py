"""cluster-ncf: users clustered by k-means, the cluster fed to NeuMF as a feature.

Clustering step. Each user's binary training row is L2-normalised and projected onto the top
``svd_factors`` right singular vectors of that normalised matrix (a truncated SVD, i.e. the
users' latent factors), the projection is L2-normalised again, and k-means (k-means++ seeding,
Lloyd iterations; :func:`~recbench.algorithms.neural.common.kmeans`) groups the users. Latent
factors rather than raw rating profiles: raw rows are sparse vectors in as many dimensions as
there are items, where nearly every pair of users is orthogonal and k-means mostly sorts users by
activity; a few dozen factors keep the taste signal and make distances meaningful. The same
projection places a newcomer from their history alone (``history @ V``), so the nearest centroid
is their cluster.

Model step. NeuMF (He et al. 2017; :mod:`recbench.algorithms.neural.ncf`) with a cluster
embedding added to the user embedding in both branches. One shared model with a cluster feature
rather than one model per cluster, by design (not measured against it): per-cluster models would
each see a fraction of the data (about 120 users per model on ml-100k with 8 clusters) and learn
separate item embeddings from it, while the shared model learns item embeddings from everyone and
lets the cluster shift a user's position. While training, the user id is replaced with
probability ``user_dropout`` by an "unknown user" row, so the cluster path learns to stand alone:
that is how a user unseen in training is scored from a history (``cold_users``) without refitting.
The k-means + collaborative-filtering pairing follows e.g. Ungar & Foster 1998 and
Xue et al. 2005 ("Scalable collaborative filtering using cluster-based smoothing").
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recbench.algorithms.neural.common import assign, kmeans
from recbench.algorithms.neural.ncf import NCFConfig, NCFRecommender
from recbench.algorithms.space import Float, Int, Space
from recbench.data.model import Dataset
from recbench.errors import UsageError


class ClusterNCFConfig(NCFConfig):
    n_clusters: int = Field(8, ge=1, le=100_000, description="k-means clusters of users")
    svd_factors: int = Field(32, ge=1, le=4096, description="latent factors clustered")
    user_dropout: float = Field(
        0.1, ge=0, lt=1, description="probability of training a pair as an unknown user"
    )


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _normalised_binary(x: sp.csr_array) -> sp.csr_array:
    x = sp.csr_array(x, dtype=np.float64)
    x.data = np.ones_like(x.data)
    norms = np.sqrt(np.diff(x.indptr).astype(np.float64))
    return sp.csr_array(sp.diags_array(1.0 / np.maximum(norms, 1.0)) @ x)


class ClusterNCFRecommender(NCFRecommender):
    """NeuMF with a k-means user-cluster feature; scores newcomers from their history."""

    description = "k-means user clusters (on SVD factors) fed to NeuMF as a feature (torch)"
    cold_users = True
    Config: ClassVar[type[ClusterNCFConfig]] = ClusterNCFConfig  # type: ignore[misc]
    search_space: ClassVar[Space] = {
        **NCFRecommender.search_space,
        "n_clusters": Int(2, 64, log=True),
        "user_dropout": Float(0.0, 0.5),
    }
    state_attrs: ClassVar[tuple[str, ...]] = (
        "epochs_run_",
        "V_",
        "centroids_",
        "user_cluster_",
    )

    def _cfg(self) -> ClusterNCFConfig:
        cfg = self.config
        assert isinstance(cfg, ClusterNCFConfig)
        return cfg

    def _user_dropout(self) -> float:
        return self._cfg().user_dropout

    def _prepare_groups(self, train: Dataset) -> int:
        from scipy.sparse.linalg import svds

        cfg = self._cfg()
        x = _normalised_binary(train.interactions.csr("binary"))
        active = np.flatnonzero(np.diff(x.indptr) > 0)
        if cfg.n_clusters > len(active):
            raise UsageError(
                f"cluster-ncf: n_clusters={cfg.n_clusters} is more than the {len(active)} users "
                f"with training interactions in {train.name}"
            )
        k = min(cfg.svd_factors, min(x.shape) - 1)
        if k >= 1:
            v0 = np.random.default_rng(self.seed).standard_normal(min(x.shape))
            _, _, vt = svds(x, k=k, v0=v0, random_state=self.seed)
            order = np.argsort(np.abs(vt).sum(axis=1), kind="stable")  # fixed order
            self.V_ = np.ascontiguousarray(vt[order].T, dtype=np.float64)
        else:
            self.V_ = np.eye(x.shape[1], dtype=np.float64)
        feats = _unit_rows(np.asarray(x @ self.V_))
        centroids, _ = kmeans(feats[active], cfg.n_clusters, self.seed)
        self.centroids_ = centroids
        self.user_cluster_ = assign(feats, centroids).astype(np.int64)
        return cfg.n_clusters

    def _groups(self, users: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_cluster_, np.int64)[np.asarray(users, np.int64)]

    def clusters_of(self, history: sp.csr_array) -> np.ndarray:
        """The cluster of each user known only by ``history`` (n x n_items)."""
        self.check_is_fitted()
        feats = _unit_rows(np.asarray(_normalised_binary(history) @ np.asarray(self.V_)))
        return assign(feats, np.asarray(self.centroids_)).astype(np.int64)

    def score_history(self, history: sp.csr_array) -> np.ndarray:
        groups = self.clusters_of(history)
        unknown = np.full(len(groups), self.n_users_, dtype=np.int64)
        return self._score_rows(unknown, groups)

    def set_state(self, state: dict[str, Any]) -> ClusterNCFRecommender:
        super().set_state(state)
        self.user_cluster_ = np.asarray(self.user_cluster_, np.int64)
        return self
