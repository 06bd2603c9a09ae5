// Per-element pieces of the L2 and L1 operators, shared by the CPU kernels (cpu/kernels/lp_ball_kernel.cpp) and
// the CUDA kernels (cuda/lp_ball.cu). Everything a row reduces is accumulated in float64.
//
// L2 (l2_project, l2_step): δ = x + alpha·g/‖g‖₂ − x0, out = clamp(x0 + δ·min(1, eps/‖δ‖₂), lo, hi): AutoAttack's
// APGD-L2 step and projection (Croce & Hein, ICML 2020, Sec. 3), ball first, then box (the box only shortens δ).
// L1 (l1_project): the exact Euclidean projection onto {‖δ‖₁ <= eps} ∩ [lo − x0, hi − x0] (Croce & Hein, "Mind the
// box: l1-APGD", ICML 2021, Sec. 3.1): δ_i(λ) = clip(soft(y_i, λ), l_i, u_i) with y = x − x0 and λ >= 0 the
// smallest value with ‖δ(λ)‖₁ <= eps; the map λ ↦ ‖δ(λ)‖₁ is piecewise linear and non-increasing, with kinks at
// |y_i| and |y_i| − (the box bounds on y_i's side).
//
// A row whose rounded output a checker would find outside the ball (the float64 norm of out − x0, or of the
// difference rounded to the dtype) is redone with a radius shrunk by the excess (shrink_target).
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>
#include <limits>

namespace pyadvman {

// g with NaN read as 0 and ±inf as ±(T's largest value), so that a row's norm is finite and its direction the
// limit of the finite ones.
template <typename T>
C10_HOST_DEVICE inline double finite_or_largest(double g) {
  const double largest = static_cast<double>(std::numeric_limits<T>::max());
  double v = g > largest ? largest : g;  // one select per line, so that the CPU loops vectorise
  v = v < -largest ? -largest : v;
  return v == v ? v : 0.0;
}

// clip(soft(y, λ), l, u): the L1 projection's coordinate for multiplier λ >= 0 (λ = inf: clip(0, l, u)); NaN
// for a NaN y (x or x0 NaN), so that a row's length is NaN too.
C10_HOST_DEVICE inline double l1_coordinate(double y, double l, double u, double lambda) {
  const double magnitude = fabs(y) - lambda;
  double v = magnitude > 0.0 ? (y > 0.0 ? magnitude : -magnitude) : 0.0;
  v = v < l ? l : v;
  v = v > u ? u : v;
  return y != y ? y : v;  // selects only, so that the CPU loops vectorise
}

// The multiplier's kinks for one coordinate: |y| and |y| − the bounds on y's side (those > 0 matter).
C10_HOST_DEVICE inline void l1_kinks(double y, double l, double u, double kinks[3]) {
  const double a = fabs(y);
  const double near = y > 0.0 ? u : -l, far = y > 0.0 ? l : -u;  // bounds of t = sign(y)·δ
  kinks[0] = a;
  kinks[1] = a - near;
  kinks[2] = a - far;
}

// A checker's norm of out − x0 exceeds eps: the float64 value, or the difference rounded to the dtype. The slack
// of 2^-45 relative covers a checker that sums in another order.
C10_HOST_DEVICE inline bool beyond_radius(double norm_wide, double norm_rounded, double eps) {
  const double norm = norm_wide > norm_rounded ? norm_wide : norm_rounded;
  return norm > eps * (1.0 - 0x1p-45);
}

// The radius to aim for after try `attempt` (0, 1, ...) overshot eps by its rounding: the target minus 1.5 times
// the excess, and at least eps·unit·4^attempt (unit: the dtype's unit roundoff), since a shift far below the
// dtype's resolution can leave every rounded output, hence the excess, as it was.
C10_HOST_DEVICE inline double shrink_target(double target, double norm, double eps, int attempt, double unit) {
  double least = eps * unit;
  for (int i = 0; i < attempt; ++i) least *= 4.0;
  const double excess = (norm - eps) * 1.5;
  const double shrunk = target - (excess > least ? excess : least);
  return shrunk > 0.0 ? shrunk : 0.0;
}

// T's unit roundoff (half the distance from 1 to the next value).
template <typename T>
C10_HOST_DEVICE inline double unit_roundoff() {
  return static_cast<double>(static_cast<float>(std::numeric_limits<T>::epsilon())) / 2.0;
}

// Tries before a row falls back to x0 (clamped to the box), which is always inside the ball.
constexpr int kRadiusTries = 8;

// The L2 radius a row can aim at without the guard's second look: with x0 in the box, rounding the output to T
// moves each coordinate by at most (unit + 2^-52)·max(|lo|, |hi|) (the float64 value first, then T), so
// ‖out − x0‖₂ exceeds the aimed length by at most √D times that (plus float64 slack in its sum), and the difference
// rounded to T by a factor 1 + unit more; a last factor 1 − 2^-40 covers a checker that sums in another order. Used
// where that margin is at most 1e-4·eps (float32 and float64; float16 and bfloat16 take the guard); 0 otherwise.
C10_HOST_DEVICE inline double l2_safe_target(double eps, int64_t features, double lo, double hi, double unit) {
  // unit + 2^-52: the float64 rounding of each value before its rounding to T
  const double bound = (fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi)) * (unit + 0x1p-52) *
                       sqrt(static_cast<double>(features));
  if (!(bound <= 1e-4 * eps) || !(eps <= std::numeric_limits<double>::max())) return 0.0;
  const double slack = static_cast<double>(features) * 0x1p-52;
  return (eps * (1.0 - 0x1p-45) / (1.0 + unit) - bound) / (1.0 + slack) * (1.0 - 0x1p-40);
}

}  // namespace pyadvman
