// knn and nn_project on CUDA: the tile screening, the exact float64 re-ranking and the projection (the
// device-generic drivers are knn.cpp and nn_project.cpp), and the registration of the two operators' CUDA kernels.
#include <ATen/Dispatch.h>
#include <ATen/ceil_div.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <initializer_list>
#include <utility>
#include <cstdint>
#include <limits>

#include "cuda/block_reduce.cuh"
#include "neighbours.h"

namespace pyadvman {
namespace {

constexpr int64_t kColumnsPerThread = 8;
constexpr int64_t kProjectWorkspaceElements = int64_t{1} << 26;
constexpr double kDegreesPerRadian = 57.29577951308232;

// blockIdx.y: query row; columns strided over blockIdx.x and the threads. Appends survivors with one atomic.
template <typename T>
__global__ void __launch_bounds__(kThreads) screen_tile_kernel(const T* __restrict__ dot,        // [rows, tile]
                                   const T* __restrict__ norm2,      // [tile]
                                   const T* __restrict__ tau,        // [rows]
                                   const int64_t* __restrict__ exclude,  // [rows] or nullptr
                                   unsigned long long* count,        // [rows]
                                   T* values, int64_t* indices,      // [rows, capacity]
                                   int64_t first, int64_t tile, int64_t capacity) {
  const int64_t b = blockIdx.y;
  const T threshold = tau[b];
  const int64_t skip = exclude ? exclude[b] - first : -1;
  const T* row = dot + b * tile;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < tile; j += stride) {
    const T s = norm2[j] - 2 * row[j];
    if (s <= threshold && j != skip) {
      const unsigned long long slot = atomicAdd(count + b, 1ULL);
      if (slot < static_cast<unsigned long long>(capacity)) {
        values[b * capacity + slot] = s;
        indices[b * capacity + slot] = first + j;
      }
    }
  }
}

// One warp per candidate slot; lane l sums the features d ≡ l (mod 32), then a fixed shuffle tree, so equal
// rows give bit-equal sums.
template <typename T>
__global__ void __launch_bounds__(kThreads) exact_distances_kernel(const T* __restrict__ queries, const T* __restrict__ reference,
                                       const int64_t* __restrict__ indices, double* __restrict__ out,
                                       int64_t slots, int64_t capacity, int64_t features) {
  const int64_t slot = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (slot >= slots) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t row = indices[slot];
  if (row < 0) {
    if (lane == 0) out[slot] = std::numeric_limits<double>::infinity();
    return;
  }
  const T* q = queries + (slot / capacity) * features;
  const T* r = reference + row * features;
  double sum = 0;
  for (int64_t d = lane; d < features; d += kWarp) {
    const double diff = static_cast<double>(q[d]) - static_cast<double>(r[d]);
    sum += diff * diff;
  }
  sum = warp_sum(sum);
  if (lane == 0) out[slot] = sum;
}

// v −= Q Qᵀ v twice (classical Gram-Schmidt with re-orthogonalisation); warps share the dot products.
template <typename T>
__device__ void orthogonalise(T* v, const T* q, int64_t rank, int64_t n, T* coefficients) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t m = warp; m < rank; m += warps) {
      T s = 0;
      for (int64_t i = lane; i < n; i += kWarp) s += q[m * n + i] * v[i];
      s = warp_sum(s);
      if (lane == 0) coefficients[m] = s;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      T value = v[i];
      for (int64_t m = 0; m < rank; ++m) value -= coefficients[m] * q[m * n + i];
      v[i] = value;
    }
    __syncthreads();
  }
}

template <typename T>
__device__ double block_norm(const T* v, int64_t n, double* scratch) {
  double sum = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += static_cast<double>(v[i]) * v[i];
  return sqrt(block_sum(sum, scratch));
}

