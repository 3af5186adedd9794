"""Rating-prediction error metrics, overall and per user."""

from __future__ import annotations

import numpy as np

RATING_METRICS = ("rmse", "mae")


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """sqrt(mean((predicted - actual)^2)) over all test pairs (not a mean of per-user RMSEs)."""
    if len(actual) == 0:
        raise ValueError("RMSE of no ratings is undefined")
    err = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return float(np.sqrt(np.mean(err * err)))


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """mean(|predicted - actual|) over all test pairs."""
    if len(actual) == 0:
        raise ValueError("MAE of no ratings is undefined")
    err = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    return float(np.mean(np.abs(err)))


def per_user_errors(
    users: np.ndarray, predicted: np.ndarray, actual: np.ndarray, n_users: int
) -> dict[str, np.ndarray]:
    """Per-user RMSE and MAE (NaN for users without test ratings) and rating counts."""
    err = np.asarray(predicted, np.float64) - np.asarray(actual, np.float64)
    count = np.bincount(users, minlength=n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        sq = np.bincount(users, weights=err * err, minlength=n_users) / count
        ab = np.bincount(users, weights=np.abs(err), minlength=n_users) / count
    return {"rmse": np.sqrt(sq), "mae": ab, "count": count}
