"""What a study measures of each trained model (:class:`pyadvman.experiments.records.ModelRecord`): test error,
the paper's attack off and on the manifold (the released code's protocol, docs/protocol.md) and the strong
evaluation beside it (signed PGD with restarts and APGD-CE at the same ε, signed PGD with restarts on the manifold
at the same η and, where asked, AutoAttack)."""

from __future__ import annotations

import time
from dataclasses import replace

from pyadvman.attacks import APGD, PGD
from pyadvman.experiments.grid import ModelKey, Study
from pyadvman.experiments.records import AttackCounts, AutoAttackCounts, ModelRecord
from pyadvman.experiments.strong_evaluation import autoattack_record
from pyadvman.training import TrainResult


def evaluate_model(study: Study, key: ModelKey, result: TrainResult) -> ModelRecord:
    """The record of a trained model: test error on the whole test split, and under "attacks" the counts and
    rates (AttackResult.counts) of the paper's attack off the manifold ("regular", the first
    ``regular_examples`` test images) and on it ("on_manifold", the first ``on_manifold_examples``), and of the
    strong evaluation on the regular examples ("strong_pgd": signed PGD with restarts; "apgd": APGD-CE) and
    on the first ``strong_on_manifold_examples`` ("strong_on_manifold": signed PGD with restarts in code space,
    ``strong_on_manifold_attack``) and,
    with ``autoattack_examples``, AutoAttack standard ("autoattack", with its per-attack robust accuracy and
    findings; its state in the model's folder, so an interrupted evaluation resumes)."""
    cfg, model = study.cfg, result.model
    attacks, seconds = {}, {}

    def timed(name: str, run) -> None:
        started = time.monotonic()
        value = run()
        attacks[name] = AutoAttackCounts(**value) if isinstance(value, dict) else AttackCounts(**value.counts())
        seconds[name] = round(time.monotonic() - started, 2)

    unchecked = replace(cfg.attack_execution, check_model=False)  # the paper's attacks warn; the strong ones need not again
    regular = PGD(eps=cfg.epsilon, norm=cfg.norm, protocol=cfg.eval_attack, execution=cfg.attack_execution)
    timed("regular", lambda: study.attack_test_images(model, regular, cfg.regular_examples, key.seed,
                                                      keep_images=False))
    timed("on_manifold", lambda: study.attack_on_manifold(model, cfg.on_manifold_examples, key.seed,
                                                          keep_images=False))
    strong = PGD(eps=cfg.epsilon, norm=cfg.norm, protocol=cfg.strong_attack, execution=unchecked)
    timed("strong_pgd", lambda: study.attack_test_images(model, strong, cfg.regular_examples, key.seed,
                                                     keep_images=False))
    if cfg.apgd_attack is not None:
        apgd = APGD(eps=cfg.epsilon, norm=cfg.norm, protocol=cfg.apgd_attack, execution=unchecked)
        timed("apgd", lambda: study.attack_test_images(model, apgd, cfg.regular_examples, key.seed,
                                                       keep_images=False))
    if cfg.strong_on_manifold_attack is not None:
        timed("strong_on_manifold", lambda: study.attack_on_manifold(
            model, cfg.strong_on_manifold_examples, key.seed, keep_images=False, protocol=cfg.strong_on_manifold_attack))
    if cfg.autoattack_examples:
        timed("autoattack", lambda: autoattack_record(model, study.data.test, cfg.epsilon, cfg.autoattack_examples,
                                                      key.seed, result.out_dir / "autoattack", progress=False,
                                                      execution=cfg.attack_execution, norm=cfg.norm))
    final = result.final
    return ModelRecord(name=key.name, variant=key.variant, objective=study.objective(key.variant),
                       train_size=key.train_size, seed=key.seed, epochs=final["checkpoint"]["epoch"],
                       test_examples=final["test_examples"], test_accuracy=final["test_accuracy"],
                       test_error=final["test_error"], **attacks, attack_seconds=seconds)
