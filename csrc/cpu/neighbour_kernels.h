// The CPU kernels of knn and nn_project, compiled once per instruction set (kernels/, see cpu/isa.h) and
// called by cpu/neighbours.cpp. Raw pointers into contiguous tensors of one dtype T (float32 or float64).
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

#include "cpu/isa.h"

namespace pyadvman::cpu {

struct ScreenTileArgs {
  c10::ScalarType dtype;
  const void* dot;          // [rows, tile]
  const void* ref_norm2;    // [tile]
  const void* tau;          // [rows]
  const int64_t* exclude;   // [rows] or nullptr
  int64_t* count;           // [rows]
  void* values;             // [rows, capacity]
  int64_t* indices;         // [rows, capacity]
  int64_t first, rows, tile, capacity;
};

struct ExactDistancesArgs {
  c10::ScalarType dtype;
  const void* queries;      // [rows, features]
  const void* reference;    // [N, features]
  const int64_t* indices;   // [rows, capacity], −1 = empty
  double* out;              // [rows, capacity]
  int64_t rows, capacity, features;
};

struct ProjectArgs {
  c10::ScalarType dtype;
  const void* x_adv;        // [batch, features]
  const void* x;            // [batch, features]
  const void* reference;    // [N, features]
  const int64_t* indices;   // [batch, k]
  void* projection;         // [batch, features]
  void* residual;           // [batch]
  void* angle;              // [batch], degrees
  int64_t batch, k, features;
  double rtol;
};

// Calls fn(T{}) with T = double for float64 and float otherwise (the drivers pass nothing else).
template <typename Fn>
void with_float_type(c10::ScalarType dtype, Fn&& fn) {
  if (dtype == c10::ScalarType::Double) {
    fn(double{});
  } else {
    fn(float{});
  }
}

PYADVMAN_DECLARE_CPU_KERNEL(void screen_tile_kernel(const ScreenTileArgs& args))
PYADVMAN_DECLARE_CPU_KERNEL(void exact_distances_kernel(const ExactDistancesArgs& args))
PYADVMAN_DECLARE_CPU_KERNEL(void project_kernel(const ProjectArgs& args))

}  // namespace pyadvman::cpu
