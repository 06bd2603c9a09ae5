"""pyadvman's operators: Python wrappers over ``torch.ops.pyadvman`` with their pure-PyTorch twins.

=====================  ======================================================================
``linf_project``       projection onto an L∞ ball ∩ box, checker-exact
``pgd_step``           one L∞ PGD step fused with the projection (``pgd_step_`` in place)
``l2_project``         projection onto an L2 ball, then the box, checker-exact
``l2_step``            one normalised-gradient L2 step fused with ``l2_project``
``l1_project``         exact projection onto an L1 ball ∩ box (Croce & Hein, 2021)
``knn``                exact squared-L2 k nearest neighbours, tiled (never the [B, N] matrix)
``nn_project``         projection of x_adv − x onto the span of its k nearest neighbours minus x
``*_reference``        pure-PyTorch twins: the test oracle and the fallback without ``_C``
=====================  ======================================================================
"""

from pyadvman.ops.knn import knn, knn_reference
from pyadvman.ops.l1_project import l1_project, l1_project_reference
from pyadvman.ops.l2_ball import l2_project, l2_project_reference, l2_step, l2_step_reference
from pyadvman.ops.linf_project import linf_project, linf_project_reference
from pyadvman.ops.nn_project import nn_project, nn_project_reference
from pyadvman.ops.pgd_step import pgd_step, pgd_step_, pgd_step_reference

__all__ = [
    "knn",
    "knn_reference",
    "l1_project",
    "l1_project_reference",
    "l2_project",
    "l2_project_reference",
    "l2_step",
    "l2_step_reference",
    "linf_project",
    "linf_project_reference",
    "nn_project",
    "nn_project_reference",
    "pgd_step",
    "pgd_step_",
    "pgd_step_reference",
]
