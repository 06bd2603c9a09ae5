"""pyadvman's operators: Python wrappers over ``torch.ops.pyadvman`` with their pure-PyTorch twins.

=====================  ======================================================================
``linf_project``       projection onto an L∞ ball ∩ box, checker-exact
``pgd_step``           one L∞ PGD step fused with the projection (``pgd_step_`` in place)
``*_reference``        pure-PyTorch twins: the test oracle and the fallback without ``_C``
=====================  ======================================================================
"""

from pyadvman.ops.linf_project import linf_project, linf_project_reference
from pyadvman.ops.pgd_step import pgd_step, pgd_step_, pgd_step_reference

__all__ = ["linf_project", "linf_project_reference", "pgd_step", "pgd_step_", "pgd_step_reference"]
