"""Training objectives (docs/papers.md §1 "Training variants", §3 losses). Each returns the loss of one batch and
scalar logs; every objective runs exactly one forward pass of the training network (so that DDP sees one
forward per backward): clean and perturbed inputs are concatenated. They are built by name from a TrainConfig
(:mod:`pyadvman.training.objective_registry`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyadvman._compat import moved_names
from pyadvman.attacks import TRANSFORMATION_RANGES, TrueManifoldAttack
from pyadvman.attacks.base import Attack
from pyadvman.attacks.losses import kl_divergence
from pyadvman.attacks.model_checks import predicted_classes
from pyadvman.data.affine_transforms import AffineRanges, warp
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.training.weight_perturbation import weight_perturbation


@dataclass
class Batch:
    """images Tensor[B, C, H, W] in [0, 1]; labels Tensor[B] int64; FONTS codes Tensor[B, 2] and theta [B, 6]."""

    images: Tensor
    labels: Tensor
    codes: Tensor | None = None
    theta: Tensor | None = None

    def rows(self, rows: slice) -> Batch:
        return Batch(self.images[rows], self.labels[rows], None if self.codes is None else self.codes[rows],
                     None if self.theta is None else self.theta[rows])


def _accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    return (predicted_classes(logits) == labels).float().mean()


class Objective:
    """Base class. ``model`` is the bare module (attacked in eval mode), ``net`` the module that is trained
    (the DDP wrapper under torch.distributed). A step is ``perturb`` (the inputs the loss needs beyond the batch,
    e.g. adversarial examples; None for none) and then ``loss`` on them, so that a wrapper such as AWP can
    evaluate the same loss at other weights."""

    def __call__(self, model: nn.Module, net: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        return self.loss(net, batch, self.perturb(model, batch))

    # whether a batch takes several optimiser steps (a ``steps`` method, as :class:`SeparateSteps` has) instead
    # of one on ``__call__``'s loss
    separate_steps: bool = False

    def perturb(self, model: nn.Module, batch: Batch) -> Tensor | None:
        return None

    def loss(self, net: nn.Module, batch: Batch, perturbed: Tensor | None) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def begin_epoch(self, epoch: int) -> None:
        """Called before the first step of epoch ``epoch`` (0-based), also when a run resumes within it."""

    def before_step(self) -> None:
        """Called after the backward pass, before the optimiser step."""

    def after_step(self, logs: dict[str, Tensor]) -> None:
        """Called after the optimiser step with the (all-reduced) logs."""

    def state_dict(self) -> dict[str, float]:
        return {}

    def load_state_dict(self, state: dict[str, float]) -> None:
        pass


class Normal(Objective):
    """Cross-entropy on clean inputs."""

    def loss(self, net, batch, perturbed):
        logits = net(batch.images)
        loss = F.cross_entropy(logits, batch.labels)
        return loss, {"loss": loss.detach(), "clean_accuracy": _accuracy(logits, batch.labels)}


class Mixed(Objective):
    """Stutz et al.'s scheme (docs/papers.md §1): the first part of the batch stays clean, the last
    ``fraction`` is perturbed; loss = (CE_clean + CE_perturbed) / 2, or CE_perturbed alone when fraction = 1
    (Madry et al.). The perturbation (an attack, or random transformations) sees the model in eval mode."""

    def __init__(self, perturbation, fraction: float) -> None:
        self.perturbation, self.fraction = perturbation, fraction

    def _clean_count(self, batch: Batch) -> int:
        size = batch.labels.shape[0]
        return size - max(1, round(size * self.fraction))

    def perturb(self, model, batch):
        return self.perturbation(model, batch.rows(slice(self._clean_count(batch), None)))

    def loss(self, net, batch, perturbed):
        clean_count = self._clean_count(batch)
        logits = net(torch.cat([batch.images[:clean_count], perturbed]))
        labels = batch.labels
        adv_loss = F.cross_entropy(logits[clean_count:], labels[clean_count:])
        logs = {"adversarial_accuracy": _accuracy(logits[clean_count:], labels[clean_count:])}
        if clean_count:
            clean_loss = F.cross_entropy(logits[:clean_count], labels[:clean_count])
            loss = (clean_loss + adv_loss) / 2
            logs["clean_accuracy"] = _accuracy(logits[:clean_count], labels[:clean_count])
        else:
            loss = adv_loss
        return loss, {"loss": loss.detach(), "adversarial_loss": adv_loss.detach(), **logs}


def adversarial_examples(attack, model: nn.Module, x: Tensor, y: Tensor, **extras: Tensor) -> Tensor:
    """The training inputs an attack makes of (x, y), detached: ``attack.perturb`` for a pyadvman
    :class:`~pyadvman.attacks.base.Attack` (no model pass that only judges success), else ``attack(model, x, y)``
    (any callable with that signature)."""
    perturb = attack.perturb if isinstance(attack, Attack) else attack
    return perturb(model, x, y, **extras).detach()


def attack_perturbation(attack):
    """The perturbation of :class:`Mixed` that an attack makes (``attack.perturb``: no model pass that only
    judges success; the FONTS codes passed to the true-manifold attack)."""
    def perturb(model, batch: Batch) -> Tensor:
        extras = {"codes": batch.codes, "theta": batch.theta} if isinstance(attack, TrueManifoldAttack) else {}
        return adversarial_examples(attack, model, batch.images, batch.labels, **extras)
    return perturb


def reconstruction(manifold: LearnedManifold):
    """The control of on-learned-manifold training: the images replaced by their class VAE-GAN's
    reconstructions dec_y(enc_y(x)), the on-manifold attack's starting points, with no attack (η = 0)."""
    def perturb(model, batch: Batch) -> Tensor:
        with torch.no_grad():
            return manifold.to(batch.images.device).reconstruct(batch.images, batch.labels)
    return perturb


