"""Graph collaborative filtering: closed-form graph filters (GF-CF), random walks (RP3beta) and
propagation on the user-item bipartite graph (LightGCN)."""
