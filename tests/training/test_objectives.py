"""Training objectives against their formulas: the 50/50 split, TRADES, MART, logit pairing and DALE's dual
update."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyadvman.training.objectives import Batch, Dale, LogitPairing, Mart, Mixed, Trades

from .conftest import tiny_config


class _Recorder(nn.Module):
    """A linear classifier that remembers each forward's input."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(16, 3).double()
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.linear(x.flatten(1))


def _batch(n=6):
    torch.manual_seed(1)
    return Batch(torch.rand(n, 1, 4, 4, dtype=torch.float64), torch.arange(n) % 3)


def _shift(model, batch):
    return (batch.images + 0.1).clamp(0, 1)


def _fixed_attack(model, x, y):
    return (x + 0.05).clamp(0, 1)


def test_mixed_keeps_the_first_half_clean_and_averages_both_losses() -> None:
    net, batch = _Recorder(), _batch()
    loss, _ = Mixed(_shift, 0.5)(net, net, batch)
    assert len(net.inputs) == 1  # one forward pass
    seen = net.inputs[0]
    torch.testing.assert_close(seen[:3], batch.images[:3])
    torch.testing.assert_close(seen[3:], (batch.images[3:] + 0.1).clamp(0, 1))
    logits = net.linear(seen.flatten(1))
    expected = (F.cross_entropy(logits[:3], batch.labels[:3]) + F.cross_entropy(logits[3:], batch.labels[3:])) / 2
    torch.testing.assert_close(loss, expected)
    full, _ = Mixed(_shift, 1.0)(net, net, batch)
    logits = net.linear(net.inputs[-1].flatten(1))
    torch.testing.assert_close(full, F.cross_entropy(logits, batch.labels))
    torch.testing.assert_close(net.inputs[-1], (batch.images + 0.1).clamp(0, 1))


def _paired(net, batch):
    x_adv = _fixed_attack(None, batch.images, batch.labels)
    return net.linear(batch.images.flatten(1)), net.linear(x_adv.flatten(1))


def test_trades_is_ce_plus_beta_kl() -> None:
    net, batch = _Recorder(), _batch()
    loss, _ = Trades(_fixed_attack, beta=6.0)(net, net, batch)
    clean, adv = _paired(net, batch)
    kl = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="batchmean")
    torch.testing.assert_close(loss, F.cross_entropy(clean, batch.labels) + 6.0 * kl)


def test_mart_matches_wang_et_al() -> None:
    net, batch = _Recorder(), _batch()
    loss, _ = Mart(_fixed_attack, beta=5.0)(net, net, batch)
    clean, adv = _paired(net, batch)
    p_adv, p_clean, y = F.softmax(adv, 1), F.softmax(clean, 1), batch.labels
    runner_up = torch.stack([torch.cat([p_adv[i, :y[i]], p_adv[i, y[i] + 1:]]).max() for i in range(len(y))])
    bce = F.cross_entropy(adv, y) - torch.log(1.0001 - runner_up + 1e-12).mean()
    kl = (p_clean * (p_clean.log() - p_adv.log())).sum(1)
    expected = bce + 5.0 * (kl * (1.0000001 - p_clean[torch.arange(len(y)), y])).mean()
    torch.testing.assert_close(loss, expected)


def test_alp_and_clp_pair_logits() -> None:
    net, batch = _Recorder(), _batch()
    clean, adv = _paired(net, batch)
    pairing = (adv - clean).norm(dim=1).mean()
    alp, _ = LogitPairing(_fixed_attack, 0.5, clean=False)(net, net, batch)
    clp, _ = LogitPairing(_fixed_attack, 0.5, clean=True)(net, net, batch)
    torch.testing.assert_close(alp, F.cross_entropy(adv, batch.labels) + 0.5 * pairing)
    torch.testing.assert_close(clp, F.cross_entropy(clean, batch.labels) + 0.5 * pairing)


def test_dale_loss_and_primal_dual_update() -> None:
    net, batch = _Recorder(), _batch()
    dale = Dale(_fixed_attack, "gaussian", nu=1.0, dual_lr=0.5, margin=0.1)
    loss, logs = dale(net, net, batch)
    clean, adv = _paired(net, batch)
    clean_loss = F.cross_entropy(clean, batch.labels)
    torch.testing.assert_close(loss, F.cross_entropy(adv, batch.labels) + 1.0 * clean_loss)
    dale.after_step({k: float(v) for k, v in logs.items()})
    assert dale.nu == max(0.0, 1.0 + 0.5 * (float(clean_loss.detach()) - 0.1))
    dale.after_step({"clean_loss": -100.0})
    assert dale.nu == 0.0  # projected onto ν >= 0
    restored = Dale(_fixed_attack, "kl", nu=3.0, dual_lr=0.0, margin=0.1)
    restored.load_state_dict(dale.state_dict())
    assert restored.nu == 0.0
    kl_loss, _ = Dale(_fixed_attack, "kl", nu=2.0, dual_lr=0.0, margin=0.1)(net, net, batch)
    kl = F.kl_div(F.log_softmax(adv, 1), F.softmax(clean, 1), reduction="batchmean")
    torch.testing.assert_close(kl_loss, kl + 2.0 * clean_loss)


