"""Two-tower neural retrieval (user tower x item tower), trained with in-batch sampled softmax.

The item tower reads an item's id plus its content (genres, release decade, hashed title words and
tags); the user tower reads the user's id, their demographics when the dataset has them (bucketed
age, gender, occupation) and the mean of embeddings of their most recent training items. Both end
in a small MLP and are L2-normalised, so a score is a cosine and the item vectors can go straight
into an approximate nearest-neighbour index (:mod:`recbench.algorithms.ann`).

Training treats every interaction as a positive (implicit feedback, like ALS) and uses the other
items of a batch as negatives: a softmax over ``user . item / temperature`` with the log of each
item's sampling probability subtracted (the log-Q correction of Yi et al. 2019, which stops
popular items from being over-penalised for appearing as negatives more often). A weight of 1 makes
the in-batch softmax an unbiased estimate of the full one; the default 1.5 leans the learned scores
a little further towards popular items, which measured best on ml-100k (per-user 25% holdout,
NDCG@10 about 0.45 at 1.5, 0.43 at 1.0, 0.33 at 0.5 and 0.09 without correction). Ids are dropped
to a shared "unknown" row with probability ``id_dropout`` so that the feature paths learn too:
that is what lets the model embed items and users unseen in training (``inductive``). A seeded
share of each user's training interactions is held out to stop training early (best epoch kept).

Fitting is seeded and deterministic on CPU (the same scores for any thread count); the global
torch RNG and torch's thread and determinism settings are restored afterwards. One CPU thread is the
default: batches are small (512 x 64), so more threads gain little, and on a shared machine they
can lose a lot to oversubscription. A CUDA device is used when available. Scoring a
fitted (or loaded) model needs no torch at all: user and item vectors are precomputed numpy
arrays. The network's weights are saved as plain arrays (``net__<parameter>``) inside the model
directory's ``arrays.npz``, so loading never unpickles anything.

Modules: :mod:`.features` (numpy encoding of items and users), :mod:`.network` (the torch
towers), :mod:`.training` (the loop and early stopping), :mod:`.model` (the Recommender).
torch is imported inside functions only, so ``import recbench`` stays light.
"""

from recbench.algorithms.two_tower.config import TwoTowerConfig
from recbench.algorithms.two_tower.model import TwoTowerRecommender

__all__ = ["TwoTowerConfig", "TwoTowerRecommender"]
