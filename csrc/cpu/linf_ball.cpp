// The L∞ family on CPU (linf_project, pgd_step, pgd_step_): contiguous inputs, the kernel for this CPU's
// instruction set, and the registration of the three operators' CPU kernels.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "cpu/ball_driver.h"
#include "cpu/isa.h"
#include "ops.h"

namespace pyadvman {
namespace {

void run_linf_ball_cpu(const BallProblem& p, at::Tensor& out) {
  static const auto kernel = PYADVMAN_CPU_KERNEL(linf_ball_kernel);
  run_ball_kernel(kernel, p, out);
}

at::Tensor linf_project_cpu(const at::Tensor& x,   // [R, B, ...] or [B, ...]
                            const at::Tensor& x0,  // [B, ...]
                            double eps, double lo, double hi,
                            const std::optional<at::Tensor>& eps_per_example) {  // [B]
  return project_with("linf_project", run_linf_ball_cpu, x, x0, eps, lo, hi, eps_per_example);
}

at::Tensor pgd_step_cpu(const at::Tensor& x_adv,  // [R, B, ...] or [B, ...]
                        const at::Tensor& x0,     // [B, ...]
                        const at::Tensor& grad,   // like x_adv
                        double eps, double alpha, double lo, double hi,
                        const std::optional<at::Tensor>& eps_per_example,    // [B]
                        const std::optional<at::Tensor>& alpha_per_example,  // [B]
                        const std::optional<at::Tensor>& active) {           // [B] or [R, B] bool
  return step_with("pgd_step", run_linf_ball_cpu, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example,
                   alpha_per_example, active);
}

void pgd_step_inplace_cpu(const at::Tensor& x_adv,  // [R, B, ...] or [B, ...], overwritten
                          const at::Tensor& x0,     // [B, ...]
                          const at::Tensor& grad,   // like x_adv
                          double eps, double alpha, double lo, double hi,
                          const std::optional<at::Tensor>& eps_per_example,    // [B]
                          const std::optional<at::Tensor>& alpha_per_example,  // [B]
                          const std::optional<at::Tensor>& active) {           // [B] or [R, B] bool
  step_inplace_with("pgd_step_", run_linf_ball_cpu, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example,
                    alpha_per_example, active);
}

}  // namespace
}  // namespace pyadvman

TORCH_LIBRARY_IMPL(pyadvman, CPU, m) {
  m.impl("linf_project", &pyadvman::linf_project_cpu);
  m.impl("pgd_step", &pyadvman::pgd_step_cpu);
  m.impl("pgd_step_", &pyadvman::pgd_step_inplace_cpu);
}
