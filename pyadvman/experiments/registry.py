"""The experiments by name, each with its config class, presets and ``run``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyadvman._presets import config_from_preset
from pyadvman.experiments import claims, flatness, sample_complexity, spectra


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config_class: type
    presets: dict[str, dict]
    run: Callable[..., dict]

    def config(self, preset: str = "quick", **overrides: object):
        """The config of ``preset`` with ``overrides`` (ValueError for unknown ones)."""
        return config_from_preset(self.config_class, self.presets, preset, **overrides)


EXPERIMENTS: dict[str, Experiment] = {
    "claims": Experiment("claims", "the four claims of Stutz et al., CVPR 2019: models across N, attacks on and "
                         "off the manifold, distances, report.md with verdicts", claims.ClaimsConfig,
                         claims.CLAIMS_PRESETS, claims.run),
    "sample-complexity": Experiment("sample-complexity", "test error, robust accuracy and on-manifold success "
                                    "rate vs N per training variant", sample_complexity.SampleComplexityConfig,
                                    sample_complexity.SAMPLE_COMPLEXITY_PRESETS, sample_complexity.run),
    "flatness": Experiment("flatness", "flatness of the robust loss vs the robust generalization gap across "
                           "variants and epochs (Stutz et al., ICCV 2021)", flatness.FlatnessConfig,
                           flatness.FLATNESS_PRESETS, flatness.run),
    "spectra": Experiment("spectra", "layer spectra and confidence, normal vs adversarial training (Wen et al., "
                          "ICML 2020)", spectra.SpectraConfig, spectra.SPECTRA_PRESETS, spectra.run),
}
