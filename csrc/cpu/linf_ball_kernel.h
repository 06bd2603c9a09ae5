// The CPU kernel of the L∞ family, compiled once per instruction set (kernels/, see CMakeLists.txt) and
// chosen at run time by run_linf_ball_cpu.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

#include "cpu/isa.h"

namespace pyadvman::cpu {

// Raw pointers into contiguous tensors; features = product of the per-example dimensions.
struct LinfBallKernelArgs {
  c10::ScalarType dtype;           // float32 or float64
  void* out;                       // [R, B, F]
  const void* x;                   // [R, B, F]
  const void* x0;                  // [B, F]
  const void* grad;                // [R, B, F] or nullptr (projection only)
  const double* eps_per_example;   // [B] or nullptr
  const double* alpha_per_example; // [B] or nullptr
  const bool* active;              // [B] or [R, B] or nullptr
  bool active_per_restart;         // active is [R, B]
  bool in_place;                   // out == x: inactive rows are not written at all
  double eps, alpha, lo, hi;
  int64_t restarts, batch, features;
};

PYADVMAN_DECLARE_CPU_KERNEL(void linf_ball_kernel(const LinfBallKernelArgs& args))

}  // namespace pyadvman::cpu
