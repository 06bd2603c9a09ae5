// knn and nn_project on CPU: tensors to raw pointers, the kernels for this CPU's instruction set, and the
// registration of the two operators' CPU kernels.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "cpu/neighbour_kernels.h"
#include "neighbours.h"

namespace pyadvman {
namespace {

void screen_tile_cpu(const at::Tensor& dot, const at::Tensor& ref_norm2, int64_t first, const at::Tensor& tau,
                     const at::Tensor& exclude, at::Tensor& count, at::Tensor& values, at::Tensor& indices) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(screen_tile_kernel);
  kernel({dot.scalar_type(), dot.const_data_ptr(), ref_norm2.const_data_ptr(), tau.const_data_ptr(),
          exclude.defined() ? exclude.const_data_ptr<int64_t>() : nullptr, count.data_ptr<int64_t>(),
          values.data_ptr(), indices.data_ptr<int64_t>(), first, dot.size(0), dot.size(1), values.size(1)});
}

at::Tensor exact_distances_cpu(const at::Tensor& queries, const at::Tensor& reference, const at::Tensor& indices) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(exact_distances_kernel);
  at::Tensor out = at::empty(indices.sizes(), indices.options().dtype(at::kDouble));
  kernel({queries.scalar_type(), queries.const_data_ptr(), reference.const_data_ptr(),
          indices.const_data_ptr<int64_t>(), out.data_ptr<double>(), indices.size(0), indices.size(1),
          queries.size(1)});
  return out;
}

void project_cpu(const at::Tensor& x_adv, const at::Tensor& x, const at::Tensor& reference,
                 const at::Tensor& indices, double rtol, at::Tensor& projection, at::Tensor& residual,
                 at::Tensor& angle) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(project_kernel);
  kernel({x.scalar_type(), x_adv.const_data_ptr(), x.const_data_ptr(), reference.const_data_ptr(),
          indices.const_data_ptr<int64_t>(), projection.data_ptr(), residual.data_ptr(), angle.data_ptr(),
          x.size(0), indices.size(1), x.size(1), rtol});
}

const NeighbourKernels cpu_neighbour_kernels{screen_tile_cpu, exact_distances_cpu, project_cpu};

std::tuple<at::Tensor, at::Tensor> knn_cpu(const at::Tensor& queries,    // [B, D]
                                           const at::Tensor& reference,  // [N, D]
                                           int64_t k,
                                           const std::optional<at::Tensor>& exclude,  // [B] int64, −1 = none
                                           int64_t tile) {
  return knn_with(cpu_neighbour_kernels, queries, reference, k, exclude, tile);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> nn_project_cpu(const at::Tensor& x_adv,      // [B, D]
                                                              const at::Tensor& x,          // [B, D]
                                                              const at::Tensor& reference,  // [N, D]
                                                              int64_t k, const std::optional<at::Tensor>& exclude,
                                                              int64_t tile, double rtol) {
  return nn_project_with(cpu_neighbour_kernels, x_adv, x, reference, k, exclude, tile, rtol);
}

}  // namespace
}  // namespace pyadvman

TORCH_LIBRARY_IMPL(pyadvman, CPU, m) {
  m.impl("knn", &pyadvman::knn_cpu);
  m.impl("nn_project", &pyadvman::nn_project_cpu);
}
