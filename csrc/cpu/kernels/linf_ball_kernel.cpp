// Vectorised CPU kernel: out = clamp(clamp(x + alpha·sign(grad), lower, upper), lo, hi) per element, with
// [lower, upper] the L∞ ball of linf_rounding.h. Built once per CPU_CAPABILITY (DEFAULT, AVX2, AVX512):
// at::vec::Vectorized picks its intrinsics from that macro.
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/linf_ball_kernel.h"
#include "linf_rounding.h"

namespace pyadvman::cpu::CPU_CAPABILITY {
namespace {

using at::vec::Vectorized;

// Elements per parallel task: large enough to amortise a task, small enough to split a batch over cores.
constexpr int64_t kGrainElements = 1 << 17;

template <typename T>
struct RowParams {
  T e, alpha, lo, hi;
};

// Each lane of `bound` moved one ulp back towards x0 (`towards` is +e for an upper bound, -e for a lower
// one). A float's bit pattern read as an integer orders its magnitude, so one integer step is one ulp,
// subnormals included; bound is nonzero where the result is used (only inexact bounds are moved).
template <typename T>
Vectorized<T> step_inwards(const Vectorized<T>& bound, const Vectorized<T>& towards) {
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  using VI = Vectorized<I>;
  const VI bits = at::vec::cast<I>(bound);
  const VI signs_differ = at::vec::cast<I>(bound ^ towards) < VI(0);  // then inwards grows |bound|
  return at::vec::cast<T>(bits + VI::blendv(VI(-1), VI(1), signs_differ));
}

// One contiguous run of n elements inside one row. kStep: add alpha·sign(grad) before projecting.
// Per lane only the bound on v's side of x0 can bind, so one bound is built and nudged instead of two
// (the result is the same as clamping to both; linf_rounding.h has the two-sided scalar form).
template <typename T, bool kStep>
void run_segment(T* out, const T* x, const T* x0, const T* grad, int64_t n, const RowParams<T>& rp) {
  using V = Vectorized<T>;
  const V e(rp.e), alpha(rp.alpha), lo(rp.lo), hi(rp.hi), zero(T(0)), sign_bit(T(-0.0));
  auto compute = [&](V v, const V& c, const V& g) {
    if constexpr (kStep) v = v + ((V(g > zero) & alpha) - (V(g < zero) & alpha));
    const V above = v > c;
    const V towards = V::blendv(e ^ sign_bit, e, above);  // +e above x0, -e below
    V bound = c + towards;
    bound = V::blendv(bound, step_inwards(bound, towards), (bound - c).abs() > e);
    v = V::blendv(v, bound, V::blendv(v < bound, v > bound, above));  // selects keep NaN, like torch.clamp
    v = V::blendv(v, lo, v < lo);
    return V::blendv(v, hi, v > hi);
  };
  int64_t i = 0;
  for (; i + V::size() <= n; i += V::size()) {
    const V g = kStep ? V::loadu(grad + i) : zero;
    compute(V::loadu(x + i), V::loadu(x0 + i), g).store(out + i);
  }
  if (i < n) {
    const int64_t rest = n - i;
    const V g = kStep ? V::loadu(grad + i, rest) : zero;
    compute(V::loadu(x + i, rest), V::loadu(x0 + i, rest), g).store(out + i, rest);
  }
}

template <typename T, bool kStep>
void run(const LinfBallKernelArgs& a) {
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

void linf_ball_kernel(const LinfBallKernelArgs& a) {
  const bool step = a.grad != nullptr;
  if (a.dtype == c10::ScalarType::Float) {
    step ? run<float, true>(a) : run<float, false>(a);
  } else {
    step ? run<double, true>(a) : run<double, false>(a);
  }
}

}  // namespace pyadvman::cpu::CPU_CAPABILITY
