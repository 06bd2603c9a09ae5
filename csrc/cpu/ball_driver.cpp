// See cpu/ball_driver.h.
#include "cpu/ball_driver.h"

#include <ATen/ATen.h>

namespace pyadvman {

void run_ball_kernel(BallKernel kernel, const BallProblem& p, at::Tensor& out) {
  const auto dtype = p.x.scalar_type();
  TORCH_CHECK_TYPE(dtype == at::kFloat || dtype == at::kDouble,
                   "pyadvman CPU kernels take float32 or float64, got ", dtype,
                   " (the Python wrappers route other dtypes to the pure-PyTorch reference)");
  const ContiguousBall c = make_contiguous(p);
  cpu::BallKernelArgs args{
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
  kernel(args);
}

}  // namespace pyadvman
