// The CPU kernels of the ball operators (L∞, L2, L1), compiled once per instruction set (kernels/, see
// CMakeLists.txt) and chosen at run time by run_linf_ball_cpu and run_lp_ball_cpu.
#pragma once

#include <c10/core/ScalarType.h>

#include <cstdint>

#include "cpu/isa.h"

namespace pyadvman::cpu {

// Raw pointers into contiguous tensors; features = product of the per-example dimensions.
struct BallKernelArgs {
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

PYADVMAN_DECLARE_CPU_KERNEL(void linf_ball_kernel(const BallKernelArgs& args))
// L2: the step along grad/‖grad‖₂ (when grad is given), then the projection; see lp_rows.h.
PYADVMAN_DECLARE_CPU_KERNEL(void l2_ball_kernel(const BallKernelArgs& args))
// L1: the exact projection (grad must be nullptr); see lp_rows.h.
PYADVMAN_DECLARE_CPU_KERNEL(void l1_ball_kernel(const BallKernelArgs& args))

}  // namespace pyadvman::cpu
