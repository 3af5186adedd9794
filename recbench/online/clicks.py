"""Click models: how simulated users click on a ranked slate (Craswell et al. 2008).

Each slate position has an *attractiveness* a (the chance the user clicks the item once they have
looked at it) taken from held-out data: an item the user rated in the held-out part (and that is
relevant under the threshold) gets ``attract_relevant``, every other item ``attract_other``.

* ``position`` (position-based model, PBM; Craswell, Zoeter, Taylor & Ramsey 2008, "An
  experimental comparison of click position-bias models", WSDM; Richardson et al. 2007): the
  user examines rank r with probability e(r) independently of the rest and clicks when examined
  and attracted: P(click at r) = e(r) a(r). Examination ``log`` is e(r) = 1/log2(r + 1) (the DCG
  discount); ``power:ETA`` is e(r) = r^-eta (a curve fitted to eye-tracking/click logs, e.g.
  Joachims et al. 2005, Wang et al. 2018 eta ~ 1); or a comma list of e(1), e(2), ...
* ``cascade`` (Craswell et al. 2008): the user scans from the top and clicks the first
  attractive item, then stops: P(click at r) = a(r) prod_{j<r} (1 - a(j)).

Sessions: a user may see the slate in several sessions; clicks per position are drawn as
Binomial(sessions, P) under PBM and as a multinomial over "click at r / no click" under cascade.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recbench.errors import UsageError

KINDS = ("position", "cascade")


@dataclass(frozen=True)
class ClickModel:
    """A click model and its parameters (see the module docstring)."""

    kind: str = "position"
    examination: str = "log"
    attract_relevant: float = 0.7
    attract_other: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown click model '{self.kind}' (use position or cascade)")
        for name in ("attract_relevant", "attract_other"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got {v}")
        self.examination_curve(1)  # validate early

    def describe(self) -> str:
        if self.kind == "cascade":
            return (
                f"cascade click model (Craswell et al. 2008): attractiveness "
                f"{self.attract_relevant:g} for relevant held-out items, {self.attract_other:g} "
                "otherwise; scan from the top, stop at the first click"
            )
        exam = {"log": "1/log2(rank+1)"}.get(self.examination, self.examination)
        return (
            f"position-based click model (Craswell et al. 2008): examination {exam} x "
            f"attractiveness {self.attract_relevant:g} for relevant held-out items, "
            f"{self.attract_other:g} otherwise"
        )

    def examination_curve(self, k: int) -> np.ndarray:
        """Examination probability e(r) for ranks 1..k."""
        ranks = np.arange(1, k + 1, dtype=np.float64)
        spec = self.examination.strip().lower()
        if spec == "log":
            return 1.0 / np.log2(ranks + 1)
        if spec.startswith("power:"):
            try:
                eta = float(spec.partition(":")[2])
            except ValueError:
                raise UsageError(f"--examination power:ETA needs a number, got '{spec}'") from None
            if eta < 0:
                raise UsageError(f"--examination power:ETA needs ETA >= 0, got {eta}")
            return ranks**-eta
        try:
            values = np.array([float(v) for v in spec.split(",") if v.strip()])
        except ValueError:
            raise UsageError(
                f"--examination must be log, power:ETA or a comma list of probabilities, "
                f"got '{self.examination}'"
            ) from None
        if not len(values) or np.any((values < 0) | (values > 1)):
            raise UsageError("--examination probabilities must lie in [0, 1]")
        if len(values) < k:  # extend with the last value
            values = np.concatenate([values, np.full(k - len(values), values[-1])])
        return values[:k]

    def attractiveness(self, relevant: np.ndarray) -> np.ndarray:
        """Attractiveness per slate cell from a boolean 'relevant held-out item' matrix."""
        return np.where(relevant, self.attract_relevant, self.attract_other)

    def click_probabilities(self, attract: np.ndarray) -> np.ndarray:
        """P(click at rank r) per user and rank for one session, shape of ``attract``."""
        a = np.asarray(attract, dtype=np.float64)
        if self.kind == "position":
            return a * self.examination_curve(a.shape[1])[None, :]
        survive = np.cumprod(1 - a, axis=1)
        before = np.concatenate([np.ones((a.shape[0], 1)), survive[:, :-1]], axis=1)
        return a * before

    def sample(
        self, attract: np.ndarray, rng: np.random.Generator, sessions: int = 1
    ) -> np.ndarray:
        """Click counts per user and rank over ``sessions`` sessions (int64, shape of attract)."""
        p = self.click_probabilities(attract)
        if self.kind == "position":
            return rng.binomial(sessions, p).astype(np.int64)
        if sessions == 1:  # one categorical draw per user: click rank or none
            u = np.asarray(rng.random(p.shape[0]), dtype=np.float64)[:, None]
            cum = np.cumsum(p, axis=1)
            first = (u < cum).argmax(axis=1)
            clicked = u[:, 0] < cum[:, -1]
            out = np.zeros(p.shape, dtype=np.int64)
            out[np.flatnonzero(clicked), first[clicked]] = 1
            return out
        full = np.concatenate([p, np.clip(1 - p.sum(axis=1, keepdims=True), 0, 1)], axis=1)
        full /= full.sum(axis=1, keepdims=True)
        return rng.multinomial(sessions, full)[:, :-1].astype(np.int64)
