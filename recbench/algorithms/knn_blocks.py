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
product (each pair of x's rating the same y), about 5 ns each with scipy on one core. The products
call scipy's numeric kernel directly with a cheap upper bound on the output size (scipy's own
``@`` first runs a symbolic pass of the same cost, ~30% of the time) and add the result straight
into a dense buffer. scipy's sparse kernels release the GIL (two threads: 1.95x one on two cores),
and so do numpy's selections and gathers, so :func:`map_blocks` runs blocks in threads: no
processes to fork (which a Dask worker, a daemon, may not do) and no copies of the inputs.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

try:  # scipy's numeric sparse kernels (private, stable for many releases); else plain ``@``
    from scipy.sparse import _sparsetools
except ImportError:  # pragma: no cover
    _sparsetools = None

#: dense (rows x n) float64 arrays alive at the peak of one block of each rating similarity,
#: the sparse product result (12 bytes an entry) included
BLOCK_ARRAYS = {"msd": 6, "cosine": 6, "pearson": 10, "pearson_baseline": 7}
#: dense (rows x n) 8-byte arrays alive while one block of ranking neighbourhoods is selected
#: (float32 similarities, their negation and copy, int64 argpartition indices, sparse result)
RANK_ARRAYS = 5
#: bytes one stored training entry costs in the blockwise structures at most (both orientations:
#: an int32 index and three float64 channels each, the float64 ratings, an int32 position and
#: msd's y-major -2 x ratings)
ENTRY_BYTES = 2 * (4 + 3 * 8) + 8 + 4 + 8


