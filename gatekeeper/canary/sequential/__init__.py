"""Anytime-valid canary statistics (issue 15, section 1): pure, vectorised, I/O-free.

Three tests, each a function over whole arrays of windows (one look per window) that returns a
``SequentialResult`` with the e-value, the always-valid p-value, a confidence sequence and the first look at
which the test fires. Their false-abort probability is at most ``alpha`` over the whole canary, however often
and for however long it is looked at:

* ``rate_ratio``: error or exception counts, canary vs holdout rate ratio (conditional binomial mixture);
* ``p99_ratio``: p99 latency, a sequential sign test on the canary/holdout p99 ratio;
* ``mean_difference``: a safety metric, canary - holdout difference of means (sub-Gaussian mixture).

No library does this for us: ``savvi`` solves a convex program per observation (cvxpy) and assumes fixed
assignment probabilities, ``confseq`` needs a C++ build and plotting dependencies, and ``expectation``
requires Python 3.12. The closed forms are short; each module cites its source and the tests check each
against brute-force simulation and hand computation.
"""

from gatekeeper.canary.sequential.latency import p99_ratio
from gatekeeper.canary.sequential.means import mean_difference
from gatekeeper.canary.sequential.rates import rate_ratio
from gatekeeper.canary.sequential.result import SequentialResult

__all__ = ["SequentialResult", "mean_difference", "p99_ratio", "rate_ratio"]
