"""Verdicts that state how sure they are: every test of a claim compares an estimate (with its interval) with
a threshold and an equivalence margin around it, and comes out "holds" (the interval clears the margin in the
claimed direction), "does not hold" (the interval lies inside the equivalence region or on the wrong side of it:
a precisely measured null does not hold) or "inconclusive" (the interval reaches across the margin's edge, so
the uncertainty cannot separate an effect from none). Tests and parts combine into parts with ``all_of``
(every part must hold), ``any_of`` (one part suffices) and ``at_least_half``; a part records its outcome and
the tests that decided it, so a report can name them. A claim whose models were not trained is
"not evaluated"."""

from __future__ import annotations

from pyadvman.analysis.uncertainty import CONFIDENCE, Estimate

HOLDS, FAILS, INCONCLUSIVE, NOT_EVALUATED = "holds", "does not hold", "inconclusive", "not evaluated"


def compare(name: str, estimate: Estimate, relation: str, threshold: float, *, margin: float = 0.0,
            confidence: float = CONFIDENCE) -> dict:
    """The test "estimate ``relation`` threshold by more than ``margin``" (relation ">" or "<"): a minimum-effect
    test with the equivalence region [threshold − margin, threshold + margin]. It holds when the whole interval
    lies beyond the region's far edge in the claimed direction (above threshold + margin for ">"), does not hold
    when the whole interval lies short of that edge (inside the region or on the wrong side of it: an effect
    measured precisely at the threshold does not hold), else it is inconclusive; not evaluated when nothing was
    measured. With margin 0 a test holds or fails only when its interval excludes the threshold.

    Args:
        estimate: the measured number with its interval. threshold: the null value (e.g. 0 for a difference).
        margin: >= 0, in the estimate's units; the smallest effect the claim counts (docs/protocol.md justifies
            each). confidence: the coverage of the estimate's interval.

    Returns:
        {"test": name, "estimate": {value, low, high}, "confidence", "relation", "threshold", "margin",
        "outcome"}.

    Raises:
        ValueError: a relation other than ">" or "<", or a negative margin.
    """
    if relation not in (">", "<"):
        raise ValueError(f"relation must be '>' or '<', got {relation!r}")
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    wanted = 1 if relation == ">" else -1
    side = estimate.side_of(threshold + wanted * margin)
    if not estimate.measured:
        outcome = NOT_EVALUATED
    else:
        outcome = HOLDS if side == wanted else FAILS if side == -wanted else INCONCLUSIVE
    return {"test": name, "estimate": estimate.as_dict(), "confidence": confidence, "relation": relation,
            "threshold": threshold, "margin": margin, "outcome": outcome}


def _tests(item: dict) -> list[dict]:
    """The tests behind a test or a part."""
    return [item] if "test" in item else item["decided_by"]


def part(outcome: str, deciding: list[dict]) -> dict:
    """A part with ``outcome``, decided by the tests behind ``deciding`` (tests or parts)."""
    return {"outcome": outcome, "decided_by": [t for item in deciding for t in _tests(item)]}


def all_of(items: list[dict]) -> dict:
    """Every item (a test or a part) must hold: does not hold if one does not (decided by those), else not
    evaluated if one was not, inconclusive if one is (decided by those), else holds (decided by all)."""
    outcomes = [i["outcome"] for i in items]
    for outcome in (FAILS, NOT_EVALUATED, INCONCLUSIVE):
        if outcome in outcomes:
            return part(outcome, [i for i in items if i["outcome"] == outcome])
    return part(HOLDS if items else NOT_EVALUATED, items)


def any_of(items: list[dict]) -> dict:
    """One item suffices: holds if one holds (decided by those), does not hold if every evaluated item does not
    (decided by all), else inconclusive (decided by the inconclusive ones)."""
    evaluated = [i for i in items if i["outcome"] != NOT_EVALUATED]
    if not evaluated:
        return part(NOT_EVALUATED, [])
    holding = [i for i in evaluated if i["outcome"] == HOLDS]
    if holding:
        return part(HOLDS, holding)
    if all(i["outcome"] == FAILS for i in evaluated):
        return part(FAILS, evaluated)
    return part(INCONCLUSIVE, [i for i in evaluated if i["outcome"] == INCONCLUSIVE])


def at_least_half(items: list[dict]) -> dict:
    """At least half of the items hold: holds when those that hold are at least half (decided by them), does
    not hold when even with the inconclusive ones they are fewer than half (decided by the failing ones), else
    inconclusive (decided by the inconclusive ones)."""
    if not items:
        return part(NOT_EVALUATED, [])
    holding = [i for i in items if i["outcome"] == HOLDS]
    unclear = [i for i in items if i["outcome"] == INCONCLUSIVE]
    if 2 * len(holding) >= len(items):
        return part(HOLDS, holding)
    if 2 * (len(holding) + len(unclear)) < len(items):
        return part(FAILS, [i for i in items if i["outcome"] not in (HOLDS, INCONCLUSIVE)])
    return part(INCONCLUSIVE, unclear)


def verdict_of(part_: dict) -> dict:
    """A claim's verdict from its combined part: {"verdict": outcome, "decided_by": the deciding tests' names}
    (the form pyadvman.experiments.report.verdict_line prints)."""
    return {"verdict": part_["outcome"], "decided_by": [t["test"] for t in part_["decided_by"]]}