def random_transformation(ranges: AffineRanges = TRANSFORMATION_RANGES):
    """The perturbation of STN augmentation: each image warped by θ drawn uniformly from ``ranges`` (default:
    the paper's EMNIST / Fashion-MNIST ranges)."""
    def perturb(model, batch: Batch) -> Tensor:
        low, high = (b.to(batch.images) for b in ranges.bounds())
        theta = low + (high - low) * torch.rand(batch.labels.shape[0], 6, device=batch.images.device)
        with torch.no_grad():
            return warp(batch.images, theta)
    return perturb


class SeparateSteps(Mixed):
    """:class:`Mixed` with one optimiser step on the clean part of the batch and then another on the perturbed
    part, perturbed after the first step (the released code's STN augmentation on FONTS,
    ``training/train_stn_classifier_augmented.py`` lines 164-169 and 190-203 of
    davidstutz/disentangling-robustness-generalization at 220ff8a); each step's loss is the mean cross-entropy
    of its part."""

    separate_steps = True

    def steps(self, model: nn.Module, net: nn.Module, batch: Batch) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        """The optimiser steps of one batch: each (loss, logs) yielded is backpropagated and stepped before the
        next is computed (the clean part's, then the perturbed part's)."""
        clean_count, losses = self._clean_count(batch), []
        if clean_count:
            logits = net(batch.images[:clean_count])
            labels = batch.labels[:clean_count]
            losses.append(F.cross_entropy(logits, labels))
            yield losses[-1], {"clean_loss": losses[-1].detach(), "clean_accuracy": _accuracy(logits, labels)}
        logits = net(self.perturb(model, batch))
        labels = batch.labels[clean_count:]
        losses.append(F.cross_entropy(logits, labels))
        yield losses[-1], {"loss": sum(loss.detach() for loss in losses) / len(losses),
                           "adversarial_loss": losses[-1].detach(), "adversarial_accuracy": _accuracy(logits, labels)}


class _AttackedCopies(Objective):
    """Base of the objectives whose loss pairs each clean image with its adversarial copy from ``self.attack``
    (run on the whole batch, the model in eval mode)."""

    attack: object

    def perturb(self, model, batch):
        return adversarial_examples(self.attack, model, batch.images, batch.labels)


def _paired_logits(net: nn.Module, x: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor]:
    logits = net(torch.cat([x, x_adv]))
    return logits[: x.shape[0]], logits[x.shape[0]:]


class Trades(_AttackedCopies):
    """TRADES (Zhang et al., ICML 2019, Eq. (5)): CE(f(x), y) + β·KL(f(x) ‖ f(x')), x' from the KL attack."""

    def __init__(self, attack, beta: float) -> None:
        self.attack, self.beta = attack, beta

    def loss(self, net, batch, perturbed):
        clean, adv = _paired_logits(net, batch.images, perturbed)
        ce, kl = F.cross_entropy(clean, batch.labels), kl_divergence(adv, batch.labels, clean).mean()
        loss = ce + self.beta * kl
        return loss, {"loss": loss.detach(), "kl": kl.detach(), "clean_accuracy": _accuracy(clean, batch.labels),
                      "adversarial_accuracy": _accuracy(adv, batch.labels)}


class Mart(_AttackedCopies):
    """MART (Wang et al., ICLR 2020, Eq. (9)): BCE(f(x'), y) + β·mean[KL(f(x) ‖ f(x'))·(1 − p_y(x))], with
    BCE = CE(f(x'), y) − log(1 − max_{k≠y} p_k(x'))."""

    def __init__(self, attack, beta: float) -> None:
        self.attack, self.beta = attack, beta

    def loss(self, net, batch, perturbed):
        clean, adv = _paired_logits(net, batch.images, perturbed)
        y = batch.labels
        adv_probs = F.softmax(adv, dim=1)
        runner_up = adv_probs.scatter(1, y[:, None], 0.0).amax(dim=1)
        bce = F.cross_entropy(adv, y) - torch.log(1.0001 - runner_up + 1e-12).mean()
        true_prob = F.softmax(clean, dim=1).gather(1, y[:, None]).squeeze(1)
        robust = (kl_divergence(adv, y, clean) * (1.0000001 - true_prob)).mean()
        loss = bce + self.beta * robust
        return loss, {"loss": loss.detach(), "clean_accuracy": _accuracy(clean, y),
                      "adversarial_accuracy": _accuracy(adv, y)}


