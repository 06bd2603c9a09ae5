"""How close a learned manifold's images are to the data, the evidence behind the learned-manifold claims: if the
class VAE-GANs' reconstructions and samples lie farther from the training images than test images do, the
"on-manifold" adversarial examples are images of a coarser manifold than the data's, and training on them is
training on other data (docs/papers.md §1: on-manifold examples are generalization errors only if they lie on
the data's manifold)."""

from __future__ import annotations

from dataclasses import asdict

import torch

from pyadvman.analysis import nearest_neighbour_distance
from pyadvman.analysis.uncertainty import bootstrap_median
from pyadvman.attacks import eval_mode
from pyadvman.data import DatasetSplits
from pyadvman.manifolds.learned_manifold import LearnedManifold


@torch.no_grad()
def learned_manifold_quality(data: DatasetSplits, manifold: LearnedManifold, *, examples: int = 1000,
                             seed: int = 0, batch_size: int = 500) -> dict:
    """On the first ``examples`` test images x with labels y: the L2 distance of x, of its reconstruction
    dec_y(enc_y(x)) and of a sample dec_y(z), z ~ N(0, I) (the VAE prior), to the nearest training image
    (medians with bootstrap intervals), the reconstruction distance ‖dec_y(enc_y(x)) − x‖ and the VAE-GAN
    config. JSON-ready."""
    test = data.test.first(min(examples, len(data.test)))
    device = manifold.bounds.device
    generator = torch.Generator().manual_seed(seed)
    reconstructions, samples = [], []
    with eval_mode(manifold):
        for start in range(0, len(test), batch_size):
            x = test.images[start:start + batch_size].float().to(device)
            y = test.labels[start:start + batch_size].to(device)
            reconstructions.append(manifold.reconstruct(x, y).cpu())
            z = torch.randn(x.shape[0], manifold.cfg.latent, generator=generator).to(device)
            samples.append(manifold.decode(z, y).cpu())
    reconstructions, samples = torch.cat(reconstructions), torch.cat(samples)
    train = data.train.images
    distances = {"test_image_to_train": nearest_neighbour_distance(test.images, train),
                 "reconstruction_to_train": nearest_neighbour_distance(reconstructions, train),
                 "sample_to_train": nearest_neighbour_distance(samples, train),
                 "reconstruction_to_image": (reconstructions - test.images.float()).flatten(1).norm(dim=1)}
    return {"examples": len(test), "vae_gan": asdict(manifold.cfg),
            "median_distance": {name: bootstrap_median(d.tolist()).as_dict() for name, d in distances.items()}}
