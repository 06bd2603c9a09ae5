"""Markdown pieces of the reports: numbers formatted one way (so tests can find metrics.json's values in
report.md), tables and verdicts."""

from __future__ import annotations

import math


def fmt(value: float | None, digits: int = 4) -> str:
    """A number as the reports print it: fixed ``digits`` decimals; "n/a" for None or NaN, "inf" for infinity."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    # rounded first, so that one number reached two ways (0.10175 as 407/4000 or as 1 − 0.89825) prints alike
    return f"{round(value, 10):.{digits}f}"


def table(header: list[str], rows: list[list[object]]) -> str:
    """A markdown table; cells that are floats are formatted with :func:`fmt`."""
    def cell(value: object) -> str:
        return fmt(value) if isinstance(value, float) or value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def interval(estimate: dict | None, *, value: bool = True) -> str:
    """An estimate ({"value", "low", "high"}) as "0.6120 [0.5701, 0.6523]" ("[low, high]" without the value);
    "n/a" when nothing was measured."""
    if estimate is None or fmt(estimate.get("value")) == "n/a":
        return "n/a"
    bounds = f"[{fmt(estimate['low'])}, {fmt(estimate['high'])}]"
    return f"{fmt(estimate['value'])} {bounds}" if value else bounds


def _measured(test: dict) -> str:
    """A test's estimate with its interval, and the interval's coverage where it is not 95%."""
    coverage = test.get("confidence", 0.95)
    return interval(test["estimate"]) + ("" if abs(coverage - 0.95) < 1e-9 else f" ({100 * coverage:g}%)")


def criterion(test: dict) -> str:
    """A test's criterion as reports print it: "> 0.00" or, with an equivalence margin, "> 0.00 by 0.01" (the
    margin to two significant digits, so that a small noise floor does not print as 0)."""
    margin = test.get("margin", 0.0)
    return f"{test['relation']} {fmt(test['threshold'], 2)}" + (f" by {margin:.2g}" if margin else "")


def tests_table(tests: list[dict]) -> str:
    """The tests of a claim (pyadvman.experiments.verdicts.compare) as a table: test, estimate with its
    interval (95% unless marked), the threshold and margin it is compared with, and the outcome."""
    rows = [[t["test"], _measured(t), criterion(t), t["outcome"]] for t in tests]
    return table(["test", "measured [95% interval]", "criterion", "outcome"], rows)


def verdict_line(claim: dict, nothing_tested: str = "the variants it needs were not trained") -> str:
    """"**Verdict: holds** — decided by ..." naming the tests that decided the verdict (``claim["decided_by"]``,
    from the combination rules of pyadvman.experiments.verdicts) with their numbers; ``nothing_tested`` says why
    when no test decided it."""
    by_name = {t["test"]: t for t in claim["tests"]}
    deciding = [by_name[name] for name in claim["decided_by"]]
    reasons = "; ".join(f"{t['test']} = {_measured(t)} vs {criterion(t)}: {t['outcome']}" for t in deciding)
    return f"**Verdict: {claim['verdict']}**" + (f" — decided by: {reasons}." if reasons else f" ({nothing_tested}).")


def training_images(cfg) -> str:
    """"the first N" or "all" of a study config's ``train_size``, as its report says what the models saw."""
    return "all" if cfg.train_size is None else f"the first {cfg.train_size}"


def data_lines(fingerprint: dict) -> list[str]:
    """The dataset's fingerprint as report lines: splits, content hashes and, for FONTS, the fonts and θ seed,
    so that two machines can tell whether they built the same data."""
    splits = fingerprint["splits"]
    sizes = ", ".join(f"{name} {split['count']}" for name, split in splits.items())
    hashes = ", ".join(f"{name} {split['sha256'][:12]}" for name, split in splits.items())
    lines = [f"Data: {fingerprint['name']} ({len(fingerprint['classes'])} classes, images "
             f"{'×'.join(map(str, fingerprint['image_shape']))}; {sizes}); content SHA-256: {hashes}."]
    fonts = fingerprint.get("provenance", {}).get("fonts")
    if fonts:
        lines.append(f"FONTS: {fonts['count']} fonts drawn with seed {fonts['seed']} from {fonts['pool']} distinct "
                     f"legible faces (by family and style, not by path), θ preset {fonts['theta']} drawn with seed "
                     f"{fonts['seed']}; font list SHA-256 {fonts['sha256'][:12]} (the list is in metrics.json, "
                     "data.provenance.fonts).")
    return lines
