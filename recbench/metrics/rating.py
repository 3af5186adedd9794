"""Rating-prediction error metrics, overall and per user."""

from __future__ import annotations

import numpy as np

from recbench.metrics.spec import RatingMetric


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


def per_user_rmse(
    users: np.ndarray, predicted: np.ndarray, actual: np.ndarray, n_users: int
) -> np.ndarray:
    """RMSE of each user's test pairs (NaN for users without any)."""
    return per_user_errors(users, predicted, actual, n_users)["rmse"]


def per_user_mae(
    users: np.ndarray, predicted: np.ndarray, actual: np.ndarray, n_users: int
) -> np.ndarray:
    """MAE of each user's test pairs (NaN for users without any)."""
    return per_user_errors(users, predicted, actual, n_users)["mae"]


#: The rating metrics, in display order (one record per metric; see recbench.metrics.spec).
RATING_SPECS: list[RatingMetric] = [
    RatingMetric(
        name="rmse",
        label="RMSE",
        higher_is_better=False,
        help="root mean squared error of predicted ratings, over all test pairs",
        default=True,
        overall=rmse,
        per_user=per_user_rmse,
        paired="mse",
        root=True,
    ),
    RatingMetric(
        name="mae",
        label="MAE",
        higher_is_better=False,
        help="mean absolute error of predicted ratings, over all test pairs",
        default=True,
        overall=mae,
        per_user=per_user_mae,
    ),
]
RATING_METRICS = [m.name for m in RATING_SPECS]
