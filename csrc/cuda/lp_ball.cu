// CUDA kernels of the L2 and L1 operators (l2_project, l2_step, l1_project; semantics in lp_rows.h) and their
// registration. One block per row (restart, example); the row's reductions are block reductions in float64, so a
// row never leaves its block and the guard that redoes a row past its radius needs no second launch.
// The L1 multiplier is found by bisection to adjacent doubles (64 halvings), then its linear piece is solved.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>
#include <limits>

#include "cuda/block_reduce.cuh"
#include "linf_rounding.h"
#include "lp_rows.h"
#include "ops.h"

namespace pyadvman {
namespace {

constexpr int kBisectionSteps = 64;
constexpr int64_t kMaxGridX = 2147483647;  // CUDA's limit on gridDim.x

struct RowInputs {
  const double* eps_per_example;    // [B] or nullptr
  const double* alpha_per_example;  // [B] or nullptr
  const bool* active;               // [B] or [R, B] or nullptr
  bool active_per_restart;
};

template <typename T>
__device__ double wide(T v) {
  return static_cast<double>(static_cast<at::opmath_type<T>>(v));
}

template <typename T>
__device__ T narrow(double v, double lo, double hi) {
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return static_cast<T>(static_cast<at::opmath_type<T>>(v));
}

// The block's float64 norms (L2 when kL2, else L1) of out − x0 and of the difference rounded to T.
template <typename T, bool kL2>
__device__ void checked_norms(const T* out, const T* x0, int64_t features, double* scratch, double& wide_norm,
                              double& rounded_norm) {
  double a = 0.0, b = 0.0;
  for (int64_t k = threadIdx.x; k < features; k += blockDim.x) {
    using O = at::opmath_type<T>;
    const double d = wide(out[k]) - wide(x0[k]);
    const double e = wide(static_cast<T>(static_cast<O>(out[k]) - static_cast<O>(x0[k])));
    a += kL2 ? d * d : fabs(d);
    b += kL2 ? e * e : fabs(e);
  }
  a = block_sum(a, scratch);
  b = block_sum(b, scratch);
  wide_norm = kL2 ? sqrt(a) : a;
  rounded_norm = kL2 ? sqrt(b) : b;
}

// A row with NaN in x or x0 has no norm: all of it becomes NaN.
template <typename T>
__device__ void fill_nan(T* out, int64_t features) {
  const T nan = static_cast<T>(static_cast<at::opmath_type<T>>(NAN));
  for (int64_t k = threadIdx.x; k < features; k += blockDim.x) out[k] = nan;
}

// Whether the block's row is inactive (then copied from x) and its radius and step.
__device__ bool row_setup(const RowInputs& rows, int64_t row, int64_t batch, double& eps, double& alpha) {
  const int64_t b = row % batch;
  if (rows.active && !rows.active[rows.active_per_restart ? row : b]) return false;
  if (rows.eps_per_example) eps = rows.eps_per_example[b];
  if (rows.alpha_per_example) alpha = rows.alpha_per_example[b];
  return true;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) l2_ball_kernel(T* __restrict__ out, const T* __restrict__ x,
                                                           const T* __restrict__ x0, const T* __restrict__ grad,
                                                           RowInputs rows, double eps, double alpha, double lo,
                                                           double hi, int64_t batch, int64_t features) {
  __shared__ double scratch[kThreads / kWarp];
  const int64_t row = blockIdx.x;
  const int64_t at = row * features;
  out += at;
  x += at;
  x0 += (row % batch) * features;
  if (!row_setup(rows, row, batch, eps, alpha)) {
    for (int64_t k = threadIdx.x; k < features; k += blockDim.x) out[k] = x[k];
    return;
  }
  double along = 0.0, largest = 1.0;  // the step is alpha·u/‖u‖₂ with u = g/largest (no overflow: see lp_rows.h)
  if (grad != nullptr) {
    grad += at;
    double peak = 0.0;
    for (int64_t k = threadIdx.x; k < features; k += blockDim.x)
      peak = fmax(peak, fabs(finite_or_largest<T>(wide(grad[k]))));
    peak = block_max(peak, scratch);
    if (peak > 0.0) {
      largest = peak;
      double sum = 0.0;
      for (int64_t k = threadIdx.x; k < features; k += blockDim.x) {
        const double t = finite_or_largest<T>(wide(grad[k])) / largest;
        sum += t * t;
      }
      along = alpha / sqrt(block_sum(sum, scratch));
    }
  }
  auto delta = [&](int64_t k) {
    const double u = grad != nullptr ? finite_or_largest<T>(wide(grad[k])) / largest : 0.0;
    return wide(x[k]) + along * u - wide(x0[k]);
  };
  double sum = 0.0, outside_box = 0.0;
  for (int64_t k = threadIdx.x; k < features; k += blockDim.x) {
    sum += delta(k) * delta(k);
    const double c = wide(x0[k]);
    outside_box += (c >= lo && c <= hi) ? 0.0 : 1.0;
  }
  const double length = sqrt(block_sum(sum, scratch));
  if (length != length) return fill_nan(out, features);
  // a row whose centre is in the box aims below eps by the rounding bound and needs no second look
  const double safe = block_sum(outside_box, scratch) == 0.0
                          ? l2_safe_target(eps, features, lo, hi, unit_roundoff<T>())
                          : 0.0;
  double target = safe > 0.0 ? safe : eps;
  for (int attempt = 0; attempt <= kRadiusTries; ++attempt) {
    const double scale = attempt == kRadiusTries ? 0.0 : (length > target ? target / length : 1.0);
    for (int64_t k = threadIdx.x; k < features; k += blockDim.x)
      out[k] = narrow<T>(wide(x0[k]) + delta(k) * scale, lo, hi);
    if (safe > 0.0 || isinf(eps)) return;  // inside by the bound, or no ball
    double wide_norm, rounded_norm;
    checked_norms<T, true>(out, x0, features, scratch, wide_norm, rounded_norm);
    if (!beyond_radius(wide_norm, rounded_norm, eps)) return;
    target = shrink_target(target, fmax(wide_norm, rounded_norm), eps, attempt, unit_roundoff<T>());
  }
}

// ‖δ(λ)‖₁ of the block's row (lp_rows.h).
template <typename T>
__device__ double l1_length(const T* x, const T* x0, int64_t features, double lo, double hi, double lambda,
                            double* scratch) {
  double sum = 0.0;
  for (int64_t k = threadIdx.x; k < features; k += blockDim.x) {
    const double c = wide(x0[k]);
    sum += fabs(l1_coordinate(wide(x[k]) - c, lo - c, hi - c, lambda));
  }
  return block_sum(sum, scratch);
}

// The smallest λ >= 0 with ‖δ(λ)‖₁ <= target (inf when none), by bisection and the linear piece solved.
template <typename T>
__device__ double l1_multiplier(const T* x, const T* x0, int64_t features, double lo, double hi, double target,
                                double* scratch) {
  if (l1_length(x, x0, features, lo, hi, 0.0, scratch) <= target) return 0.0;
  double beyond_kinks = 0.0;
  for (int64_t k = threadIdx.x; k < features; k += blockDim.x) {
    const double c = wide(x0[k]);
    beyond_kinks = fmax(beyond_kinks, fabs(wide(x[k]) - c) + fmax(fabs(lo - c), fabs(hi - c)));
  }
  beyond_kinks = block_max(beyond_kinks, scratch);
  if (l1_length(x, x0, features, lo, hi, beyond_kinks, scratch) > target)
    return std::numeric_limits<double>::infinity();
  double left = 0.0, right = beyond_kinks;
  for (int step = 0; step < kBisectionSteps; ++step) {
    const double middle = (left + right) / 2;
    if (l1_length(x, x0, features, lo, hi, middle, scratch) <= target)
      right = middle;
    else
      left = middle;
  }
  const double at_left = l1_length(x, x0, features, lo, hi, left, scratch);
  const double at_right = l1_length(x, x0, features, lo, hi, right, scratch);
  if (!(at_left > at_right)) return right;
  return left + (at_left - target) * (right - left) / (at_left - at_right);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) l1_ball_kernel(T* __restrict__ out, const T* __restrict__ x,
                                                           const T* __restrict__ x0, RowInputs rows, double eps,
                                                           double lo, double hi, int64_t batch,
                                                           int64_t features) {
  __shared__ double scratch[kThreads / kWarp];
  const int64_t row = blockIdx.x;
  out += row * features;
  x += row * features;
  x0 += (row % batch) * features;
  double alpha = 0.0;
  if (!row_setup(rows, row, batch, eps, alpha)) {
    for (int64_t k = threadIdx.x; k < features; k += blockDim.x) out[k] = x[k];
    return;
  }
  if (isnan(l1_length(x, x0, features, lo, hi, 0.0, scratch))) return fill_nan(out, features);
  double target = eps;
  for (int attempt = 0; attempt <= kRadiusTries; ++attempt) {
    const double lambda = attempt == kRadiusTries ? std::numeric_limits<double>::infinity()
                                                  : l1_multiplier(x, x0, features, lo, hi, target, scratch);
    for (int64_t k = threadIdx.x; k < features; k += blockDim.x) {
      const double c = wide(x0[k]);
      out[k] = narrow<T>(c + l1_coordinate(wide(x[k]) - c, lo - c, hi - c, lambda), lo, hi);
    }
    if (isinf(eps)) return;
    double wide_norm, rounded_norm;
    checked_norms<T, false>(out, x0, features, scratch, wide_norm, rounded_norm);
    if (!beyond_radius(wide_norm, rounded_norm, eps)) return;
    target = shrink_target(target, fmax(wide_norm, rounded_norm), eps, attempt, unit_roundoff<T>());
  }
}

template <bool kL2>
void run_lp_ball_cuda(const BallProblem& p, at::Tensor& out) {
  const c10::cuda::CUDAGuard device_guard(p.x.device());
  const ContiguousBall c = make_contiguous(p);
  const RowInputs rows{c.eps.defined() ? c.eps.const_data_ptr<double>() : nullptr,
                       c.alpha.defined() ? c.alpha.const_data_ptr<double>() : nullptr,
                       c.active.defined() ? c.active.const_data_ptr<bool>() : nullptr,
                       c.active.defined() && c.active.dim() == 2};
  const int64_t total_rows = p.restarts * p.batch;
  TORCH_CHECK(total_rows <= kMaxGridX, kL2 ? "l2" : "l1", " CUDA kernels take at most ", kMaxGridX,
              " rows (restarts x examples), got ", total_rows);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, c.x.scalar_type(), "pyadvman_lp_ball_cuda", [&] {
    const double lo = static_cast<double>(round_up<scalar_t>(p.lo));
    const double hi = static_cast<double>(round_down<scalar_t>(p.hi));
    const auto stream = c10::cuda::getCurrentCUDAStream();
    const unsigned blocks = static_cast<unsigned>(total_rows);
    if constexpr (kL2) {
      l2_ball_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
          out.mutable_data_ptr<scalar_t>(), c.x.const_data_ptr<scalar_t>(), c.x0.const_data_ptr<scalar_t>(),
          c.grad.defined() ? c.grad.const_data_ptr<scalar_t>() : nullptr, rows, p.eps, p.alpha, lo, hi, p.batch,
          p.features);
    } else {
      l1_ball_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
          out.mutable_data_ptr<scalar_t>(), c.x.const_data_ptr<scalar_t>(), c.x0.const_data_ptr<scalar_t>(), rows,
          p.eps, lo, hi, p.batch, p.features);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

at::Tensor l2_project_cuda(const at::Tensor& x,   // [R, B, ...] or [B, ...]
                           const at::Tensor& x0,  // [B, ...]
                           double eps, double lo, double hi,
                           const std::optional<at::Tensor>& eps_per_example) {  // [B]
  return project_with("l2_project", run_lp_ball_cuda<true>, x, x0, eps, lo, hi, eps_per_example);
}

at::Tensor l2_step_cuda(const at::Tensor& x_adv,  // [R, B, ...] or [B, ...]
                        const at::Tensor& x0,     // [B, ...]
                        const at::Tensor& grad,   // like x_adv
                        double eps, double alpha, double lo, double hi,
                        const std::optional<at::Tensor>& eps_per_example,    // [B]
                        const std::optional<at::Tensor>& alpha_per_example,  // [B]
                        const std::optional<at::Tensor>& active) {           // [B] or [R, B] bool
  return step_with("l2_step", run_lp_ball_cuda<true>, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example,
                   alpha_per_example, active);
}

at::Tensor l1_project_cuda(const at::Tensor& x,   // [R, B, ...] or [B, ...]
                           const at::Tensor& x0,  // [B, ...]
                           double eps, double lo, double hi,
                           const std::optional<at::Tensor>& eps_per_example) {  // [B]
  return project_with("l1_project", run_lp_ball_cuda<false>, x, x0, eps, lo, hi, eps_per_example);
}

}  // namespace
}  // namespace pyadvman

TORCH_LIBRARY_IMPL(pyadvman, CUDA, m) {
  m.impl("l2_project", &pyadvman::l2_project_cuda);
  m.impl("l2_step", &pyadvman::l2_step_cuda);
  m.impl("l1_project", &pyadvman::l1_project_cuda);
}
