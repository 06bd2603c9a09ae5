"""One VAE-GAN (docs/papers.md §1): its model, its configuration with presets, and its resumable training.

Losses per batch (sums over pixels and latent dimensions, means over the batch), as in the paper's code:
    encoder:        KL(q(z|x) ‖ N(0, I)) + β·‖x − x̂‖₁ + γ·softplus(−D(x̂))
    decoder:        β·‖x − x̂‖₁ + γ·softplus(−D(x̂))
    discriminator:  softplus(−D(x)) + softplus(D(x̂))          (real vs reconstruction)
with x̂ = dec(μ + σ·ε). Adam, learning rate lr·decay^epoch, one step of each network per batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from pyadvman._atomic import save_atomic
from pyadvman._file_reading import load_checkpoint, load_weights
from pyadvman.manifolds.vae_gan_networks import Decoder, Discriminator, Encoder
from pyadvman.memory_format import to_memory_format

# β of the reconstruction term per dataset (docs/papers.md §1); other datasets use 2.75.
DATASET_BETA = {"fonts": 3.0, "emnist": 2.25, "fashion-mnist": 2.75}


@dataclass(frozen=True)
class VAEGANConfig:
    """Hyperparameters of one VAE-GAN and its training (defaults: the paper's, for Fashion-MNIST)."""

    latent: int = 10  # latent dimensions (paper: 10; CelebA 25)
    channels: int = 64  # channels of the first convolution, doubled per stage (paper: 64)
    beta: float = 2.75  # weight of the L1 reconstruction (FONTS 3, EMNIST 2.25, Fashion-MNIST 2.75)
    gamma: float = 1.0  # weight of the GAN terms
    lr: float = 0.005  # Adam learning rate of all three networks
    lr_decay: float = 0.9  # learning rate multiplied by this every epoch
    batch_size: int = 100
    epochs: int = 60  # paper: 10 (FONTS), 30 (EMNIST), 60 (Fashion-MNIST)
    max_examples: int | None = None  # train each model on at most this many of its images (None: all)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latent", "channels", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1 or self.beta < 0 or self.gamma < 0:
            raise ValueError(f"need lr > 0, 0 < lr_decay <= 1, beta >= 0, gamma >= 0; got lr={self.lr}, "
                             f"lr_decay={self.lr_decay}, beta={self.beta}, gamma={self.gamma}")


PAPER_EPOCHS = {"fonts": 10, "emnist": 30, "fashion-mnist": 60}


def vae_gan_config(preset: str, dataset: str, **overrides: object) -> VAEGANConfig:
    """The "paper" preset (paper hyperparameters for the dataset, for a GPU) or "quick" (a quarter of the channels,
    5 epochs on at most 5,000 images per model: about 2.5 minutes for Fashion-MNIST's 11 models on 2 CPU cores;
    in five epochs it reconstructs Fashion-MNIST's test images better than 32 channels do, docs/protocol.md).

    Raises:
        ValueError: an unknown preset. TypeError: an unknown field in overrides.
    """
    beta = DATASET_BETA.get(dataset, 2.75)
    if preset == "paper":
        base = VAEGANConfig(beta=beta, epochs=PAPER_EPOCHS.get(dataset, 30))
    elif preset == "quick":
        base = VAEGANConfig(beta=beta, channels=16, epochs=5, max_examples=5000)
    else:
        raise ValueError(f"VAE-GAN preset must be 'quick' or 'paper', got {preset!r}")
    return replace(base, **overrides)


class VAEGAN(nn.Module):
    """Encoder, decoder and discriminator of one VAE-GAN for images [B, C, S, S] in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int], cfg: VAEGANConfig) -> None:
        super().__init__()
        channels, size, width = image_shape
        if size != width:
            raise ValueError(f"image_shape must be square (C, S, S), got {tuple(image_shape)}")
        self.encoder = Encoder(channels, size, cfg.latent, cfg.channels)
        self.decoder = Decoder(channels, size, cfg.latent, cfg.channels)
        self.discriminator = Discriminator(channels, size, cfg.channels)

    def encode(self, x: Tensor) -> Tensor:
        """Codes of images: the encoder means μ, Tensor[B, latent]."""
        return self.encoder(x)[0]

    def decode(self, z: Tensor) -> Tensor:
        """Images of codes: Tensor[B, C, S, S] in (0, 1)."""
        return self.decoder(z)


def _losses(model: VAEGAN, x: Tensor, cfg: VAEGANConfig) -> tuple[Tensor, Tensor, Tensor]:
    mean, log_var = model.encoder(x)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
    recon = model.decoder(z)
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp(), 1).mean()
    l1 = (recon - x).abs().flatten(1).sum(1).mean()
    model.discriminator.requires_grad_(False)
    fool = F.softplus(-model.discriminator(recon)).mean()
    model.discriminator.requires_grad_(True)
    real_vs_fake = F.softplus(-model.discriminator(x)).mean() + F.softplus(model.discriminator(recon.detach())).mean()
    return kl + cfg.beta * l1 + cfg.gamma * fool, cfg.gamma * real_vs_fake, l1


def train_vae_gan(images: Tensor, cfg: VAEGANConfig, checkpoint: str | Path, *, desc: str = "VAE-GAN",
                  progress: bool = True, device: str | torch.device = "cpu") -> VAEGAN:
    """Trains one VAE-GAN on images, checkpointing after every epoch; resumes from ``checkpoint`` if present.

    Args:
        images (Tensor[N, C, S, S]): float in [0, 1]; at most cfg.max_examples (the first ones) are used.
        cfg: hyperparameters.
        checkpoint: file of the training state (written atomically each epoch, loadable with
            ``weights_only=True``); once the last epoch is done, a later call just loads the model.
        desc: progress bar label.
        device: where to train.

    Returns:
        VAEGAN in eval mode, on ``device``.

    Raises:
        ValueError: images not [N, C, S, S] or empty.
    """
    if images.dim() != 4 or images.shape[0] == 0:
        raise ValueError(f"images must have shape [N, C, S, S] with N > 0, got {list(images.shape)}")
    if cfg.max_examples is not None:
        images = images[: cfg.max_examples]
    checkpoint = Path(checkpoint)
    torch.manual_seed(cfg.seed)
    model = VAEGAN(tuple(images.shape[1:]), cfg).to(device)
    to_memory_format(model, "auto", device)  # channels-last on CPU: about 1.25x faster a batch
    groups = [model.encoder, model.decoder, model.discriminator]
    optimisers = [torch.optim.Adam(g.parameters(), lr=cfg.lr) for g in groups]
    epoch, generator = 0, torch.Generator().manual_seed(cfg.seed)
    if checkpoint.is_file():
        state = load_checkpoint(checkpoint, "delete it to train this VAE-GAN from the start")
        if state["config"] != asdict(cfg):
            raise ValueError(f"checkpoint {checkpoint} was written with another config: {state['config']}")
        load_weights(model, state, "model", checkpoint, "delete it to train this VAE-GAN from the start")
        for optimiser, saved in zip(optimisers, state["optimisers"]):
            optimiser.load_state_dict(saved)
        epoch = state["epoch"]
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
    batches = math.ceil(images.shape[0] / cfg.batch_size)
    with tqdm(total=cfg.epochs * batches, initial=epoch * batches, desc=desc, unit="batch",
              disable=not progress) as bar:
        while epoch < cfg.epochs:
            model.train()
            for optimiser in optimisers:
                for group in optimiser.param_groups:
                    group["lr"] = cfg.lr * cfg.lr_decay ** epoch
            order = torch.randperm(images.shape[0], generator=generator)
            for b in range(batches):
                x = images[order[b * cfg.batch_size: (b + 1) * cfg.batch_size]].to(device, torch.float32)
                generator_loss, discriminator_loss, l1 = _losses(model, x, cfg)
                for optimiser in optimisers:
                    optimiser.zero_grad(set_to_none=True)
                # the KL term does not depend on the decoder, so one backward gives both networks' gradients
                generator_loss.backward()
                discriminator_loss.backward()
                for optimiser in optimisers:
                    optimiser.step()
                bar.set_postfix(l1=f"{l1.item() / x[0].numel():.4f}", disc=f"{discriminator_loss.item():.3f}")
                bar.update()
            epoch += 1
            save_atomic({"config": asdict(cfg), "model": model.state_dict(), "epoch": epoch,
                          "optimisers": [o.state_dict() for o in optimisers], "generator": generator.get_state(),
                          "torch_rng": torch.get_rng_state()}, checkpoint)
    return model.eval()
