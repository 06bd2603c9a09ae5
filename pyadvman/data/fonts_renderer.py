"""The true manifold of FONTS: a differentiable renderer (font, letter, θ) -> image (docs/papers.md §1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pyadvman.data.affine_transforms import warp


class FontsRenderer(nn.Module):
    """Renders FONTS images from their codes: the prototype of (font, letter) warped by θ.

    This is the generator of the dataset, so its outputs lie on the data manifold by construction and
    reproduce the stored images. Differentiable in θ (not in the discrete font and letter). Works batched
    on any device (move it with ``.to(device)``).

    Args:
        prototypes (Tensor[F, L, H, W]): glyphs of F fonts and L letters, float, values in [0, 1].

    Raises:
        ValueError: prototypes not 4-d, or with values outside [0, 1] (NaN included).
    """

    def __init__(self, prototypes: Tensor) -> None:
        super().__init__()
        if prototypes.dim() != 4:
            raise ValueError(f"prototypes must have shape [F, L, H, W], got {list(prototypes.shape)}")
        if prototypes.numel() and not (prototypes.isfinite().all() and prototypes.min() >= 0 and prototypes.max() <= 1):
            raise ValueError("prototypes must have values in [0, 1], got "
                             f"[{prototypes.min().item()}, {prototypes.max().item()}]")
        self.register_buffer("prototypes", prototypes.to(torch.float32).contiguous())

    @property
    def num_fonts(self) -> int:
        return self.prototypes.shape[0]

    @property
    def num_letters(self) -> int:
        return self.prototypes.shape[1]

    def forward(self, font: Tensor, letter: Tensor, theta: Tensor) -> Tensor:
        """Renders one image per row.

        Args:
            font (Tensor[B]): int64 font indices in [0, F).
            letter (Tensor[B]): int64 letter indices in [0, L) (0 = "A").
            theta (Tensor[B, 6]): [tx, ty, shear_x, shear_y, scale, rotation] (see pyadvman.data.affine_transforms).

        Returns:
            Tensor[B, 1, H, W]: images in [0, 1], in theta's dtype.

        Raises:
            ValueError: mismatched shapes or indices out of range.

        A θ row holding NaN renders an image of NaN (no error here: attacks discard such iterates).
        """
        batch = theta.shape[0] if theta.dim() == 2 else -1
        for name, codes, limit in (("font", font, self.num_fonts), ("letter", letter, self.num_letters)):
            if codes.shape != (batch,) or codes.dtype != torch.int64:
                raise ValueError(f"{name} must be an int64 tensor [B] with B = theta.shape[0] ({batch}), "
                                 f"got {codes.dtype} {list(codes.shape)}")
            if codes.numel() and not torch.compiler.is_compiling():
                low, high = int(codes.min()), int(codes.max())
                if low < 0 or high >= limit:
                    raise ValueError(f"{name} indices must lie in [0, {limit}), got [{low}, {high}]")
        glyphs = self.prototypes.to(theta.dtype)[font, letter].unsqueeze(1)
        return warp(glyphs, theta)
