// CPU kernels of the L2 and L1 operators (semantics in lp_rows.h): one row (restart, example) per task, its
// reductions in float64. Built once per CPU_CAPABILITY like linf_ball_kernel.cpp.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/ball_kernels.h"
#include "linf_rounding.h"
#include "lp_rows.h"

namespace pyadvman::cpu::CPU_CAPABILITY {
namespace {

// Elements per parallel task, as in linf_ball_kernel.cpp.
constexpr int64_t kGrainElements = 1 << 17;

// One row's view: out, x, grad [F] (grad may be nullptr), x0 [F]; its radius and step; the box in T.
template <typename T>
struct Row {
  T* out;
  const T* x;
  const T* x0;
  const T* grad;
  double eps, alpha, lo, hi;
  int64_t features;
};

// The float64 norms of out − x0 and of the difference rounded to T (L2 when kL2, else L1).
template <typename T, bool kL2>
void checked_norms(const Row<T>& r, double& wide, double& rounded) {
  double a = 0.0, b = 0.0;
  const T* out = r.out;
  const T* x0 = r.x0;
#pragma omp simd reduction(+ : a, b)
  for (int64_t k = 0; k < r.features; ++k) {
    const double d = static_cast<double>(out[k]) - static_cast<double>(x0[k]);
    const double e = static_cast<double>(static_cast<T>(out[k] - x0[k]));
    a += kL2 ? d * d : std::fabs(d);
    b += kL2 ? e * e : std::fabs(e);
  }
  wide = kL2 ? std::sqrt(a) : a;
  rounded = kL2 ? std::sqrt(b) : b;
}

// A row with NaN in x or x0 has no norm: all of it becomes NaN.
template <typename T>
void fill_nan(const Row<T>& r) {
  std::fill(r.out, r.out + r.features, std::numeric_limits<T>::quiet_NaN());
}

// How a row's gradient enters the L2 step: none (a projection), finite (read as it is), or with NaN or ±inf
// entries (read through finite_or_largest; a separate loop so that the common case stays a plain vector loop).
enum class Gradient { kNone, kFinite, kNonFinite };

template <typename T, Gradient kGradient>
inline double gradient_at(const T* g, int64_t k) {
  if constexpr (kGradient == Gradient::kNone) return 0.0;
  if constexpr (kGradient == Gradient::kFinite) return static_cast<double>(g[k]);
  return finite_or_largest<T>(static_cast<double>(g[k]));
}

// Whether every entry of the row's gradient is finite.
template <typename T>
bool all_finite(const T* g, int64_t n) {
  int64_t bad = 0;
#pragma omp simd reduction(+ : bad)
  for (int64_t k = 0; k < n; ++k) bad += !(std::fabs(static_cast<double>(g[k])) <= std::numeric_limits<double>::max());
  return bad == 0;
}

// The step along the row's gradient g (read as kGradient says) is alpha·u/‖u‖₂ with u = g/largest: float64
// gradients are divided by their largest magnitude first (so that neither a square nor 1/largest overflows, for
// subnormal and for infinite entries alike); the float64 squares of float32 or narrower values cannot overflow, so
// those rows use largest = 1.
struct StepScale {
  double along = 0.0;    // alpha / ‖u‖₂ (0: no step)
  double largest = 1.0;  // u = g / largest
};

template <typename T, Gradient kGradient>
inline double unit_gradient_at(const T* g, int64_t k, double largest) {
  if constexpr (sizeof(T) == sizeof(double)) return gradient_at<T, kGradient>(g, k) / largest;
  return gradient_at<T, kGradient>(g, k);
}

template <typename T, Gradient kGradient>
StepScale step_scale(const Row<T>& r) {
  const T* g = r.grad;
  StepScale s;
  if constexpr (sizeof(T) == sizeof(double)) {
    double largest = 0.0;
#pragma omp simd reduction(max : largest)
    for (int64_t k = 0; k < r.features; ++k) {
      const double v = std::fabs(gradient_at<T, kGradient>(g, k));
      largest = v > largest ? v : largest;
    }
    if (largest == 0.0) return s;
    s.largest = largest;
  }
  double sum = 0.0;
  const double largest = s.largest;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < r.features; ++k) {
    const double t = unit_gradient_at<T, kGradient>(g, k, largest);
    sum += t * t;
  }
  if (sum > 0.0) s.along = r.alpha / std::sqrt(sum);
  return s;
}

// L2: δ_k = x_k + along·u_k − x0_k (u = g/largest, see StepScale); out = clamp(x0 + δ·min(1, target/‖δ‖), lo, hi).
template <typename T, Gradient kGradient>
void l2_row(const Row<T>& r) {
  const int64_t F = r.features;
  const T* x = r.x;
  const T* x0 = r.x0;
  const T* g = r.grad;
  T* out = r.out;
  const StepScale step = kGradient == Gradient::kNone ? StepScale{} : step_scale<T, kGradient>(r);
  const double along = step.along, largest = step.largest;
  double sum = 0.0;
  int64_t outside_box = 0;
  const double lo = r.lo, hi = r.hi;
#pragma omp simd reduction(+ : sum, outside_box)
  for (int64_t k = 0; k < F; ++k) {
    const double c = static_cast<double>(x0[k]);
    const double d = static_cast<double>(x[k]) - c + along * unit_gradient_at<T, kGradient>(g, k, largest);
    sum += d * d;
    outside_box += static_cast<int64_t>(c < lo) + static_cast<int64_t>(c > hi);  // no branch: the loop vectorises
  }
  const double length = std::sqrt(sum);
  if (length != length) return fill_nan(r);
  // a row whose centre is in the box aims below eps by the rounding bound and needs no second look
  const double safe = outside_box == 0 ? l2_safe_target(r.eps, F, lo, hi, unit_roundoff<T>()) : 0.0;
  double target = safe > 0.0 ? safe : r.eps;
  for (int attempt = 0; attempt <= kRadiusTries; ++attempt) {
    const double scale = attempt == kRadiusTries ? 0.0 : (length > target ? target / length : 1.0);
#pragma omp simd
    for (int64_t k = 0; k < F; ++k) {
      const double c = static_cast<double>(x0[k]);
      const double d = static_cast<double>(x[k]) - c + along * unit_gradient_at<T, kGradient>(g, k, largest);
      double v = c + d * scale;
      v = v < lo ? lo : v;
      out[k] = static_cast<T>(v > hi ? hi : v);
    }
    if (safe > 0.0 || std::isinf(r.eps)) return;  // inside by the bound, or no ball
    double wide, rounded;
    checked_norms<T, true>(r, wide, rounded);
    if (!beyond_radius(wide, rounded, r.eps)) return;
    target = shrink_target(target, std::max(wide, rounded), r.eps, attempt, unit_roundoff<T>());
  }
}

template <typename T>
void l2_row(const Row<T>& r) {
  if (r.grad == nullptr)
    l2_row<T, Gradient::kNone>(r);
  else if (all_finite(r.grad, r.features))
    l2_row<T, Gradient::kFinite>(r);
  else
    l2_row<T, Gradient::kNonFinite>(r);
}

// ‖δ(λ)‖₁ of lp_rows.h for one row, with y = x − x0 and the box [lo − x0, hi − x0].
template <typename T>
double l1_length(const Row<T>& r, double lambda) {
  const T* x = r.x;
  const T* x0 = r.x0;
  const double lo = r.lo, hi = r.hi;
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t k = 0; k < r.features; ++k) {
    const double c = static_cast<double>(x0[k]);
    sum += std::fabs(l1_coordinate(static_cast<double>(x[k]) - c, lo - c, hi - c, lambda));
  }
  return sum;
}

