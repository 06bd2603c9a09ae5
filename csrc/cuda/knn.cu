// knn on CUDA.
#include <torch/library.h>

#include "neighbours.h"

TORCH_LIBRARY_IMPL(pyadvman, CUDA, m) {
  m.impl("knn", [](const at::Tensor& queries, const at::Tensor& reference, int64_t k,
                   const std::optional<at::Tensor>& exclude, int64_t tile) {
    return pyadvman::knn_with(pyadvman::cuda_neighbour_kernels, queries, reference, k, exclude, tile);
  });
}
