// The L2 and L1 operators on CPU (l2_project, l2_step, l1_project): contiguous inputs, the kernel for this CPU's
// instruction set, and the registration of their CPU kernels.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "cpu/ball_kernels.h"
#include "cpu/isa.h"
#include "ops.h"

namespace pyadvman {
namespace {

using KernelFn = void (*)(const cpu::BallKernelArgs&);

void run_lp_ball_cpu(KernelFn kernel, const BallProblem& p, at::Tensor& out) {
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
      false,
      p.eps, p.alpha, p.lo, p.hi,
      p.restarts, p.batch, p.features};
  kernel(args);
}

void run_l2_ball_cpu(const BallProblem& p, at::Tensor& out) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(l2_ball_kernel);
  run_lp_ball_cpu(kernel, p, out);
}

void run_l1_ball_cpu(const BallProblem& p, at::Tensor& out) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(l1_ball_kernel);
  run_lp_ball_cpu(kernel, p, out);
}

at::Tensor l2_project_cpu(const at::Tensor& x,   // [R, B, ...] or [B, ...]
                          const at::Tensor& x0,  // [B, ...]
                          double eps, double lo, double hi,
                          const std::optional<at::Tensor>& eps_per_example) {  // [B]
  return project_with("l2_project", run_l2_ball_cpu, x, x0, eps, lo, hi, eps_per_example);
}

at::Tensor l2_step_cpu(const at::Tensor& x_adv,  // [R, B, ...] or [B, ...]
                       const at::Tensor& x0,     // [B, ...]
                       const at::Tensor& grad,   // like x_adv
                       double eps, double alpha, double lo, double hi,
                       const std::optional<at::Tensor>& eps_per_example,    // [B]
                       const std::optional<at::Tensor>& alpha_per_example,  // [B]
                       const std::optional<at::Tensor>& active) {           // [B] or [R, B] bool
  return step_with("l2_step", run_l2_ball_cpu, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example,
                   alpha_per_example, active);
}

at::Tensor l1_project_cpu(const at::Tensor& x,   // [R, B, ...] or [B, ...]
                          const at::Tensor& x0,  // [B, ...]
                          double eps, double lo, double hi,
                          const std::optional<at::Tensor>& eps_per_example) {  // [B]
  return project_with("l1_project", run_l1_ball_cpu, x, x0, eps, lo, hi, eps_per_example);
}

}  // namespace
}  // namespace pyadvman

TORCH_LIBRARY_IMPL(pyadvman, CPU, m) {
  m.impl("l2_project", &pyadvman::l2_project_cpu);
  m.impl("l2_step", &pyadvman::l2_step_cpu);
  m.impl("l1_project", &pyadvman::l1_project_cpu);
}
