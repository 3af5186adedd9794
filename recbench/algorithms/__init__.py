"""Algorithms: the Recommender base class, the plugin table and the built-in families."""

from recbench.algorithms.base import AlgoConfig, Recommender
from recbench.algorithms.plugins import describe_all, load, make, names

__all__ = ["AlgoConfig", "Recommender", "describe_all", "load", "make", "names"]
