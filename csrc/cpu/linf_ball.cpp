// CPU driver of the L∞ family: contiguous inputs, instruction-set choice, kernel launch.
#include <ATen/ATen.h>

#include <cstdlib>
#include <string>

#include "cpu/linf_ball_kernel.h"
#include "ops.h"

namespace pyadvman {
namespace {

using KernelFn = void (*)(const cpu::LinfBallKernelArgs&);

// The widest kernel this CPU runs. ATEN_CPU_CAPABILITY=default|avx2|avx512 caps it, as it caps torch's own.
KernelFn pick_kernel() {
  const char* env = std::getenv("ATEN_CPU_CAPABILITY");
  const std::string cap = env ? env : "";
#if defined(PYADVMAN_HAVE_CPU_AVX512)
  if (cap != "default" && cap != "avx2" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return cpu::AVX512::linf_ball_kernel;
#endif
#if defined(PYADVMAN_HAVE_CPU_AVX2)
  if (cap != "default" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return cpu::AVX2::linf_ball_kernel;
#endif
  return cpu::DEFAULT::linf_ball_kernel;
}

KernelFn selected_kernel() {
  static const KernelFn kernel = pick_kernel();
  return kernel;
}

}  // namespace

const char* cpu_kernel_isa() {
  const KernelFn kernel = selected_kernel();
#if defined(PYADVMAN_HAVE_CPU_AVX512)
  if (kernel == cpu::AVX512::linf_ball_kernel) return "AVX512";
#endif
#if defined(PYADVMAN_HAVE_CPU_AVX2)
  if (kernel == cpu::AVX2::linf_ball_kernel) return "AVX2";
#endif
  return "DEFAULT";
}

void run_linf_ball_cpu(const LinfBallProblem& p, at::Tensor& out) {
  const auto dtype = p.x.scalar_type();
  TORCH_CHECK_TYPE(dtype == at::kFloat || dtype == at::kDouble,
                   "pyadvman CPU kernels take float32 or float64, got ", dtype,
                   " (the Python wrappers route other dtypes to the pure-PyTorch reference)");
  const ContiguousLinfBall c = make_contiguous(p);
  cpu::LinfBallKernelArgs args{
      dtype,
      out.data_ptr(),
      c.x.const_data_ptr(),
      c.x0.const_data_ptr(),
      c.grad.defined() ? c.grad.const_data_ptr() : nullptr,
      c.eps.defined() ? c.eps.const_data_ptr<double>() : nullptr,
      c.alpha.defined() ? c.alpha.const_data_ptr<double>() : nullptr,
      c.active.defined() ? c.active.const_data_ptr<bool>() : nullptr,
      c.active.defined() && c.active.dim() == 2,
      out.data_ptr() == c.x.const_data_ptr(),
      p.eps, p.alpha, p.lo, p.hi,
      p.restarts, p.batch, p.features};
  selected_kernel()(args);
}

}  // namespace pyadvman
