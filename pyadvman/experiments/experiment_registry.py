"""The experiments by name (``pyadvman run NAME``), each registered once with its config class, presets and
``run``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyadvman.experiments import claims, flatness_study, sample_complexity, spectra_study
from pyadvman.registry import Registry


@dataclass(frozen=True)
class Experiment:
    """A study: its name, a one-line description, its frozen config class with named presets,
    ``run(cfg, out_dir, *, resume, progress, executor) -> metrics`` and ``configure(preset, **overrides)``, its
    config function (which may pick a preset's form by the overrides: the learned-manifold quick preset)."""

    name: str
    description: str
    config_class: type
    presets: dict[str, dict]
    run: Callable[..., dict]
    configure: Callable[..., object]

    def config(self, preset: str = "quick", **overrides: object):
        """The config of ``preset`` with ``overrides`` (ValueError for unknown ones)."""
        return self.configure(preset, **overrides)


EXPERIMENTS: Registry = Registry("experiment")


def _register(experiment: Experiment) -> None:
    EXPERIMENTS.register(experiment.name, experiment, description=experiment.description)


_register(Experiment("claims", "the four claims of Stutz et al., CVPR 2019: models across N, attacks on and off "
                     "the manifold, distances, report.md with verdicts", claims.ClaimsConfig, claims.CLAIMS_PRESETS,
                     claims.run, claims.claims_config))
_register(Experiment("sample-complexity", "test error, robust accuracy and on-manifold success rate vs N per "
                     "training variant", sample_complexity.SampleComplexityConfig,
                     sample_complexity.SAMPLE_COMPLEXITY_PRESETS, sample_complexity.run,
                     sample_complexity.sample_complexity_config))
_register(Experiment("flatness", "flatness of the robust loss vs the robust generalization gap across variants and "
                     "epochs (Stutz et al., ICCV 2021)", flatness_study.FlatnessConfig, flatness_study.FLATNESS_PRESETS,
                     flatness_study.run, flatness_study.flatness_config))
_register(Experiment("spectra", "layer spectra and confidence, normal vs adversarial training (Wen et al., ICML "
                     "2020)", spectra_study.SpectraConfig, spectra_study.SPECTRA_PRESETS, spectra_study.run,
                     spectra_study.spectra_config))
