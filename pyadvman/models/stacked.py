"""K standard classifiers of one shape run as one module (grouped convolutions), so that the many small models of a
study's grid (the seeds of a (variant, N)) train and are attacked in one pass each instead of K: on a GPU one
28×28 model uses well under 1% of the device, and throughput comes from running many at once.

Model k sees only its own rows: the convolutions are grouped (``groups=K``, model k's filters see model k's
channels), BatchNorm normalises each model's channels over its own batch, and the linear layers are batched matrix
products. So the logits, the input gradients, the weight gradients and (with an elementwise optimiser such as
Adam, whose step count is shared because the models step together) every update equal model k's alone, up to the
rounding of the grouped kernels. bench/bench_stacked.py measures when that is faster.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pyadvman.models.standard import StandardClassifier


class StackedClassifiers(nn.Module):
    """``models`` (K >= 1 StandardClassifiers of one architecture) as one module.

    Input Tensor[K, B, C, H, W] float (row block k for model k, the same B for every model); output logits
    Tensor[K, B, classes]. The stacked module holds copies of the models' weights and BatchNorm statistics:
    :meth:`unstack` writes them back.

    Raises:
        ValueError: no models, models of different architectures or shapes, or models that are not
            StandardClassifiers.
    """

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, models: Sequence[StandardClassifier]) -> None:
        super().__init__()
        models = list(models)
        if not models or not all(isinstance(m, StandardClassifier) for m in models):
            raise ValueError(f"models must be a non-empty sequence of StandardClassifier, got "
                             f"{[type(m).__name__ for m in models]}")
        shapes = {tuple((n, tuple(t.shape)) for n, t in m.state_dict().items()) for m in models}
        if len(shapes) != 1:
            raise ValueError("models must share one architecture (the same layers and shapes)")
        self.count = k = len(models)
        layers: list[nn.Module] = []
        for index, layer in enumerate(models[0].features):
            if isinstance(layer, nn.Conv2d):
                grouped = nn.Conv2d(layer.in_channels * k, layer.out_channels * k, layer.kernel_size,
                                    stride=layer.stride, padding=layer.padding, groups=k)
                with torch.no_grad():
                    grouped.weight.copy_(torch.cat([m.features[index].weight for m in models]))
                    grouped.bias.copy_(torch.cat([m.features[index].bias for m in models]))
                layers.append(grouped)
            elif isinstance(layer, nn.BatchNorm2d):
                norm = nn.BatchNorm2d(layer.num_features * k, eps=layer.eps, momentum=layer.momentum)
                with torch.no_grad():
                    for name in ("weight", "bias", "running_mean", "running_var"):
                        getattr(norm, name).copy_(torch.cat([getattr(m.features[index], name) for m in models]))
                    norm.num_batches_tracked.copy_(layer.num_batches_tracked)
                layers.append(norm)
            else:
                layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers)
        self.representation_weight = nn.Parameter(torch.stack([m.representation.weight.detach() for m in models]))
        self.representation_bias = nn.Parameter(torch.stack([m.representation.bias.detach() for m in models]))
        self.logits_weight = nn.Parameter(torch.stack([m.logits.weight.detach() for m in models]))
        self.logits_bias = nn.Parameter(torch.stack([m.logits.bias.detach() for m in models]))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[0] != self.count:
            raise ValueError(f"x must be Tensor[{self.count}, B, C, H, W] (one row block per model), got "
                             f"{list(x.shape)}")
        k, batch = x.shape[:2]
        h = self.features(x.transpose(0, 1).reshape(batch, k * x.shape[2], *x.shape[3:]))
        h = h.reshape(batch, k, -1).transpose(0, 1)                       # [K, B, features]
        h = torch.baddbmm(self.representation_bias[:, None], h, self.representation_weight.transpose(1, 2))
        return torch.baddbmm(self.logits_bias[:, None], h, self.logits_weight.transpose(1, 2))

    def unstack(self, models: Sequence[StandardClassifier]) -> None:
        """Writes model k's weights and BatchNorm statistics back into ``models[k]`` (the models it was built
        from, or models of their architecture).

        Raises:
            ValueError: not K models.
        """
        models = list(models)
        if len(models) != self.count:
            raise ValueError(f"models must be the {self.count} stacked models, got {len(models)}")
        with torch.no_grad():
            for index, layer in enumerate(self.features):
                for name in ("weight", "bias", "running_mean", "running_var"):
                    if hasattr(layer, name) and getattr(layer, name) is not None:
                        for model, part in zip(models, getattr(layer, name).chunk(self.count)):
                            getattr(model.features[index], name).copy_(part)
                if isinstance(layer, nn.BatchNorm2d):
                    for model in models:
                        model.features[index].num_batches_tracked.copy_(layer.num_batches_tracked)
            for k, model in enumerate(models):
                model.representation.weight.copy_(self.representation_weight[k])
                model.representation.bias.copy_(self.representation_bias[k])
                model.logits.weight.copy_(self.logits_weight[k])
                model.logits.bias.copy_(self.logits_bias[k])
