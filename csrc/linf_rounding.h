// Exact floating-point helpers shared by the CPU and CUDA kernels of the L∞ operators.
//
// T is the storage dtype (float, double, c10::Half, c10::BFloat16) and O its compute type (at::opmath_type:
// float for half/bfloat16). "as_T(v)" rounds an O value to T to nearest, exactly as torch rounds the result of
// a T-tensor subtraction, so the bounds below are tested with the very expression a user's checker evaluates.
#pragma once

#include <c10/macros/Macros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace pyadvman {

template <typename T, typename O>
C10_HOST_DEVICE inline O as_T(O v) {
  return static_cast<O>(static_cast<T>(v));
}

// The unsigned integer with T's bit pattern: stepping it by one moves |v| by one ulp (IEEE 754 order).
template <typename T>
struct FloatBits;
template <>
struct FloatBits<float> {
  using type = std::uint32_t;
};
template <>
struct FloatBits<double> {
  using type = std::uint64_t;
};
template <>
struct FloatBits<c10::Half> {
  using type = std::uint16_t;
};
template <>
struct FloatBits<c10::BFloat16> {
  using type = std::uint16_t;
};

// |v| one ulp larger (delta = +1) or smaller (delta = -1), sign kept; v finite and nonzero.
template <typename T>
C10_HOST_DEVICE inline T step_magnitude(T v, int delta) {
  typename FloatBits<T>::type bits;
  std::memcpy(&bits, &v, sizeof(T));
  bits = static_cast<typename FloatBits<T>::type>(bits + delta);
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

// The T value below finite v (a T value held in O), exact everywhere, subnormals included.
template <typename T, typename O>
C10_HOST_DEVICE inline O next_down(O v) {
  if (v == O(0)) return -static_cast<O>(std::numeric_limits<T>::denorm_min());
  return static_cast<O>(step_magnitude(static_cast<T>(v), v > O(0) ? -1 : 1));
}

// Largest T value <= d (d not NaN). Used for eps and hi, so that the guarantee holds whether a checker
// compares in T, in float32 or in float64.
template <typename T>
C10_HOST_DEVICE inline T round_down(double d) {
  using O = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const T t = static_cast<T>(static_cast<O>(d));
  if (static_cast<double>(t) <= d) return t;
  const O v = static_cast<O>(t);
  if (v == std::numeric_limits<O>::infinity()) return std::numeric_limits<T>::max();
  return static_cast<T>(next_down<T>(v));
}

// Smallest T value >= d (d not NaN). Used for lo.
template <typename T>
C10_HOST_DEVICE inline T round_up(double d) {
  using O = std::conditional_t<std::is_same_v<T, double>, double, float>;
  return static_cast<T>(-static_cast<O>(round_down<T>(-d)));
}

// Whether a bound lies farther than e from x0 (bound, x0, e: T values held in O). For float16 and bfloat16 the
// test is on the float64 difference: rounded to T, the difference can hide an excess (for centres below eps,
// where Sterbenz's lemma does not apply), and a float64 checker would see it. For float and double it is on the
// difference rounded to T, as before, which the CPU kernels' vectorised loop needs: a float64 test there (commit
// ab5803f) made linf_project about 12x slower (3.7 against 0.3 ms for 1000x784 float32, 2-core AVX2 CPU).
template <typename T, typename O>
C10_HOST_DEVICE inline bool beyond(O bound, O x0, O e) {
  if constexpr (sizeof(T) == 2) {
    const double dist = static_cast<double>(bound) - static_cast<double>(x0);
    return (dist < 0.0 ? -dist : dist) > static_cast<double>(e);
  } else {
    const O dist = as_T<T>(bound - x0);
    return (dist < O(0) ? -dist : dist) > e;
  }
}

// One element of the L∞ family: clamp(clamp(v, x0 - e, x0 + e), lo, hi) in T, with the ball's bounds such
// that a checker's |out - x0| <= e holds when it subtracts in T (and, for float16 / bfloat16, in float64). The textbook
// x0 ± e can round outwards by one ulp (it does for a large share of boundary pixels at eps = 0.1 in float32);
// one step back towards x0 restores the bound, because round-to-nearest leaves the true x0 ± e between the
// rounded value and that neighbour, and a bound that needs the step is inexact, hence nonzero. Only the bound on
// v's side of x0 can bind, so only that one is built. Branch-free (selects only), so the CPU loop vectorises;
// NaN in v or in x0 gives NaN, like torch.clamp with a NaN bound (the twin's semantics).
template <typename T, typename O>
C10_HOST_DEVICE inline O project_linf(O v, O x0, O e, O lo, O hi) {
  const bool above = v > x0;
  const O towards = above ? e : -e;
  const O bound = as_T<T>(x0 + towards);
  // Moving back towards x0 grows |bound| when bound and towards have opposite signs.
  const O inwards = static_cast<O>(step_magnitude(static_cast<T>(bound), (bound < O(0)) == above ? 1 : -1));
  const O b = beyond<T>(bound, x0, e) ? inwards : bound;
  v = above ? (v > b ? b : v) : (v < b ? b : v);
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return x0 != x0 ? x0 : v;
}

// sign(g) with sign(0) = sign(NaN) = 0.
template <typename O>
C10_HOST_DEVICE inline O sign_or_zero(O g) {
  return static_cast<O>(g > O(0)) - static_cast<O>(g < O(0));
}

}  // namespace pyadvman