// One block per example of the chunk starting at `first`; basis [chunk, k, n], residual [chunk, n] and
// coefficients [chunk, k] are global workspaces.
template <typename T>
__global__ void __launch_bounds__(kThreads) project_kernel(const T* __restrict__ x_adv, const T* __restrict__ x, const T* __restrict__ reference,
                               const int64_t* __restrict__ indices, T* projection, T* residual_norm, T* angle,
                               T* basis, T* residual, T* coefficients, int64_t first, int64_t k, int64_t n,
                               double rtol) {
  __shared__ double scratch[kThreads / kWarp];
  const int64_t e = blockIdx.x, b = first + e;
  T* q = basis + e * k * n;
  T* c = coefficients + e * k;
  T* r = residual + e * n;
  const T* xb = x + b * n;
  const T* xa = x_adv + b * n;
  int64_t rank = 0;
  for (int64_t j = 0; j < k; ++j) {
    T* v = q + rank * n;  // the next free row: kept when independent, else overwritten
    const T* neighbour = reference + indices[b * k + j] * n;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] = neighbour[i] - xb[i];
    const double before = block_norm(v, n, scratch);
    orthogonalise(v, q, rank, n, c);
    const double after = block_norm(v, n, scratch);
    if (after > 0 && after > rtol * before) {  // the same decision in every thread
      const T scale = static_cast<T>(1 / after);
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) v[i] *= scale;
      ++rank;
    }
    __syncthreads();
  }
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) r[i] = xa[i] - xb[i];
  __syncthreads();
  orthogonalise(r, q, rank, n, c);
  T* p = projection + b * n;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) p[i] = (xa[i] - xb[i]) - r[i];
  const double r_norm = block_norm(r, n, scratch);
  const double p_norm = block_norm(p, n, scratch);
  if (threadIdx.x == 0) {
    residual_norm[b] = static_cast<T>(r_norm);
    angle[b] = static_cast<T>(atan2(r_norm, p_norm) * kDegreesPerRadian);
  }
}

// The kernels index their arguments as dense row-major arrays: a strided view would be read wrongly, so each
// launch checks (knn_with and nn_project_with make them contiguous; this guards that contract).
void check_contiguous(const char* op, std::initializer_list<std::pair<const char*, const at::Tensor*>> tensors) {
  for (const auto& [name, tensor] : tensors) {
    TORCH_CHECK(!tensor->defined() || tensor->is_contiguous(), op, ": internal error: ", name,
                " must be contiguous for the CUDA kernel, got strides ", tensor->strides());
  }
}

