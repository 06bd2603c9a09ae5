"""The table ``pyadvman evaluate`` prints: clean and robust accuracy with the threat model and the attack, in the
form RobustBench's leaderboards give them."""

from __future__ import annotations

import math


def radius_text(eps: float) -> str:
    """ε as people write it: "8/255 (0.03137)" where 255·ε is a whole number of 8-bit steps, else "0.3"."""
    steps = eps * 255
    if eps > 0 and abs(steps - round(steps)) < 1e-6:
        return f"{round(steps)}/255 ({eps:.5f})"
    return f"{eps:g}"


def _percent(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}%"


def evaluation_table(result: dict, test_examples: int) -> str:
    """The lines of the table for a ``pyadvman evaluate`` result (its JSON record: "run" or "model", "dataset",
    "test_accuracy", "robust_accuracy", "attack" with "name", "epsilon", "examples" and optionally "norm" and
    "robust_accuracy_after"): model, data, threat model, clean accuracy on the test split, robust accuracy on the
    attacked examples (and after each attack of AutoAttack), as percentages.

    Raises:
        KeyError: a record without one of those keys.
    """
    attack = result["attack"]
    norm = {"linf": "Linf", "l2": "L2", "l1": "L1"}.get(str(attack.get("norm", "linf")).lower(), "Linf")
    rows = [("model", str(result.get("run") or result.get("model"))),
            ("dataset", f"{result['dataset']}: {test_examples} test images, the first {attack['examples']} attacked"),
            ("threat model", f"{norm}, eps = {radius_text(float(attack['epsilon']))}"),
            ("clean accuracy", _percent(result["test_accuracy"])),
            ("robust accuracy", f"{_percent(result['robust_accuracy'])}  ({attack['name']})")]
    rows += [(f"  after {name}", _percent(value)) for name, value in attack.get("robust_accuracy_after", {}).items()]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
