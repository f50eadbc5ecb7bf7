"""Canary auto-abort rules (DESIGN §8, seed 002 §5.3): pure, vectorised functions over metric windows.

Windows are 5-minute aggregates for three groups: ``canary``, ``holdout`` (champion traffic during the
canary) and ``baseline`` (champion traffic in the hour before the canary started). Canary and holdout
windows are paired by ``start``. Rules, thresholds from the target policy's ``abort_rules``:

1. ``safety``: a safety metric (higher is better) of the canary is more than ``safety_sigma``·σ below the
   holdout for more than ``safety_minutes``; σ is the holdout's window-to-window standard deviation
   (ddof=1) of that metric over the trailing 24 h, or the baseline's while the trailing 24 h hold fewer than
   12 holdout windows with the metric;
2. ``error_rate``: canary error rate > ``error_ratio`` × holdout error rate for more than ``error_minutes``;
3. ``latency_p99``: canary p99 > ``p99_ratio`` × holdout p99 for more than ``p99_minutes``;
4. ``exception``: an exception type whose canary rate exceeds its holdout rate by more than
   ``exception_excess_rate`` over the trailing hour (pooled counts over pooled requests).

"For more than D": the condition holds in every window of a contiguous run (each window's ``start`` equals
the previous window's ``end``) whose span, last ``end`` minus first ``start``, is strictly greater than D:
with 5-minute windows error needs 2 windows, latency 4, safety 13.

No evidence, no decision. A pair is *evaluable* only when the canary window has at least ``min_requests``
requests and its holdout window exists and has at least ``min_requests`` too (a holdout rate measured on a
handful of requests is no evidence either). A window that is not evaluable never counts toward a run and
breaks it; the exception rule pools evaluable pairs only. The same pairs are what a stage needs to end
(``stage_evidence``): its time up is not enough, it must also hold the evaluable windows and canary
requests ``evidence_needed`` derives from the error rule's power (or the stage's ``min_windows`` /
``min_requests``); a window below ``min_requests`` is received, never evidence.

Edge cases, chosen so a healthy canary is never rolled back on noise:

* holdout error rate 0: the reference rate is ``max(holdout_rate, 1 / holdout_requests)``: a zero count
  only says the rate is below the holdout's resolution, so 1/900 canary errors against 0/900 never aborts.
  Canary-only exception types use the same floor in the evidence test (their holdout *rate* stays 0).
* evidence test (``evidence_alpha``, ours): a rate condition (error, exception) counts only when the canary
  count is itself evidence that the threshold is crossed: the Poisson upper tail P(X >= count) with the
  canary's requests at the threshold rate (``error_ratio`` × reference, or reference + excess) is below
  ``evidence_alpha`` (0.05), i.e. the one-sided 95 % lower bound of the canary rate is above the threshold.
  Without it, a 5-minute window of 150 requests at a 0.5 % error rate is "over 2× the holdout" with 2
  errors, and a healthy canary aborts every few hours at night: over 300 seeded healthy weeks
  (gatekeeper/canary/simulate.py) the literal rule fired ~15 times a week, this one never. At high traffic the
  two agree. Set
  ``evidence_alpha: 1.0`` in the policy to get the literal rule.
* holdout p99 0 (or below 1 ms): the reference is floored at ``p99_floor_ms`` (1 ms, below timer
  resolution), so a bogus zero never turns every canary window into a breach.
* σ = 0 (a constant metric): σ is floored at ``safety_sigma_floor`` (0.001 in metric units; safety metrics
  are rates in [0, 1], so 2σ is never below 0.2 percentage points). σ needs 2 windows; with fewer the
  window is not evaluable.
* the exception rule's trailing hour must pool at least 12 × ``min_requests`` canary requests (an hour of
  minimal windows): 2 exceptions in the 218 requests of a quiet night hour are not a 0.1 % rate.

Out-of-order input is sorted; duplicate windows (same group and start) keep the last one given. Times are
epoch seconds inside; naive datetimes are read as UTC, and triggers carry aware UTC datetimes.

Layout: one module per rule (``error_rate``, ``latency_p99``, ``safety``, ``exception``), each with one
``judge`` that both paths call: ``evaluate`` (abort: against the holdout) and ``recheck_against_baseline``
(re-enable: against the pre-canary baseline, with the canary figures and σ recorded with the trigger).
Shared pieces: ``windows`` (Window, times), ``arrays`` (columns), ``pairing``, ``runs``, ``breaches`` (a
run of breaching windows to its trigger, the windowed re-check's answer), ``evidence`` (the Poisson test),
``triggers`` (AbortRules, Trigger, Recheck), ``stage`` (what a stage must gather) and ``reference`` (the
bake's fixed reference).
"""

from gatekeeper.canary.rules.arrays import GroupArrays, WindowArrays
from gatekeeper.canary.rules.evaluate import evaluate
from gatekeeper.canary.rules.recheck import recheck_against_baseline
from gatekeeper.canary.rules.reference import Judgement, against_reference, tile
from gatekeeper.canary.rules.sequential import confidence
from gatekeeper.canary.rules.sequential import describe as describe_sequential
from gatekeeper.canary.rules.stage import Evidence, evidence_needed, requests_for_power, stage_evidence
from gatekeeper.canary.rules.thresholds import window_thresholds
from gatekeeper.canary.rules.triggers import RULES, AbortRules, NoBaseline, Recheck, Trigger
from gatekeeper.canary.rules.windows import GROUPS, WINDOW_MINUTES, Window

__all__ = [
    "GROUPS",
    "RULES",
    "WINDOW_MINUTES",
    "AbortRules",
    "Evidence",
    "GroupArrays",
    "Judgement",
    "NoBaseline",
    "Recheck",
    "Trigger",
    "Window",
    "WindowArrays",
    "against_reference",
    "confidence",
    "describe_sequential",
    "evaluate",
    "evidence_needed",
    "recheck_against_baseline",
    "requests_for_power",
    "stage_evidence",
    "tile",
    "window_thresholds",
]
