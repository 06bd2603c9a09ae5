// The L2 and L1 operators on CPU (l2_project, l2_step, l1_project): contiguous inputs, the kernel for this CPU's
// instruction set, and the registration of their CPU kernels.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "cpu/ball_driver.h"
#include "cpu/isa.h"
#include "ops.h"

namespace pyadvman {
namespace {

void run_l2_ball_cpu(const BallProblem& p, at::Tensor& out) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(l2_ball_kernel);
  run_ball_kernel(kernel, p, out);
}

void run_l1_ball_cpu(const BallProblem& p, at::Tensor& out) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(l1_ball_kernel);
  run_ball_kernel(kernel, p, out);
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
