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
  for (int64_t k = 0; k < r.features; ++k) {
    const double d = static_cast<double>(r.out[k]) - static_cast<double>(r.x0[k]);
    const double e = static_cast<double>(static_cast<T>(r.out[k] - r.x0[k]));
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

template <typename T>
T clamp_to(double v, double lo, double hi) {
  v = v < lo ? lo : v;
  return static_cast<T>(v > hi ? hi : v);
}

// L2: δ_k = x_k + gscale·g_k − x0_k; out = clamp(x0 + δ·min(1, target/‖δ‖), lo, hi).
template <typename T>
void l2_row(const Row<T>& r) {
  const int64_t F = r.features;
  double gscale = 0.0;
  if (r.grad != nullptr) {
    double largest = 0.0;
    for (int64_t k = 0; k < F; ++k) largest = std::max(largest, std::fabs(finite_or_largest<T>(r.grad[k])));
    if (largest > 0.0) {
      double sum = 0.0;
      for (int64_t k = 0; k < F; ++k) {
        const double t = finite_or_largest<T>(r.grad[k]) / largest;
        sum += t * t;
      }
      gscale = r.alpha / (largest * std::sqrt(sum));
    }
  }
  auto delta = [&](int64_t k) {
    const double g = r.grad != nullptr ? finite_or_largest<T>(r.grad[k]) : 0.0;
    return static_cast<double>(r.x[k]) + gscale * g - static_cast<double>(r.x0[k]);
  };
  double sum = 0.0;
  for (int64_t k = 0; k < F; ++k) sum += delta(k) * delta(k);
  const double length = std::sqrt(sum);
  if (length != length) return fill_nan(r);
  double target = r.eps;
  for (int attempt = 0; attempt <= kRadiusTries; ++attempt) {
    const double scale = attempt == kRadiusTries ? 0.0 : (length > target ? target / length : 1.0);
    for (int64_t k = 0; k < F; ++k)
      r.out[k] = clamp_to<T>(static_cast<double>(r.x0[k]) + delta(k) * scale, r.lo, r.hi);
    if (std::isinf(r.eps)) return;  // no ball
    double wide, rounded;
    checked_norms<T, true>(r, wide, rounded);
    if (!beyond_radius(wide, rounded, r.eps)) return;
    target = shrink_target(target, std::max(wide, rounded), r.eps, attempt, unit_roundoff<T>());
  }
}

// ‖δ(λ)‖₁ of lp_rows.h for one row, with y = x − x0 and the box [lo − x0, hi − x0].
template <typename T>
double l1_length(const Row<T>& r, double lambda) {
  double sum = 0.0;
  for (int64_t k = 0; k < r.features; ++k) {
    const double c = r.x0[k];
    sum += std::fabs(l1_coordinate(static_cast<double>(r.x[k]) - c, r.lo - c, r.hi - c, lambda));
  }
  return sum;
}

// The smallest λ >= 0 with ‖δ(λ)‖₁ <= target (inf when none): the kinks sorted, a binary search for the piece
// holding the crossing, then the linear piece solved exactly (Croce & Hein, 2021, Sec. 3.1, Alg. 2).
template <typename T>
double l1_multiplier(const Row<T>& r, double target, std::vector<double>& kinks) {
  if (l1_length(r, 0.0) <= target) return 0.0;
  kinks.clear();
  for (int64_t k = 0; k < r.features; ++k) {
    const double c = r.x0[k];
    double three[3];
    l1_kinks(static_cast<double>(r.x[k]) - c, r.lo - c, r.hi - c, three);
    for (double v : three)
      if (v > 0.0) kinks.push_back(v);
  }
  std::sort(kinks.begin(), kinks.end());
  kinks.erase(std::unique(kinks.begin(), kinks.end()), kinks.end());
  // first kink whose length is <= target; the lengths are non-increasing along the sorted kinks
  size_t low = 0, high = kinks.size();
  while (low < high) {
    const size_t mid = (low + high) / 2;
    if (l1_length(r, kinks[mid]) <= target)
      high = mid;
    else
      low = mid + 1;
  }
  if (low == kinks.size()) return std::numeric_limits<double>::infinity();  // the box alone exceeds the ball
  const double left = low == 0 ? 0.0 : kinks[low - 1], right = kinks[low];
  const double at_left = l1_length(r, left), at_right = l1_length(r, right);
  if (!(at_left > at_right)) return right;
  // rounding may leave the length a few ulps above target: the row's radius guard (l1_row) takes it back
  return left + (at_left - target) * (right - left) / (at_left - at_right);
}

template <typename T>
void l1_row(const Row<T>& r, std::vector<double>& kinks) {
  if (std::isnan(l1_length(r, 0.0))) return fill_nan(r);
  double target = r.eps;
  for (int attempt = 0; attempt <= kRadiusTries; ++attempt) {
    const double lambda = attempt == kRadiusTries ? std::numeric_limits<double>::infinity()
                                                  : l1_multiplier(r, target, kinks);
    for (int64_t k = 0; k < r.features; ++k) {
      const double c = r.x0[k];
      r.out[k] = clamp_to<T>(c + l1_coordinate(static_cast<double>(r.x[k]) - c, r.lo - c, r.hi - c, lambda), r.lo,
                             r.hi);
    }
    if (std::isinf(r.eps)) return;
    double wide, rounded;
    checked_norms<T, false>(r, wide, rounded);
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
      if constexpr (kL2)
        l2_row(r);
      else
        l1_row(r, kinks);
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
