"""Online evaluation: click models, A/B and interleaving simulation on held-out data, sample-size
planning, experiment-log analysis and sequential (peeking-safe) inference.

Modules: ``clicks`` (position-based and cascade click models), ``interleave`` (team-draft),
``simulate`` (held-out users -> simulated A/B log and interleaving), ``stats`` (delta method,
proportions, bootstrap, sample-ratio check), ``sequential`` (mSPRT confidence sequences and
group-sequential boundaries), ``power`` (sample sizes), ``logs`` (reading experiment logs),
``analysis`` (per-user table -> per-arm estimates and comparisons), ``report`` (result sections).
"""
