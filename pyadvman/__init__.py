"""pyadvman: adversarial robustness versus generalization on data manifolds.

The hot paths are fused C++/CUDA operators under ``torch.ops.pyadvman`` (wrapped in :mod:`pyadvman.ops`);
:func:`build_info` tells how the compiled library was built.
"""

from pyadvman import ops
from pyadvman._compat import install_moved_module_finder
from pyadvman._library import build_info, library_loaded

install_moved_module_finder()
__version__ = "0.2.0"
__all__ = ["__version__", "build_info", "library_loaded", "ops"]