class _Recording(nn.Module):
    """A linear classifier of 8×8 images that keeps a copy of every input it sees (``seen``)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 3)
        self.seen: list = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.linear(x.flatten(1))


def test_reconstruction_training_replaces_the_perturbed_half_by_the_class_reconstructions(tmp_path) -> None:
    from pyadvman.data.splits import DatasetSplits, Split
    from pyadvman.manifolds.learned_manifold import LearnedManifold
    from pyadvman.manifolds.vae_gan import VAEGANConfig
    from pyadvman.training import TrainConfig, build_objective

    torch.manual_seed(0)
    manifold = LearnedManifold((1, 8, 8), 3, VAEGANConfig(latent=2, channels=4, epochs=1)).eval()
    manifold.save(tmp_path / "manifold.pt")
    cfg = TrainConfig(dataset="npz", objective="reconstruction", manifold=str(tmp_path / "manifold.pt"))
    images, labels = torch.rand(6, 1, 8, 8), torch.arange(6) % 3
    split = Split(images, labels)
    objective = build_objective(cfg, DatasetSplits("toy", ("a", "b", "c"), split, split, split))
    model = _Recording()
    seen = model.seen
    objective(model, model, Batch(images, labels))
    with torch.no_grad():
        expected = manifold.reconstruct(images[3:], labels[3:])
    torch.testing.assert_close(seen[0][:3], images[:3], rtol=0, atol=0)  # the clean half
    torch.testing.assert_close(seen[0][3:], expected, rtol=0, atol=1e-6)  # dec_y(enc_y(x)), no attack


def test_configs_of_runs_from_before_the_protocols_still_load() -> None:
    from dataclasses import asdict

    from pyadvman.attacks import SIGNED_PGD
    from pyadvman.training import TrainConfig

    old = {**asdict(TrainConfig()), "betas": [0.5, 0.9]}
    for key in ("train_attack", "eval_attack", "lr_schedule"):
        old.pop(key)
    old.update(attack_steps=10, attack_alpha=None, attack_update="sign", eval_steps=40, eval_restarts=2)
    cfg = TrainConfig.from_record(old)
    assert asdict(cfg.train_attack) == {**asdict(SIGNED_PGD), "steps": 10}  # what the old PGD did
    assert asdict(cfg.eval_attack) == {**asdict(SIGNED_PGD), "steps": 40, "restarts": 2}
    assert cfg.lr_schedule == "epoch" and cfg.betas == (0.5, 0.9)
    assert TrainConfig.from_record(json.loads(json.dumps(asdict(TrainConfig())))) == TrainConfig()


def test_madry_at_trains_on_the_whole_batch_of_signed_pgd_last_iterates() -> None:
    from pyadvman.attacks import PGD, AttackProtocol
    from pyadvman.data.splits import DatasetSplits, Split
    from pyadvman.training import TrainConfig, build_objective

    images, labels = torch.rand(6, 1, 8, 8), torch.arange(6) % 3
    split = Split(images, labels)
    cfg = TrainConfig(dataset="npz", objective="madry", epsilon=0.1, adversarial_fraction=0.5,
                      train_attack={"update": "adam", "steps": 3, "keep": "last_then_loss"})
    objective = build_objective(cfg, DatasetSplits("toy", ("a", "b", "c"), split, split, split))
    model = _Recording()
    seen = model.seen
    torch.manual_seed(1)
    objective(model, model, Batch(images, labels))
    trained_on = seen[-1]
    torch.manual_seed(1)  # Madry et al.: signed steps of 2.5·ε/3 from a uniform start, the last iterate
    expected = PGD(eps=0.1, protocol=AttackProtocol(steps=3, start="uniform", keep="last"))(model, images, labels)
    assert trained_on.shape[0] == 6  # every example perturbed, whatever adversarial_fraction says
    torch.testing.assert_close(trained_on, expected)
    assert (trained_on - images).abs().amax() <= 0.1 + 1e-6


def test_separate_steps_take_a_clean_step_then_a_perturbed_one(blocks, tmp_path) -> None:
    from pyadvman.training import train
    from pyadvman.training.objectives import SeparateSteps

    images, labels = torch.rand(6, 1, 8, 8), torch.arange(6) % 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    warped = torch.rand(3, 1, 8, 8)
    objective = SeparateSteps(lambda m, batch: warped, 0.5)
    losses = []
    for loss, logs in objective.steps(model, model, Batch(images, labels)):
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if len(losses) == 1:  # the clean half, before any step
            weights = [p.detach().clone() for p in model.parameters()]
    assert len(losses) == 2
    # the second loss is the perturbed half's cross-entropy at the weights after the first step
    with torch.no_grad():
        after_first = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
        for p, w in zip(after_first.parameters(), weights):
            p.copy_(w)
        assert losses[1] == pytest.approx(F.cross_entropy(after_first(warped), labels[3:]).item(), rel=1e-6)
    assert set(logs) == {"loss", "adversarial_loss", "adversarial_accuracy"}
    # in the training loop: two optimiser steps per batch, twice as many as a run of one step per batch
    counts = {}
    for objective, extra in (("stn", {"stn_steps": "separate"}), ("normal", {})):
        run = train(tiny_config(blocks, objective=objective, epochs=1, **extra), tmp_path / objective, progress=False)
        saved = torch.load(run.out_dir / "checkpoints" / "last.pt", weights_only=False)
        counts[objective] = {int(state["step"]) for state in saved["optimizer"]["state"].values()}
    assert counts["stn"] == {2 * n for n in counts["normal"]} and len(counts["normal"]) == 1


def test_transformation_ranges_are_fonts_hard_on_fonts_and_the_papers_elsewhere() -> None:
    import math

    from pyadvman.attacks import TRANSFORMATION_RANGES
    from pyadvman.data.affine_transforms import theta_preset
    from pyadvman.training import TrainConfig
    from pyadvman.training.objective_registry import transformation_ranges

    assert transformation_ranges(TrainConfig(dataset="fonts")) == theta_preset("hard")
    assert theta_preset("hard").rotation == (-math.pi / 2, math.pi / 2)  # the released Hard ranges
    assert transformation_ranges(TrainConfig(dataset="fashion-mnist")) == TRANSFORMATION_RANGES
    assert transformation_ranges(TrainConfig(dataset="fonts", transformation_ranges="easy")) == theta_preset("easy")


@pytest.mark.parametrize("objective", ["madry", "trades", "adversarial"])
def test_l2_and_l1_training_attacks_stay_in_their_balls(objective) -> None:
    """--norm l2 / l1: the objective's attack searches that ball (and the config accepts AutoAttack's spelling)."""
    from pyadvman.attacks.threat_models import checked_distance
    from pyadvman.data.splits import DatasetSplits, Split
    from pyadvman.training import TrainConfig, build_objective

    images, labels = torch.rand(6, 1, 8, 8), torch.arange(6) % 3
    split = Split(images, labels)
    for norm, eps in (("L2", 0.5), ("l1", 2.0)):
        cfg = TrainConfig(dataset="npz", objective=objective, epsilon=eps, norm=norm, adversarial_fraction=1.0,
                          train_attack={"steps": 3})
        assert cfg.norm == norm.lower()
        objective_fn = build_objective(cfg, DatasetSplits("toy", ("a", "b", "c"), split, split, split))
        model = _Recording()
        torch.manual_seed(1)
        objective_fn(model, model, Batch(images, labels))
        perturbed = model.seen[-1][-6:]
        assert bool((checked_distance(perturbed, images, norm.lower()) <= eps).all())
        assert float(checked_distance(perturbed, images, norm.lower()).max()) > 0


def test_other_norms_are_refused_where_the_attack_is_not_pgd_on_the_image() -> None:
    from pyadvman.training import TrainConfig

    with pytest.raises(ValueError, match=r"norm must be 'linf' for objective dale \(its sampler is a signed L∞ "
                                         r"attack; every other objective takes l2 and l1\), got 'l2'"):
        TrainConfig(objective="dale", norm="l2")
    assert TrainConfig(objective="on_true_manifold", norm="l2").norm == "l2"  # its validation and test attacks


def test_an_l_inf_step_size_under_l2_is_warned_about() -> None:
    """The cifar10 preset's PGD-10 of 2/255 travels 0.078: under L2 at ε = 0.5 it cannot reach the ball's surface."""
    from pyadvman.training import train_config

    with pytest.warns(UserWarning, match=r"train_attack: 10 steps of 0.00784314 travel at most 0.0784314 in l2, "
                                         r"short of epsilon 0.5: set --train-attack.step-size"):
        train_config("cifar10", norm="l2", epsilon=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_config("cifar10", norm="l2", epsilon=0.5, train_attack={"steps": 10, "step_size": None},
                     validation_attack={"steps": 10, "step_size": None}, eval_attack={"steps": 20, "step_size": None})
