// Vectorised CPU kernel: out = clamp(clamp(x + alpha·sign(grad), lower, upper), lo, hi) per element, with
// [lower, upper] the L∞ ball of linf_rounding.h. Built once per CPU_CAPABILITY (DEFAULT = SSE2, AVX2,
// AVX512; see CMakeLists.txt), each vectorised by the compiler for its instruction set.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/ball_kernels.h"
#include "linf_rounding.h"

namespace pyadvman::cpu::CPU_CAPABILITY {
namespace {

// Elements per parallel task: large enough to amortise a task, small enough to split a batch over cores.
constexpr int64_t kGrainElements = 1 << 17;

template <typename T>
struct RowParams {
  T e, alpha, lo, hi;
};

// One contiguous run of n elements inside one row. kStep: add alpha·sign(grad) before projecting.
// The element function is branch-free, so `omp simd` vectorises this loop with the translation unit's
// instruction set.
template <typename T, bool kStep>
void run_segment(T* out, const T* x, const T* x0, const T* grad, int64_t n, const RowParams<T> rp) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    T v = x[k];
    if constexpr (kStep) v = v + sign_or_zero(grad[k]) * rp.alpha;
    out[k] = project_linf<T>(v, x0[k], rp.e, rp.lo, rp.hi);
  }
}

template <typename T, bool kStep>
void run(const BallKernelArgs& a) {
  T* out = static_cast<T*>(a.out);
  const T* x = static_cast<const T*>(a.x);
  const T* x0 = static_cast<const T*>(a.x0);
  const T* grad = static_cast<const T*>(a.grad);
  const int64_t F = a.features, B = a.batch;
  const RowParams<T> shared{round_down<T>(a.eps), static_cast<T>(a.alpha), round_up<T>(a.lo),
                            round_down<T>(a.hi)};
  // Parallel over elements, not rows, so that few large examples still use every core.
  const int64_t total = a.restarts * B * F;
  at::parallel_for(0, total, kGrainElements, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end;) {
      const int64_t row = i / F, col = i % F;
      const int64_t n = std::min(F - col, end - i);
      const int64_t b = row % B;
      const bool active = a.active == nullptr || a.active[a.active_per_restart ? row : b];
      if (!active) {
        if (!a.in_place) std::memcpy(out + i, x + i, n * sizeof(T));
      } else {
        RowParams<T> rp = shared;
        if (a.eps_per_example) rp.e = round_down<T>(a.eps_per_example[b]);
        if (a.alpha_per_example) rp.alpha = static_cast<T>(a.alpha_per_example[b]);
        run_segment<T, kStep>(out + i, x + i, x0 + b * F + col, kStep ? grad + i : nullptr, n, rp);
      }
      i += n;
    }
  });
}

}  // namespace

void linf_ball_kernel(const BallKernelArgs& a) {
  const bool step = a.grad != nullptr;
  if (a.dtype == c10::ScalarType::Float) {
    step ? run<float, true>(a) : run<float, false>(a);
  } else {
    step ? run<double, true>(a) : run<double, false>(a);
  }
}

}  // namespace pyadvman::cpu::CPU_CAPABILITY
