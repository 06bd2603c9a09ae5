// Declarations of the nearest-neighbour operators knn and nn_project (schemas in registration.cpp,
// semantics in pyadvman/ops/knn.py and pyadvman/ops/nn_project.py).
// Shapes: B queries, N reference rows, D features, k neighbours, C candidate slots per query.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace pyadvman {

// The kernels a backend (cpu/neighbours.cpp, cuda/neighbours.cu) supplies to the device-generic drivers (knn.cpp,
// nn_project.cpp), with which it registers the operators. Every tensor is
// contiguous, on the backend's device, and float32 or float64 (T) unless stated.
struct NeighbourKernels {
  // Screening of one tile: for query b and tile column j, s = ref_norm2[j] − 2·dot[b, j]. Each s <= tau[b]
  // whose reference row first + j is not exclude[b] goes to slot count[b]++ of row b of (values, indices);
  // slots >= C are not written, but count keeps counting so the driver can detect the overflow.
  void (*screen_tile)(const at::Tensor& dot,        // [Bq, T]
                      const at::Tensor& ref_norm2,  // [T]
                      int64_t first,                // reference row of the tile's column 0
                      const at::Tensor& tau,        // [Bq]
                      const at::Tensor& exclude,    // [Bq] int64, or undefined
                      at::Tensor& count,            // [Bq] int64, updated
                      at::Tensor& values,           // [Bq, C], updated
                      at::Tensor& indices);         // [Bq, C] int64, updated
  // Σ_d (queries[b, d] − reference[indices[b, c], d])² accumulated in float64 in an order that does not depend
  // on the row (equal rows give equal sums); +inf where indices[b, c] is −1. Returns [Bq, C] float64.
  at::Tensor (*exact_distances)(const at::Tensor& queries,     // [Bq, D]
                                const at::Tensor& reference,   // [N, D]
                                const at::Tensor& indices);    // [Bq, C] int64
  // Orthogonal projection of δ = x_adv − x onto span{reference[indices[b, j]] − x[b]}, the basis made
  // orthonormal by Gram-Schmidt with re-orthogonalisation, dropping a vector whose part orthogonal to the
  // previous ones is at most rtol times its norm. Writes projection [B, D], residual [B], angle [B] (degrees).
  void (*project)(const at::Tensor& x_adv,      // [B, D]
                  const at::Tensor& x,          // [B, D]
                  const at::Tensor& reference,  // [N, D]
                  const at::Tensor& indices,    // [B, k] int64
                  double rtol,
                  at::Tensor& projection, at::Tensor& residual, at::Tensor& angle);
};

// Checks shared by knn and nn_project; errors name the argument, the expected and the received value.
void check_knn_inputs(const char* op, const char* queries_name, const at::Tensor& queries,
                      const at::Tensor& reference, int64_t k, const std::optional<at::Tensor>& exclude,
                      int64_t tile);

// knn: exact squared-L2 k nearest reference rows of each query, ascending, ties by lower index.
std::tuple<at::Tensor, at::Tensor> knn_with(const NeighbourKernels& kernels,
                                            const at::Tensor& queries,    // [B, D]
                                            const at::Tensor& reference,  // [N, D]
                                            int64_t k,
                                            const std::optional<at::Tensor>& exclude,  // [B] int64, −1 = none
                                            int64_t tile,  // reference rows per tile, 0 = automatic
                                            const char* op = "knn", const char* queries_name = "queries");

// nn_project: projection of x_adv − x onto the span of {x_i − x} over the k nearest reference rows x_i of x_adv.
std::tuple<at::Tensor, at::Tensor, at::Tensor> nn_project_with(const NeighbourKernels& kernels,
                                                               const at::Tensor& x_adv,      // [B, D]
                                                               const at::Tensor& x,          // [B, D]
                                                               const at::Tensor& reference,  // [N, D]
                                                               int64_t k,
                                                               const std::optional<at::Tensor>& exclude,
                                                               int64_t tile, double rtol);

}  // namespace pyadvman