// The smallest λ >= 0 with ‖δ(λ)‖₁ <= target (inf when none): a binary search over the kinks for the piece that
// crosses target, each probe the median of the kinks still in play (std::nth_element, so no full sort), then
// that linear piece solved exactly (Croce & Hein, 2021, Sec. 3.1).
template <typename T>
double l1_multiplier(const Row<T>& r, double target, std::vector<double>& kinks) {
  double left = 0.0, at_left = l1_length(r, 0.0);
  if (at_left <= target) return 0.0;
  kinks.clear();
  for (int64_t k = 0; k < r.features; ++k) {
    const double c = r.x0[k];
    double three[3];
    l1_kinks(static_cast<double>(r.x[k]) - c, r.lo - c, r.hi - c, three);
    for (double v : three)
      if (v > 0.0) kinks.push_back(v);
  }
  double right = std::numeric_limits<double>::infinity(), at_right = 0.0;
  size_t begin = 0, end = kinks.size();
  while (begin < end) {  // the crossing lies in (left, right]; the kinks in [begin, end) lie between them
    const size_t mid = begin + (end - begin) / 2;
    std::nth_element(kinks.begin() + begin, kinks.begin() + mid, kinks.begin() + end);
    const double probe = kinks[mid], length = l1_length(r, probe);
    if (length <= target) {
      right = probe, at_right = length, end = mid;
    } else {
      left = probe, at_left = length, begin = mid + 1;
    }
  }
  if (std::isinf(right)) return right;  // the box alone exceeds the ball
  if (!(at_left > at_right)) return right;
  // rounding may leave the length a few ulps above target: the row's radius guard (l1_row) takes it back
  return left + (at_left - target) * (right - left) / (at_left - at_right);
}