void screen_tile_cuda(const at::Tensor& dot, const at::Tensor& ref_norm2, int64_t first, const at::Tensor& tau,
                      const at::Tensor& exclude, at::Tensor& count, at::Tensor& values, at::Tensor& indices) {
  const c10::cuda::CUDAGuard device_guard(dot.device());
  check_contiguous("knn", {{"dot", &dot}, {"ref_norm2", &ref_norm2}, {"tau", &tau}, {"exclude", &exclude},
                           {"count", &count}, {"values", &values}, {"indices", &indices}});
  const int64_t rows = dot.size(0), tile = dot.size(1);
  TORCH_CHECK(rows <= 65535, "knn: at most 65535 queries per CUDA block, got ", rows);
  const dim3 grid(static_cast<unsigned>(std::max<int64_t>(1, at::ceil_div(tile, kThreads * kColumnsPerThread))),
                  static_cast<unsigned>(rows));
  AT_DISPATCH_FLOATING_TYPES(dot.scalar_type(), "knn_screen_tile", [&] {
    screen_tile_kernel<scalar_t><<<grid, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        dot.const_data_ptr<scalar_t>(), ref_norm2.const_data_ptr<scalar_t>(), tau.const_data_ptr<scalar_t>(),
        exclude.defined() ? exclude.const_data_ptr<int64_t>() : nullptr,
        reinterpret_cast<unsigned long long*>(count.data_ptr<int64_t>()), values.data_ptr<scalar_t>(),
        indices.data_ptr<int64_t>(), first, tile, values.size(1));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

at::Tensor exact_distances_cuda(const at::Tensor& queries, const at::Tensor& reference, const at::Tensor& indices) {
  const c10::cuda::CUDAGuard device_guard(queries.device());
  check_contiguous("knn", {{"queries", &queries}, {"reference", &reference}, {"indices", &indices}});
  at::Tensor out = at::empty(indices.sizes(), indices.options().dtype(at::kDouble));
  const int64_t slots = indices.numel();
  if (slots == 0) return out;
  const int64_t blocks = at::ceil_div(slots, int64_t{kThreads / kWarp});
  AT_DISPATCH_FLOATING_TYPES(queries.scalar_type(), "knn_exact_distances", [&] {
    exact_distances_kernel<scalar_t><<<static_cast<unsigned>(blocks), kThreads, 0,
                                       c10::cuda::getCurrentCUDAStream()>>>(
        queries.const_data_ptr<scalar_t>(), reference.const_data_ptr<scalar_t>(), indices.const_data_ptr<int64_t>(),
        out.data_ptr<double>(), slots, indices.size(1), queries.size(1));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

void project_cuda(const at::Tensor& x_adv, const at::Tensor& x, const at::Tensor& reference,
                  const at::Tensor& indices, double rtol, at::Tensor& projection, at::Tensor& residual,
                  at::Tensor& angle) {
  const c10::cuda::CUDAGuard device_guard(x.device());
  check_contiguous("nn_project", {{"x_adv", &x_adv}, {"x", &x}, {"reference", &reference}, {"indices", &indices},
                                  {"projection", &projection}, {"residual", &residual}, {"angle", &angle}});
  const int64_t batch = x.size(0), n = x.size(1), k = indices.size(1);
  const int64_t per_example = k * n + n + k;  // workspace elements
  const int64_t chunk = std::clamp<int64_t>(kProjectWorkspaceElements / per_example, 1, std::min<int64_t>(batch, 65535));
  const at::Tensor basis = at::empty({chunk, k, n}, x.options());
  const at::Tensor work = at::empty({chunk, n}, x.options());
  const at::Tensor coefficients = at::empty({chunk, k}, x.options());
  for (int64_t first = 0; first < batch; first += chunk) {
    const int64_t examples = std::min(chunk, batch - first);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "nn_project", [&] {
      project_kernel<scalar_t><<<static_cast<unsigned>(examples), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
          x_adv.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), reference.const_data_ptr<scalar_t>(),
          indices.const_data_ptr<int64_t>(), projection.data_ptr<scalar_t>(), residual.data_ptr<scalar_t>(),
          angle.data_ptr<scalar_t>(), basis.data_ptr<scalar_t>(), work.data_ptr<scalar_t>(),
          coefficients.data_ptr<scalar_t>(), first, k, n, rtol);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
}

const NeighbourKernels cuda_neighbour_kernels{screen_tile_cuda, exact_distances_cuda, project_cuda};

std::tuple<at::Tensor, at::Tensor> knn_cuda(const at::Tensor& queries,    // [B, D]
                                            const at::Tensor& reference,  // [N, D]
                                            int64_t k,
                                            const std::optional<at::Tensor>& exclude,  // [B] int64, −1 = none
                                            int64_t tile) {
  return knn_with(cuda_neighbour_kernels, queries, reference, k, exclude, tile);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> nn_project_cuda(const at::Tensor& x_adv,      // [B, D]
                                                               const at::Tensor& x,          // [B, D]
                                                               const at::Tensor& reference,  // [N, D]
                                                               int64_t k, const std::optional<at::Tensor>& exclude,
                                                               int64_t tile, double rtol) {
  return nn_project_with(cuda_neighbour_kernels, x_adv, x, reference, k, exclude, tile, rtol);
}

}  // namespace
}  // namespace pyadvman

TORCH_LIBRARY_IMPL(pyadvman, CUDA, m) {
  m.impl("knn", &pyadvman::knn_cuda);
  m.impl("nn_project", &pyadvman::nn_project_cuda);
}
