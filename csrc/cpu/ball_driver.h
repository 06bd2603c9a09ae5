// The CPU driver every ball operator shares (L∞, L2, L1): checks the dtype the CPU kernels take, makes the
// problem's tensors contiguous and runs one kernel of cpu/ball_kernels.h on them.
#pragma once

#include <ATen/core/Tensor.h>

#include "cpu/ball_kernels.h"
#include "ops.h"

namespace pyadvman {

using BallKernel = void (*)(const cpu::BallKernelArgs&);

// Runs `kernel` on problem p, writing `out` (contiguous, shaped like p.x; p.x itself for an in-place step).
void run_ball_kernel(BallKernel kernel, const BallProblem& p, at::Tensor& out);

}  // namespace pyadvman
