"""K modules of one architecture (the class VAE-GANs' decoders or encoders) run on a mixed batch in one call:
their parameters stacked (``torch.func.stack_module_state``) and the call vectorised over them (``vmap``), so a
batch whose rows belong to different classes is not split into one small call per class."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap


class StackedModules:
    """``modules`` (one architecture) as one vectorised call over their stacked weights.

    The stacked copy is rebuilt whenever a weight or buffer of the modules changes (after loading, moving or
    further training). Its tensors are detached, so only inputs receive gradients, and BatchNorm layers use
    their running statistics: callers check :meth:`usable` and otherwise call the modules one by one.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        self.modules = list(modules)
        self.template = copy.deepcopy(self.modules[0]).to("meta").eval()
        self._key: tuple | None = None
        self._stacked: tuple[dict[str, Tensor], dict[str, Tensor]] | None = None

    def usable(self) -> bool:
        """True when every module is in eval mode and no gradient towards their weights is wanted (grad mode
        off, or no weight requires grad)."""
        if any(m.training for module in self.modules for m in module.modules()):
            return False
        return not torch.is_grad_enabled() or not any(p.requires_grad for m in self.modules for p in m.parameters())

    def _weights(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        key = tuple((t.data_ptr(), t._version, t.device, t.dtype) for m in self.modules
                    for t in (*m.parameters(), *m.buffers()))
        if key != self._key:
            # never inference tensors (a first call under inference_mode), which a later attack could not save
            with torch.inference_mode(False), torch.no_grad():
                params, buffers = stack_module_state(self.modules)
            self._stacked = ({k: v.detach() for k, v in params.items()}, buffers)
            self._key = key
        return self._stacked

    def __call__(self, inputs: Tensor, routes: Tensor) -> Tensor | tuple[Tensor, ...]:
        """Module ``routes[i]`` applied to row ``inputs[i]``: inputs Tensor[B, ...], routes Tensor[B] int64 in
        [0, K). Returns what one module returns, with B rows in the rows' order and the inputs' dtype. The rows
        are grouped by module and padded to the largest group, so the call computes (modules present) × (largest
        group) rows."""
        present, counts = routes.unique(return_counts=True)
        order = routes.argsort(stable=True)
        width = int(counts.max())
        slot = torch.arange(routes.numel(), device=routes.device) - torch.repeat_interleave(
            counts.cumsum(0) - counts, counts)
        group = torch.repeat_interleave(torch.arange(present.numel(), device=routes.device), counts)
        padded = inputs.new_zeros(present.numel(), width, *inputs.shape[1:])
        padded = padded.index_put((group, slot), inputs[order])
        params, buffers = self._weights()
        params = {name: value[present] for name, value in params.items()}
        buffers = {name: value[present] for name, value in buffers.items()}
        out = vmap(lambda p, b, x: functional_call(self.template, (p, b), (x,)))(params, buffers, padded)

        def unpad(t: Tensor) -> Tensor:
            rows = t[group, slot].to(inputs.dtype)  # the inputs' dtype, as the loop's output (also under autocast)
            return torch.empty_like(rows).index_copy(0, order, rows)

        return tuple(unpad(t) for t in out) if isinstance(out, tuple) else unpad(out)
