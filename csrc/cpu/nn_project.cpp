// nn_project on CPU.
#include <torch/library.h>

#include "neighbours.h"

TORCH_LIBRARY_IMPL(pyadvman, CPU, m) {
  m.impl("nn_project", [](const at::Tensor& x_adv, const at::Tensor& x, const at::Tensor& reference, int64_t k,
                          const std::optional<at::Tensor>& exclude, int64_t tile, double rtol) {
    return pyadvman::nn_project_with(pyadvman::cpu_neighbour_kernels, x_adv, x, reference, k, exclude, tile, rtol);
  });
}
