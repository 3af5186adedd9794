"""The two-tower model's typed parameters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from recbench.algorithms.base import AlgoConfig


class TwoTowerConfig(AlgoConfig):
    dim: int = Field(64, ge=2, le=4096, description="output embedding size of both towers")
    hidden: int = Field(256, ge=1, le=16_384, description="hidden units of each tower's MLP")
    epochs: int = Field(20, ge=1, le=10_000, description="most training epochs")
    batch_size: int = Field(
        512, ge=2, le=1_000_000, description="(user, item) pairs per batch (in-batch negatives)"
    )
    lr: float = Field(3e-3, gt=0, description="Adam learning rate")
    temperature: float = Field(0.05, gt=0, description="softmax temperature on cosine scores")
    weight_decay: float = Field(0.0, ge=0, description="Adam L2 penalty")
    logq_correction: float = Field(
        1.5,
        ge=0,
        le=3,
        description="weight of the log-Q correction: 1 unbiased, above 1 favours popular items",
    )
    history_len: int = Field(50, ge=1, le=100_000, description="most recent items pooled")
    id_dropout: float = Field(
        0.3, ge=0, lt=1, description="probability of replacing an id by the unknown row"
    )
    patience: int = Field(5, ge=1, description="epochs without validation gain before stopping")
    val_fraction: float = Field(
        0.05, ge=0, lt=1, description="share of each user's training items held out to stop early"
    )
    hash_buckets: int = Field(
        2**14, ge=1, le=2**24, description="hash buckets for title words and tags"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when available, else CPU"
    )
    num_threads: int = Field(
        1, ge=0, description="CPU threads for torch while fitting (0: torch's default)"
    )
