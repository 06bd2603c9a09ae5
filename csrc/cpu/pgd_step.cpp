// pgd_step and pgd_step_ on CPU.
#include <torch/library.h>

#include "ops.h"

TORCH_LIBRARY_IMPL(pyadvman, CPU, m) {
  m.impl("pgd_step", &pyadvman::pgd_step_op<pyadvman::run_linf_ball_cpu>);
  m.impl("pgd_step_", &pyadvman::pgd_step_inplace_op<pyadvman::run_linf_ball_cpu>);
}