def cores() -> int:
    """CPU cores this process may use (as :func:`recbench.ranking.cores`, a layer above)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def map_blocks(task: Callable[[int], Any], n_blocks: int, workers: int) -> Iterator[Any]:
    """``task(0), task(1), ...`` in order, in ``workers`` threads when more than one.

    At most ``workers`` blocks are in flight (memory: one block each); a task's exception is
    raised here, after the blocks in flight finish."""
    workers = min(workers, n_blocks)
    if workers <= 1:
        yield from map(task, range(n_blocks))
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="recbench-block") as pool:
        running: deque[Future[Any]] = deque()
        for b in range(n_blocks):
            if len(running) == workers:
                yield running.popleft().result()
            running.append(pool.submit(task, b))
        while running:
            yield running.popleft().result()


def dense_product(
    a: sp.csr_array, b: sp.csr_array, out: np.ndarray, buf: dict[str, np.ndarray]
) -> np.ndarray:
    """``out += a @ b`` (``out`` dense, C-contiguous, of the product's dtype), the same sums in
    the same order as scipy's ``(a @ b).toarray()``; ``buf`` keeps the CSR output arrays
    between calls with the same ``a`` structure."""
    if _sparsetools is None:  # pragma: no cover
        out += (a @ b).toarray()
        return out
    n_row, n_col = a.shape[0], b.shape[1]
    idx = a.indices.dtype
    if "bound" not in buf:  # each row's output at most min(n_col, its y's degrees summed)
        per = np.diff(b.indptr)[a.indices].astype(np.int64)
        cs = np.concatenate([[0], np.cumsum(per)])
        buf["bound"] = np.minimum(cs[a.indptr[1:]] - cs[a.indptr[:-1]], n_col)
    nnz = max(int(buf["bound"].sum()), 1)
    key = f"x{out.dtype.str}"
    if len(buf.get(key, ())) < nnz:
        buf[key] = np.empty(nnz, out.dtype)
        buf["j"] = np.empty(nnz, idx)
        buf["p"] = np.empty(n_row + 1, idx)
    cp, cj, cx = buf["p"], buf["j"], buf[key]
    b_ind, b_ptr = np.asarray(b.indices, idx), np.asarray(b.indptr, idx)
    a_ptr = np.asarray(a.indptr, idx)
    _sparsetools.csr_matmat(
        n_row, n_col, a_ptr, a.indices, a.data, b_ptr, b_ind, b.data, cp, cj, cx
    )
    _sparsetools.csr_todense(n_row, n_col, cp, cj, cx, out)  # adds
    return out


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
    rows_of: Callable[[np.ndarray], np.ndarray], n: int, k: int, block_rows: int, workers: int = 1
) -> sp.csr_array:
    """Each row's ``k`` most similar other rows with positive similarity, computing the
    similarity ``block_rows`` rows at a time with ``rows_of(row indices)`` (in ``workers``
    threads, see :func:`map_blocks`)."""
    k = min(k, max(n - 1, 1))
    starts: Sequence[int] = range(0, n, block_rows)

    def task(b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        start = starts[b]
        return select_top(rows_of(np.arange(start, min(start + block_rows, n))), start, k)

    rows, cols, vals = [], [], []
    for r, c, v in map_blocks(task, len(starts), workers):
        rows.append(r)
        cols.append(c)
        vals.append(v)
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

    def prepare(self, binary: bool) -> None:
        """Build every channel :meth:`rating_rows` (or :meth:`binary_rows`) uses, before blocks
        run in threads (which then only read them)."""
        if binary:
            self._channel("m32")
            self._norms = np.sqrt(self.degree.astype(np.float32)).astype(np.float32)
            return
        for key in ("m", "r", "r2"):
            self._channel(key)
        if self.name == "msd" and "-2r" not in self._yt:
            n_y, n_x = self._shape
            self._yt["-2r"] = sp.csr_array((-2 * self._r, self._ind, self._ptr), shape=(n_y, n_x))

    def _products(self, rows: np.ndarray) -> Callable[..., np.ndarray]:
        """``p(a, b, out=None)``: ``out`` (zeros when None) plus the dense (len(rows), n_x)
        product of x-major channel ``a`` (those rows) with the transpose of channel ``b``."""
        buf: dict[str, np.ndarray] = {}
        sliced: dict[str, sp.csr_array] = {}

        def p(a: str, b: str, out: np.ndarray | None = None) -> np.ndarray:
            if a not in sliced:
                sliced[a] = self._xm[a][rows]
            if out is None:
                out = np.zeros((len(rows), self.n_x), self._yt[b].dtype)
            return dense_product(sliced[a], self._yt[b], out, buf)

        return p

    def rating_rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` of :func:`recbench.algorithms.knn.similarity_matrix` (float64)."""
        rows = np.asarray(rows, np.int64)
        self.prepare(False)
        p = self._products(rows)
        name = self.name
        # cosine with min_support 1 needs no counts: no co-rating already gives 0 / 0 -> 0
        skip = name == "cosine" and self.min_support <= 1
        freq = np.ones(1) if skip else p("m", "m")
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "pearson_baseline":
                prods = p("r", "r")
                denom = np.sqrt(p("r2", "m") * p("m", "r2"))
                sim = prods / denom
                del prods, denom
                sim *= (freq - 1) / (freq - 1 + self.shrinkage)
                sim[freq < max(2, self.min_support)] = 0
            elif name == "msd":
                # the dense (X2 M' + its transpose) - 2 X X', each sum added in place: the
                # -2 scaling is exact, so the same bits
                sq = p("m", "r2", p("r2", "m"))
                p("r", "-2r", sq)
                sq /= freq
                sq += 1
                sim = np.reciprocal(sq, out=sq)
                sim[freq < self.min_support] = 0
            elif name == "cosine":
                prods = p("r", "r")
                denom = np.sqrt(p("r2", "m") * p("m", "r2"))
                sim = np.divide(prods, denom, out=prods)
                del denom
                if not skip:
                    sim[freq < self.min_support] = 0
            elif name == "pearson":
                si = p("r", "m")
                sj = p("m", "r")  # the dense si.T
                num = freq * p("r", "r")
                num -= si * sj
                a = freq * p("r2", "m")
                a -= si * si
                a_t = freq * p("m", "r2")
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
        self.prepare(True)
        co = self._products(rows)("m32", "m32")
        with np.errstate(divide="ignore", invalid="ignore"):
            co /= self._norms[rows][:, None]
            co /= self._norms[None, :]
        return np.nan_to_num(co, copy=False)


def pass_work(train_y: np.ndarray, n_y: int) -> float:
    """Multiply-adds of one sparse product over all rows: pairs of x's sharing a y."""
    deg = np.bincount(train_y, minlength=n_y).astype(np.float64)
    return float(deg @ deg)
