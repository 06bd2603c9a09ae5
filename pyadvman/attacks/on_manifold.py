"""On-manifold attacks (Stutz et al., CVPR 2019, Sec. 3.2; docs/papers.md §1 "Attacks"): perturb the code of a
generator of the manifold, so every adversarial example is a generator output and lies on the manifold."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pyadvman.attacks.code_attack import CodeAttack, CodeSpace
from pyadvman.attacks.model_mode import eval_mode, frozen_parameters
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.threat_models import LinfBall
from pyadvman.data.fonts_renderer import FontsRenderer
from pyadvman.data.splits import DatasetSplits
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.memory_format import in_memory_format


@accepts_old_spellings
@dataclass(frozen=True)
class TrueManifoldAttack(CodeAttack):
    """On-true-manifold attack on FONTS: font and letter fixed, θ + δ optimised through the renderer,
    ‖δ‖∞ ≤ eta, θ + δ clipped per dimension to [theta_low, theta_high] (the data's range of θ).

    Args:
        renderer: the FONTS renderer (``FontsRenderer(data.prototypes)``).
        theta_low, theta_high (Tensor[6]): per-dimension range of θ, e.g. the training set's min / max.
        eta, protocol, execution: see :class:`CodeAttack`. Default eta 0.3 (the paper's).

    :meth:`run` takes ``codes`` (Tensor[B, 2] int64 font, letter) and ``theta`` (Tensor[B, 6]) besides
    (model, x, y); x (the stored images, Tensor[B, 1, H, W]) is checked but the clean reference is the
    renderer's output at θ, which equals it. ``result.params`` holds the adversarial θ [R, B, 6].

    Raises:
        ValueError: bad shapes, codes outside the renderer, θ range with low > high.
    """

    renderer: FontsRenderer | None = None
    theta_low: Tensor | None = None
    theta_high: Tensor | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.renderer is None or self.theta_low is None or self.theta_high is None:
            raise ValueError("renderer, theta_low and theta_high are required")
        if (self.theta_low.shape != (6,) or self.theta_high.shape != (6,)
                or bool((self.theta_low > self.theta_high).any())):
            raise ValueError(f"theta_low and theta_high must be Tensor[6] with low <= high, got "
                             f"{self.theta_low.tolist()} and {self.theta_high.tolist()}")

    @classmethod
    def on_split(cls, data: DatasetSplits, split: str, **options: object) -> TrueManifoldAttack:
        """The attack on the examples of ``data``'s split ``split`` ("train", "validation" or "test"): the
        renderer of its prototypes and θ clipped to that split's range, as the released code of Stutz et al.
        clips (training attacks to the training set's θ range, test attacks to the test set's). ``options``:
        eta, protocol, execution.

        Raises:
            ValueError: ``data`` has no true manifold (only FONTS has prototypes and θ).
        """
        if data.prototypes is None or getattr(data, split).theta is None:
            raise ValueError(f"the on-true-manifold attack needs FONTS (prototypes and θ); dataset {data.name!r} "
                             "has none")
        low, high = getattr(data, split).theta_range()
        return cls(renderer=FontsRenderer(data.prototypes), theta_low=low, theta_high=high, **options)

    def run(self, model: nn.Module, x: Tensor, y: Tensor, codes: Tensor | None = None,
            theta: Tensor | None = None) -> AttackResult:
        """Attacks the FONTS examples (x, y) with codes (Tensor[B, 2] int64: font, letter) and theta
        (Tensor[B, 6]). Raises ValueError on missing or malformed codes or theta, or non-finite theta."""
        return super().run(model, x, y, codes=codes, theta=theta)

    @contextmanager
    def code_space(self, x: Tensor, y: Tensor, codes: Tensor | None = None,
                   theta: Tensor | None = None) -> Iterator[CodeSpace]:
        if codes is None or codes.shape != (x.shape[0], 2) or codes.dtype != torch.int64:
            raise ValueError(f"codes must be an int64 Tensor[{x.shape[0]}, 2] (font, letter), got "
                             f"{None if codes is None else f'{codes.dtype} {list(codes.shape)}'}")
        if theta is None or theta.shape != (x.shape[0], 6):
            raise ValueError(f"theta must be a Tensor[{x.shape[0]}, 6], got "
                             f"{None if theta is None else list(theta.shape)}")
        _check_finite_codes("theta", theta)
        renderer = self.renderer.to(x.device)
        font, letter = codes[:, 0], codes[:, 1]

        def render(p: Tensor) -> Tensor:
            restarts = p.shape[0]
            images = renderer(font.repeat(restarts), letter.repeat(restarts), p.flatten(0, 1))
            return images.view(restarts, -1, *images.shape[1:])

        low, high = self.theta_low.to(x), self.theta_high.to(x)
        start = torch.minimum(torch.maximum(theta.to(x), low), high)
        yield CodeSpace(start, LinfBall(self.eta, low, high), render)


def _check_finite_codes(name: str, codes: Tensor) -> None:
    """Raises ValueError naming the first rows whose code holds NaN or inf (they would render NaN images)."""
    bad = ~torch.isfinite(codes).flatten(1).all(dim=1)
    if bool(bad.any()):
        rows = bad.nonzero().flatten()
        raise ValueError(f"{name} must be finite; rows {rows[:5].tolist()}{' …' if len(rows) > 5 else ''} "
                         f"({len(rows)} of {codes.shape[0]}) hold NaN or inf")


@accepts_old_spellings
@dataclass(frozen=True)
class LearnedManifoldAttack(CodeAttack):
    """On-learned-manifold attack: x̃ = dec_y(z + ζ) with z the class-y encoder's mean of x, ‖ζ‖∞ ≤ eta,
    z + ζ clipped per dimension to the class's code range. Clean accuracy (for the success rate) is measured on
    the reconstruction dec_y(z), as in the paper.

    Args:
        manifold: class-specific VAE-GANs (``LearnedManifold``; class -1 would be the class-agnostic model).
        class_agnostic: use the class-agnostic model for every example instead of the class-specific ones.
        eta, protocol, execution: see :class:`CodeAttack`. Default eta 0.3 (the paper's).

    ``result.params`` holds the adversarial codes [R, B, latent]; ``result.clean`` the reconstructions.
    """

    manifold: LearnedManifold | None = None
    class_agnostic: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.manifold is None:
            raise ValueError("manifold (a LearnedManifold) is required")

    @contextmanager
    def code_space(self, x: Tensor, y: Tensor) -> Iterator[CodeSpace]:
        manifold = self.manifold.to(x.device)
        routes = torch.full_like(y, -1) if self.class_agnostic else y
        with eval_mode(manifold), torch.no_grad():
            z = manifold.encode(x, routes)
        _check_finite_codes("the manifold's codes of x (its weights or bounds hold NaN or inf?)", z)
        low, high = manifold.code_bounds(routes)

        def render(p: Tensor) -> Tensor:
            restarts = p.shape[0]
            images = manifold.decode(p.flatten(0, 1), routes.repeat(restarts))
            return images.view(restarts, -1, *images.shape[1:])

        # BatchNorm is folded only where each class model is called itself: a stacked call reads its own copy
        prepared = self.execution.prepared(manifold, x.device) if manifold.calls_models_one_by_one(x.device) \
            else in_memory_format(manifold, self.execution.memory_format, x.device)
        with eval_mode(manifold), frozen_parameters(manifold), prepared:
            yield CodeSpace(z, LinfBall(self.eta, low.to(z), high.to(z)), render)
