// CUDA kernel and driver of the L∞ family (linf_project, pgd_step, pgd_step_), and the registration of the three
// operators' CUDA kernels.
// One thread handles VEC consecutive elements (16-byte loads) of one row; blockIdx.y (plus the launch's first
// restart) is the restart, so x0 [B, F] is indexed without a modulo and is never copied for the restarts.
// More restarts than gridDim.y allows (65,535) are launched in several grids.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>

#include "linf_rounding.h"
#include "ops.h"

namespace pyadvman {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;  // CUDA's limit on gridDim.y

template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

struct RowInputs {
  const double* eps_per_example;    // [B] or nullptr
  const double* alpha_per_example;  // [B] or nullptr
  const bool* active;               // [B] or [R, B] or nullptr
  bool active_per_restart;
  bool in_place;
};

template <typename T, int VEC, bool kStep>
__global__ void linf_ball_kernel(T* out,                           // [R, B, F]; may be x (in place)
                                 const T* x,                       // [R, B, F]
                                 const T* __restrict__ x0,         // [B, F]
                                 const T* __restrict__ grad,       // [R, B, F] or nullptr
                                 RowInputs rows, T eps, at::opmath_type<T> alpha, T lo, T hi, int64_t batch,
                                 int64_t features, int64_t first_restart) {
  using O = at::opmath_type<T>;
  const int64_t per_restart = batch * features;
  const int64_t r = first_restart + blockIdx.y;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x * VEC;
  const bool per_row = rows.eps_per_example || rows.alpha_per_example || rows.active;
  for (int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * VEC; i < per_restart;
       i += stride) {
    // VEC divides features (checked on the host), so the pack lies in one row b.
    O e = static_cast<O>(eps), a = alpha;
    const int64_t pos = r * per_restart + i;
    if (per_row) {
      const int64_t b = i / features;
      if (rows.active && !rows.active[rows.active_per_restart ? r * batch + b : b]) {
        if (!rows.in_place)
          *reinterpret_cast<Pack<T, VEC>*>(out + pos) = *reinterpret_cast<const Pack<T, VEC>*>(x + pos);
        continue;
      }
      if (rows.eps_per_example) e = static_cast<O>(round_down<T>(rows.eps_per_example[b]));
      if (rows.alpha_per_example) a = static_cast<O>(rows.alpha_per_example[b]);
    }
    const Pack<T, VEC> xv = *reinterpret_cast<const Pack<T, VEC>*>(x + pos);
    const Pack<T, VEC> cv = *reinterpret_cast<const Pack<T, VEC>*>(x0 + i);
    Pack<T, VEC> gv;
    if constexpr (kStep) gv = *reinterpret_cast<const Pack<T, VEC>*>(grad + pos);
    Pack<T, VEC> ov;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      O v = static_cast<O>(xv.v[k]);
      if constexpr (kStep) v = as_T<T>(v + sign_or_zero(static_cast<O>(gv.v[k])) * a);
      const O projected = project_linf<T>(v, static_cast<O>(cv.v[k]), e, static_cast<O>(lo), static_cast<O>(hi));
      ov.v[k] = static_cast<T>(projected);
    }
    *reinterpret_cast<Pack<T, VEC>*>(out + pos) = ov;
  }
}