class LogitPairing(_AttackedCopies):
    """ALP (Kannan et al., 2018): CE(f(x')) + w·mean‖f(x') − f(x)‖₂; CLP (``clean=True``): CE(f(x)) + the same
    pairing term (docs/papers.md §3)."""

    def __init__(self, attack, weight: float, clean: bool) -> None:
        self.attack, self.weight, self.clean = attack, weight, clean

    def loss(self, net, batch, perturbed):
        clean, adv = _paired_logits(net, batch.images, perturbed)
        ce = F.cross_entropy(clean if self.clean else adv, batch.labels)
        pairing = (adv - clean).norm(dim=1).mean()
        loss = ce + self.weight * pairing
        return loss, {"loss": loss.detach(), "pairing": pairing.detach(),
                      "clean_accuracy": _accuracy(clean, batch.labels),
                      "adversarial_accuracy": _accuracy(adv, batch.labels)}


class Dale(_AttackedCopies):
    """DALE (Robey et al., NeurIPS 2021, Alg. 1; docs/papers.md §3): robust loss + ν·CE(f(x), y), the robust loss
    CE(f(x')) for the LMC samplers or KL(f(x) ‖ f(x')) for the KL sampler, with the dual update
    ν ← max(0, ν + η_d·(CE_clean − ρ)) after each step (η_d = 0 keeps ν fixed)."""

    def __init__(self, attack, kind: str, nu: float, dual_lr: float, margin: float) -> None:
        self.attack, self.kind = attack, kind
        self.nu, self.dual_lr, self.margin = nu, dual_lr, margin

    def loss(self, net, batch, perturbed):
        clean, adv = _paired_logits(net, batch.images, perturbed)
        clean_loss = F.cross_entropy(clean, batch.labels)
        robust = (kl_divergence(adv, batch.labels, clean).mean() if self.kind == "kl"
                  else F.cross_entropy(adv, batch.labels))
        loss = robust + self.nu * clean_loss
        return loss, {"loss": loss.detach(), "clean_loss": clean_loss.detach(), "robust_loss": robust.detach(),
                      "nu": torch.tensor(self.nu), "clean_accuracy": _accuracy(clean, batch.labels),
                      "adversarial_accuracy": _accuracy(adv, batch.labels)}

    def after_step(self, logs):
        self.nu = max(0.0, self.nu + self.dual_lr * (float(logs["clean_loss"]) - self.margin))

    def state_dict(self):
        return {"nu": self.nu}

    def load_state_dict(self, state):
        self.nu = float(state["nu"])


class AdversarialWeightPerturbation(Objective):
    """AWP around another objective (AT-AWP around 50/50 or Madry AT, TRADES-AWP around TRADES): the inner
    objective's perturbed inputs are computed once; from epoch ``warmup_epochs`` (0-based) on, its loss on them
    gives the weight offsets (``weight_perturbation``), which are added before the training forward pass and
    removed, by restoring a copy, after the backward pass, before the optimiser step: the step is
    w ← w − lr·∇L(w + v) (Alg. 1, lines 6-8; the authors subtract v after the step, which differs only in
    where weight decay is taken)."""

    def __init__(self, inner: Objective, gamma: float, warmup_epochs: int) -> None:
        self.inner, self.gamma, self.warmup_epochs = inner, gamma, warmup_epochs
        self.epoch, self._unperturbed = 0, {}

    def begin_epoch(self, epoch):
        self.epoch = epoch
        self.inner.begin_epoch(epoch)

    def __call__(self, model, net, batch: Batch):
        perturbed = self.inner.perturb(model, batch)
        if self.epoch >= self.warmup_epochs and self.gamma > 0:
            offsets = weight_perturbation(model, lambda m: self.inner.loss(m, batch, perturbed)[0], self.gamma)
            with torch.no_grad():
                for name, p in model.named_parameters():
                    if name in offsets:
                        self._unperturbed[name] = p.detach().clone()
                        p.add_(offsets[name])
            self._model = model
        try:
            return self.inner.loss(net, batch, perturbed)
        except BaseException:
            self._restore()  # a caller that goes on must not keep the perturbed weights
            raise

    def _restore(self) -> None:
        if self._unperturbed:
            with torch.no_grad():
                for name, p in self._model.named_parameters():
                    if name in self._unperturbed:
                        p.copy_(self._unperturbed[name])
            self._unperturbed = {}

    def before_step(self):
        self._restore()
        self.inner.before_step()

    def after_step(self, logs):
        self.inner.after_step(logs)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


__all__ = ["AdversarialWeightPerturbation", "Batch", "Dale", "LogitPairing", "Mart", "Mixed", "Normal", "Objective",
           "SeparateSteps",
           "Trades", "attack_perturbation", "random_transformation", "reconstruction"]


# looked up by name when 0.1's spelling is used: the registry imports this module, not the other way round
__getattr__ = moved_names(__name__, {  # pyadvman 0.1
    "build_objective": ("pyadvman.training.build_objective (pyadvman.training.objective_registry)",
                        lambda: importlib.import_module("pyadvman.training.objective_registry").build_objective),
})
