# A notebook-style tour of the Python API (the README shows this; tests/test_api.py runs it).
import recbench

# Compare algorithms on the bundled ml-latest-small like `recbench compare`; recorded in the store.
res = recbench.compare(["popularity", "baseline", "svd[n_factors=20]"], k=[5, 10])
print(res.summary().query("metric == 'ndcg'")[["algorithm", "k", "mean"]])

rows = res.to_frame()  # tidy rows: dataset, split, fold, algorithm, params, metric, k, value, ...
per_user = res.to_frame("per_user")  # one row per (algorithm, fold, user), one column per metric
best = rows[rows.metric == "ndcg"].sort_values("value", ascending=False).iloc[0]
print(f"best NDCG@{best.k}: {best.algorithm} {best.value:.4f}")

# A study given as a dict (or a path to a TOML file): grids expand to one row per combination.
study = {
    "k": [10],
    "algorithms": [
        {"name": "popularity"},
        {"name": "baseline", "params": {"n_epochs": [2, 10]}},
    ],
}
grid = recbench.run(study)
print(grid.summary().query("metric == 'rmse'")[["algorithm", "mean"]])

# The results store: every run so far, newest last.
print(recbench.runs()[["run_id", "kind", "status", "cells"]].tail(3))
