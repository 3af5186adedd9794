"""Blockwise k-NN similarities for catalogues whose dense n x n similarity does not fit.

:class:`SimilarityRows` computes a block of rows of the same similarities as
:func:`recbench.algorithms.knn.similarity_matrix` and
:func:`recbench.algorithms.knn.binary_cosine` (``rows x n``, never ``n x n``) from sparse
products of those rows against the whole training matrix. Every row entry is the same
arithmetic on the same operands in the same order as the dense path (each sparse product sums
over the co-rated entries in ascending order either way, and ``sqi.T`` of the dense path is the
product with the operands swapped), so the rows are bitwise the dense rows; the tests check it.

:func:`top_neighbours_blockwise` keeps each row's ``k`` best positive entries with the same
selection code as the dense :func:`recbench.algorithms.knn.top_neighbours` (:func:`select_top`),
so ties resolve identically.

The work of one full pass over all rows is ``sum over y of deg(y)^2`` multiply-adds per sparse
product (each pair of x's rating the same y), about 10 ns each with scipy on one core.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

#: dense (rows x n) float64 arrays alive at the peak of one block of each rating similarity,
#: the sparse product result (12 bytes an entry) included
BLOCK_ARRAYS = {"msd": 6, "cosine": 6, "pearson": 10, "pearson_baseline": 7}
#: dense (rows x n) 8-byte arrays alive while one block of ranking neighbourhoods is selected
#: (float32 similarities, their negation and copy, int64 argpartition indices, sparse result)
RANK_ARRAYS = 5
#: bytes one stored training entry costs in the blockwise structures at most (both orientations:
#: an int32 index and three float64 channels each, the float64 ratings and an int32 position)
ENTRY_BYTES = 2 * (4 + 3 * 8) + 8 + 4


def select_top(part: np.ndarray, start: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, values) of the ``k`` largest positive entries of each row of ``part``, the
    rows ``start, start + 1, ...`` of an n x n similarity; the diagonal entry is excluded.

    ``part`` is overwritten. ``k`` is at most n - 1 (or 1), as :func:`top_neighbours` clips it.
    """
    n = part.shape[1]
    idx = np.arange(part.shape[0])
    part[idx, start + idx] = -np.inf
    if k < n:
        sel = np.argpartition(-part, k - 1, axis=1)[:, :k]
    else:
        sel = np.broadcast_to(np.arange(n), part.shape)
    v = np.take_along_axis(part, sel, axis=1)
    keep = v > 0
    rows = np.broadcast_to(idx[:, None] + start, sel.shape)[keep]
    return rows, sel[keep], v[keep]


def neighbour_csr(
    rows: list[np.ndarray], cols: list[np.ndarray], vals: list[np.ndarray], n: int
) -> sp.csr_array:
    """The n x n sparse neighbourhood matrix from the blocks :func:`select_top` returned."""
    out = sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    out.sort_indices()
    return out


