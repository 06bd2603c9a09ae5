"""Figures of learned manifolds: per class, test images, their reconstructions and random samples."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from pyadvman.data.image_tiles import displayable, show_images
from pyadvman.data.splits import Split


@torch.no_grad()
def reconstruction_figure(manifold, test: Split, classes: tuple[str, ...], errors: dict[str, float],
                          path: str | Path, per_class: int = 6, seed: int = 0) -> Path:
    """Saves a PNG with one row per class: ``per_class`` test images, their reconstructions, and as many
    samples decoded from codes drawn uniformly inside the class's code bounds; the row title gives the class's
    test reconstruction error (``errors[class name]``)."""
    generator = torch.Generator().manual_seed(seed)
    device = manifold.bounds.device
    rows = []
    for c in range(len(classes)):
        images = test.images[test.labels == c][:per_class].to(device).float()
        labels = torch.full((images.shape[0],), c, dtype=torch.long, device=device)
        recon = manifold.reconstruct(images, labels) if images.shape[0] else images
        low, high = manifold.bounds[c]
        u = torch.rand(per_class, low.shape[0], generator=generator).to(device)
        samples = manifold.decode(low + (high - low) * u, torch.full((per_class,), c, device=device))
        rows.append([displayable(t.cpu().numpy()) for t in (images, recon, samples)])
    channels, size = test.images.shape[1], test.images.shape[-1]
    fig = Figure(figsize=(3 * per_class * 0.45, len(classes) * 0.6 + 0.6))
    axes = fig.subplots(len(classes), 3, squeeze=False)
    for c, parts in enumerate(rows):
        for j, (part, name) in enumerate(zip(parts, ("test images", "reconstructions", "samples"))):
            empty = np.zeros((size, size) if channels == 1 else (size, size, channels))
            strip = np.concatenate(list(part), axis=1) if part.shape[0] else empty
            show_images(axes[c, j], strip, interpolation="nearest")
            axes[c, j].set_xticks([])
            axes[c, j].set_yticks([])
            if c == 0:
                axes[c, j].set_title(name, fontsize=8)
        axes[c, 0].set_ylabel(f"{classes[c]}\nMSE {errors[classes[c]]:.4f}", fontsize=6, rotation=0, ha="right",
                              va="center")
    path = Path(path)
    # the per-class errors also go into the PNG's text chunk, so that tests and scripts can read them back
    fig.savefig(path, dpi=120, bbox_inches="tight", metadata={"Description": json.dumps(errors)})
    return path
