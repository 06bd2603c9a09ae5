"""The studies, each ``run(cfg)`` on a frozen config with presets ``quick`` (a 2-core CPU) and ``paper`` (GPU):

==================  =======================================================================================
``claims``          the four claims of Stutz et al., CVPR 2019 (docs/papers.md §1), with report.md and figures
``sample-complexity``  test error, robust accuracy and on-manifold success rate against N per variant
``flatness``        flatness of the robust loss vs the robust generalization gap (docs/papers.md §4)
``spectra``         layer spectra and confidence, normal vs adversarial training (docs/papers.md §2)
==================  =======================================================================================

>>> from pyadvman.experiments import EXPERIMENTS
>>> experiment = EXPERIMENTS["claims"]
>>> metrics = experiment.run(experiment.config("quick"), "runs/claims")   # doctest: +SKIP
>>> metrics["claims"]["2"]["verdict"]                                    # doctest: +SKIP
"""

from pyadvman.experiments.claims import ClaimsConfig, claims_config
from pyadvman.experiments.experiment_registry import EXPERIMENTS, Experiment
from pyadvman.experiments.flatness_study import FlatnessConfig, flatness_config
from pyadvman.experiments.sample_complexity import SampleComplexityConfig, sample_complexity_config
from pyadvman.experiments.spectra_study import SpectraConfig, spectra_config
from pyadvman.experiments.study_config import StudyConfig

__all__ = [
    "EXPERIMENTS", "ClaimsConfig", "Experiment", "FlatnessConfig", "SampleComplexityConfig", "SpectraConfig",
    "StudyConfig", "claims_config", "flatness_config", "sample_complexity_config", "spectra_config",
]
