// linf_project on CUDA.
#include <torch/library.h>

#include "ops.h"

TORCH_LIBRARY_IMPL(pyadvman, CUDA, m) {
  m.impl("linf_project", &pyadvman::linf_project_op<pyadvman::run_linf_ball_cuda>);
}