template <typename T>
void l1_row(const Row<T>& r, std::vector<double>& kinks) {
  if (std::isnan(l1_length(r, 0.0))) return fill_nan(r);
  double target = r.eps;
  const double lo = r.lo, hi = r.hi;
  for (int attempt = 0; attempt <= kRadiusTries; ++attempt) {
    const double lambda = attempt == kRadiusTries ? std::numeric_limits<double>::infinity()
                                                  : l1_multiplier(r, target, kinks);
    double wide = 0.0, rounded = 0.0;  // what a checker finds (checked_norms), summed as the row is written
#pragma omp simd reduction(+ : wide, rounded)
    for (int64_t k = 0; k < r.features; ++k) {
      const double c = static_cast<double>(r.x0[k]);
      double v = c + l1_coordinate(static_cast<double>(r.x[k]) - c, lo - c, hi - c, lambda);
      v = v < lo ? lo : v;
      const T o = static_cast<T>(v > hi ? hi : v);
      r.out[k] = o;
      wide += std::fabs(static_cast<double>(o) - c);
      rounded += std::fabs(static_cast<double>(static_cast<T>(o - r.x0[k])));
    }
    if (std::isinf(r.eps)) return;
    if (!beyond_radius(wide, rounded, r.eps)) return;
    target = shrink_target(target, std::max(wide, rounded), r.eps, attempt, unit_roundoff<T>());
  }
}

template <typename T, bool kL2>
void run(const BallKernelArgs& a) {
  T* out = static_cast<T*>(a.out);
  const T* x = static_cast<const T*>(a.x);
  const T* x0 = static_cast<const T*>(a.x0);
  const T* grad = static_cast<const T*>(a.grad);
  const int64_t F = a.features, B = a.batch;
  const double lo = static_cast<double>(round_up<T>(a.lo)), hi = static_cast<double>(round_down<T>(a.hi));
  const int64_t grain = std::max<int64_t>(1, kGrainElements / std::max<int64_t>(F, 1));
  at::parallel_for(0, a.restarts * B, grain, [&](int64_t begin, int64_t end) {
    std::vector<double> kinks;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row % B;
      const int64_t at = row * F;
      if (a.active != nullptr && !a.active[a.active_per_restart ? row : b]) {
        if (!a.in_place) std::memcpy(out + at, x + at, F * sizeof(T));
        continue;
      }
      const Row<T> r{out + at, x + at, x0 + b * F, grad == nullptr ? nullptr : grad + at,
                     a.eps_per_example ? a.eps_per_example[b] : a.eps,
                     a.alpha_per_example ? a.alpha_per_example[b] : a.alpha, lo, hi, F};
      if constexpr (kL2) {
        l2_row(r);
      } else {
        l1_row(r, kinks);
      }
    }
  });
}

}  // namespace

void l2_ball_kernel(const BallKernelArgs& a) {
  a.dtype == c10::ScalarType::Float ? run<float, true>(a) : run<double, true>(a);
}

void l1_ball_kernel(const BallKernelArgs& a) {
  a.dtype == c10::ScalarType::Float ? run<float, false>(a) : run<double, false>(a);
}

}  // namespace pyadvman::cpu::CPU_CAPABILITY
