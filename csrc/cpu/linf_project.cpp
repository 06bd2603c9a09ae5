// linf_project on CPU.
#include <torch/library.h>

#include "ops.h"

TORCH_LIBRARY_IMPL(pyadvman, CPU, m) {
  m.impl("linf_project", &pyadvman::linf_project_op<pyadvman::run_linf_ball_cpu>);
}