def top_neighbours_blockwise(
    rows_of: Callable[[np.ndarray], np.ndarray], n: int, k: int, block_rows: int
) -> sp.csr_array:
    """Each row's ``k`` most similar other rows with positive similarity, computing the
    similarity ``block_rows`` rows at a time with ``rows_of(row indices)``."""
    k = min(k, max(n - 1, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, block_rows):
        part = rows_of(np.arange(start, min(start + block_rows, n)))
        r, c, v = select_top(part, start, k)
        rows.append(r)
        cols.append(c)
        vals.append(v)
        del part
    return neighbour_csr(rows, cols, vals, n)


def _index_dtype(nnz: int, n: int) -> type[np.integer]:
    return np.int32 if max(nnz, n) < np.iinfo(np.int32).max else np.int64


class SimilarityRows:
    """Rows of the k-NN similarities of the x entities (users or items) over their co-rated
    y's, from the training ratings listed per y (``indptr`` over y, ``xs`` and ``ratings`` in
    any order within a y: the x's who rated it and their ratings).

    Holds the ratings in both orientations (x-major rows sorted by y, as the dense path's
    canonical CSR; y-major as given) with the channels a similarity needs, about
    :data:`ENTRY_BYTES` per rating.
    """

    def __init__(
        self,
        indptr: np.ndarray,
        xs: np.ndarray,
        ratings: np.ndarray,
        n_x: int,
        name: str,
        min_support: int = 1,
        shrinkage: float = 100.0,
        mu: float = 0.0,
        bx: np.ndarray | None = None,
        by: np.ndarray | None = None,
    ) -> None:
        n_y = len(indptr) - 1
        self.n_x, self.name = n_x, name
        self.min_support, self.shrinkage = min_support, shrinkage
        dt = _index_dtype(len(xs), max(n_x, n_y))
        ptr = np.asarray(indptr, dt)
        ind = np.asarray(xs, dt)
        r = np.asarray(ratings, np.float64)
        if name == "pearson_baseline":
            assert bx is not None and by is not None
            ys = np.repeat(np.arange(n_y), np.diff(indptr))
            r = r - ((mu + by[ys]) + bx[np.asarray(xs, np.int64)])  # the dense path's d
            del ys
        # y-major (y x n_x) channels share one index structure, and so do the x-major ones
        pos = sp.csr_array((np.arange(1, len(ind) + 1), ind, ptr), shape=(n_y, n_x))
        xm = pos.T.tocsr()  # rows sorted by y: the dense path's summation order
        self._order = np.asarray(xm.data - 1, dt)  # each x-major entry's y-major position
        self._ind, self._ptr = ind, ptr
        self._xind, self._xptr = np.asarray(xm.indices, dt), np.asarray(xm.indptr, dt)
        del pos, xm
        self._r = r
        self._shape = (n_y, n_x)
        self.degree = np.diff(self._xptr)
        self._yt: dict[str, sp.csr_array] = {}
        self._xm: dict[str, sp.csr_array] = {}

    def _channel(self, key: str) -> None:
        """Build channel ``key`` ("m", "r", "r2": float64 ones, ratings, squares; "m32":
        float32 ones) in both orientations, on first use."""
        if key in self._yt:
            return
        values: np.ndarray
        if key == "m32":
            values = np.ones(len(self._ind), np.float32)
        elif key == "m":
            values = np.ones(len(self._ind))
        else:
            values = self._r if key == "r" else self._r * self._r
        n_y, n_x = self._shape
        self._yt[key] = sp.csr_array((values, self._ind, self._ptr), shape=(n_y, n_x))
        x_values = values[self._order] if key in ("r", "r2") else values
        self._xm[key] = sp.csr_array((x_values, self._xind, self._xptr), shape=(n_x, n_y))

    def _prod(self, a: str, b: str, rows: np.ndarray) -> np.ndarray:
        """Dense (len(rows), n_x) product of x-major channel ``a`` (those rows) with the
        transpose of x-major channel ``b``."""
        self._channel(a)
        self._channel(b)
        out = (self._xm[a][rows] @ self._yt[b]).toarray()
        return np.ascontiguousarray(out, dtype=np.float64)

    def rating_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of :func:`recbench.algorithms.knn.similarity_matrix` (float64)."""
        rows = np.asarray(rows, np.int64)
        p = self._prod
        name = self.name
        # cosine with min_support 1 needs no counts: no co-rating already gives 0 / 0 -> 0
        skip = name == "cosine" and self.min_support <= 1
        freq = np.ones(1) if skip else p("m", "m", rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "pearson_baseline":
                prods = p("r", "r", rows)
                denom = np.sqrt(p("r2", "m", rows) * p("m", "r2", rows))
                sim = prods / denom
                del prods, denom
                sim *= (freq - 1) / (freq - 1 + self.shrinkage)
                sim[freq < max(2, self.min_support)] = 0
            elif name == "msd":
                sq = p("r2", "m", rows)
                sq += p("m", "r2", rows)
                sq -= 2 * p("r", "r", rows)
                sq /= freq
                sq += 1
                sim = np.reciprocal(sq, out=sq)
                sim[freq < self.min_support] = 0
            elif name == "cosine":
                prods = p("r", "r", rows)
                denom = np.sqrt(p("r2", "m", rows) * p("m", "r2", rows))
                sim = np.divide(prods, denom, out=prods)
                del denom
                if not skip:
                    sim[freq < self.min_support] = 0
            elif name == "pearson":
                si = p("r", "m", rows)
                sj = p("m", "r", rows)  # the dense si.T
                num = freq * p("r", "r", rows)
                num -= si * sj
                a = freq * p("r2", "m", rows)
                a -= si * si
                a_t = freq * p("m", "r2", rows)
                a_t -= sj * sj
                del si, sj
                a *= a_t
                del a_t
                denom = np.sqrt(np.maximum(a, 0))
                del a
                sim = np.divide(num, denom, out=num)
                del denom
                sim[freq < self.min_support] = 0
            else:  # pragma: no cover - the config validates the name
                raise ValueError(f"unknown similarity '{name}'")
        sim[~np.isfinite(sim)] = 0
        sim[np.arange(len(rows)), rows] = 1.0
        return sim

    def binary_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of :func:`recbench.algorithms.knn.binary_cosine` (float32)."""
        rows = np.asarray(rows, np.int64)
        if "m32" not in self._yt:
            self._channel("m32")
            self._norms = np.sqrt(self.degree.astype(np.float32)).astype(np.float32)
        co = (self._xm["m32"][rows] @ self._yt["m32"]).toarray()
        with np.errstate(divide="ignore", invalid="ignore"):
            co /= self._norms[rows][:, None]
            co /= self._norms[None, :]
        return np.nan_to_num(co, copy=False)


def pass_work(train_y: np.ndarray, n_y: int) -> float:
    """Multiply-adds of one sparse product over all rows: pairs of x's sharing a y."""
    deg = np.bincount(train_y, minlength=n_y).astype(np.float64)
    return float(deg @ deg)
