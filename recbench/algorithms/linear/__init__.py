"""Linear item-item models: a user's scores are their binary training row times an item x item
weight matrix (SLIM; the shared sparse-weights base that RP3beta and GF-CF also use)."""
