// pgd_step and pgd_step_ on CUDA.
#include <torch/library.h>

#include "ops.h"

TORCH_LIBRARY_IMPL(pyadvman, CUDA, m) {
  m.impl("pgd_step", &pyadvman::pgd_step_op<pyadvman::run_linf_ball_cuda>);
  m.impl("pgd_step_", &pyadvman::pgd_step_inplace_op<pyadvman::run_linf_ball_cuda>);
}