bool aligned(const void* p, int bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

template <typename T, int VEC, bool kStep>
void launch(const BallProblem& p, T* out, const T* x, const T* x0, const T* grad, RowInputs rows) {
  using O = at::opmath_type<T>;
  const int64_t packs = (p.batch * p.features + VEC - 1) / VEC;
  const int64_t blocks = std::min<int64_t>((packs + kThreads - 1) / kThreads, int64_t(1) << 20);
  for (int64_t first = 0; first < p.restarts; first += kMaxGridY) {
    const int64_t count = std::min<int64_t>(kMaxGridY, p.restarts - first);
    const dim3 grid(static_cast<unsigned>(std::max<int64_t>(blocks, 1)), static_cast<unsigned>(count));
    linf_ball_kernel<T, VEC, kStep><<<grid, kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
        out, x, x0, grad, rows, round_down<T>(p.eps), static_cast<O>(p.alpha), round_up<T>(p.lo),
        round_down<T>(p.hi), p.batch, p.features, first);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

template <typename T, bool kStep>
void launch_widest(const BallProblem& p, T* out, const T* x, const T* x0, const T* grad, RowInputs rows) {
  constexpr int kVec = 16 / sizeof(T);
  const bool vectorisable = p.features % kVec == 0 && aligned(out, 16) && aligned(x, 16) && aligned(x0, 16) &&
                            (!kStep || aligned(grad, 16));
  if (vectorisable)
    launch<T, kVec, kStep>(p, out, x, x0, grad, rows);
  else
    launch<T, 1, kStep>(p, out, x, x0, grad, rows);
}

void run_linf_ball_cuda(const BallProblem& p, at::Tensor& out) {
  const c10::cuda::CUDAGuard device_guard(p.x.device());
  const ContiguousBall c = make_contiguous(p);
  const RowInputs rows{c.eps.defined() ? c.eps.const_data_ptr<double>() : nullptr,
                       c.alpha.defined() ? c.alpha.const_data_ptr<double>() : nullptr,
                       c.active.defined() ? c.active.const_data_ptr<bool>() : nullptr,
                       c.active.defined() && c.active.dim() == 2, out.data_ptr() == c.x.const_data_ptr()};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, c.x.scalar_type(), "pyadvman_linf_ball_cuda", [&] {
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    const scalar_t* xp = c.x.const_data_ptr<scalar_t>();
    const scalar_t* cp = c.x0.const_data_ptr<scalar_t>();
    if (c.grad.defined())
      launch_widest<scalar_t, true>(p, o, xp, cp, c.grad.const_data_ptr<scalar_t>(), rows);
    else
      launch_widest<scalar_t, false>(p, o, xp, cp, nullptr, rows);
  });
}

at::Tensor linf_project_cuda(const at::Tensor& x,   // [R, B, ...] or [B, ...]
                             const at::Tensor& x0,  // [B, ...]
                             double eps, double lo, double hi,
                             const std::optional<at::Tensor>& eps_per_example) {  // [B]
  return project_with("linf_project", run_linf_ball_cuda, x, x0, eps, lo, hi, eps_per_example);
}

at::Tensor pgd_step_cuda(const at::Tensor& x_adv,  // [R, B, ...] or [B, ...]
                         const at::Tensor& x0,     // [B, ...]
                         const at::Tensor& grad,   // like x_adv
                         double eps, double alpha, double lo, double hi,
                         const std::optional<at::Tensor>& eps_per_example,    // [B]
                         const std::optional<at::Tensor>& alpha_per_example,  // [B]
                         const std::optional<at::Tensor>& active) {           // [B] or [R, B] bool
  return step_with("pgd_step", run_linf_ball_cuda, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example,
                   alpha_per_example, active);
}

void pgd_step_inplace_cuda(const at::Tensor& x_adv,  // [R, B, ...] or [B, ...], overwritten
                           const at::Tensor& x0,     // [B, ...]
                           const at::Tensor& grad,   // like x_adv
                           double eps, double alpha, double lo, double hi,
                           const std::optional<at::Tensor>& eps_per_example,    // [B]
                           const std::optional<at::Tensor>& alpha_per_example,  // [B]
                           const std::optional<at::Tensor>& active) {           // [B] or [R, B] bool
  step_inplace_with("pgd_step_", run_linf_ball_cuda, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example,
                        alpha_per_example, active);
}

}  // namespace
}  // namespace pyadvman

TORCH_LIBRARY_IMPL(pyadvman, CUDA, m) {
  m.impl("linf_project", &pyadvman::linf_project_cuda);
  m.impl("pgd_step", &pyadvman::pgd_step_cuda);
  m.impl("pgd_step_", &pyadvman::pgd_step_inplace_cuda);
}
