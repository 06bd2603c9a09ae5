// CPU driver of the L∞ family: contiguous inputs, kernel launch.
#include <ATen/ATen.h>

#include "cpu/isa.h"
#include "cpu/linf_ball_kernel.h"
#include "ops.h"

namespace pyadvman {

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
  static const auto kernel = PYADVMAN_CPU_KERNEL(linf_ball_kernel);
  kernel(args);
}

}  // namespace pyadvman
