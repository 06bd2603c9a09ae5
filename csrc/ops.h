// Declarations of pyadvman's operators (schemas in registration.cpp, semantics in pyadvman/ops/*.py).
// Shapes: R restarts (optional leading dimension), B examples, "..." the features of one example.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace pyadvman {

// One problem of the fused L∞ family: out = Π_{ball(x0, eps) ∩ [lo, hi]}(x + alpha·sign(grad)).
// linf_project is the case without grad; pgd_step_ writes into x.
struct LinfBallProblem {
  at::Tensor x;                             // [R, B, ...] or [B, ...]
  at::Tensor x0;                            // [B, ...]
  std::optional<at::Tensor> grad;           // like x, or none (projection only)
  double eps = 0, alpha = 0, lo = 0, hi = 1;
  std::optional<at::Tensor> eps_per_example;    // [B] float32/float64, replaces eps
  std::optional<at::Tensor> alpha_per_example;  // [B] float32/float64, replaces alpha
  std::optional<at::Tensor> active;             // [B] or [R, B] bool; false rows keep x
  int64_t restarts = 1, batch = 0, features = 0;  // filled by check_linf_ball_problem
};

// Validates shapes, dtypes, devices and scalar values; fills restarts/batch/features. Errors name the
// argument, the expected and the received value. `op` prefixes the messages.
void check_linf_ball_problem(const char* op, LinfBallProblem& p);

// The problem's tensors made contiguous, per-example radii as float64; undefined where absent.
struct ContiguousLinfBall {
  at::Tensor x, x0, grad, eps, alpha, active;
};
ContiguousLinfBall make_contiguous(const LinfBallProblem& p);

// Backend drivers: write the result into `out` (contiguous, shaped like x; may be p.x itself).
using LinfBallRunner = void (*)(const LinfBallProblem& p, at::Tensor& out);
void run_linf_ball_cpu(const LinfBallProblem& p, at::Tensor& out);
void run_linf_ball_cuda(const LinfBallProblem& p, at::Tensor& out);

// The instruction set of the CPU kernel chosen on this machine: "AVX512", "AVX2" or "DEFAULT".
const char* cpu_kernel_isa();

// Device-generic operator bodies; each backend registers them bound to its runner.
at::Tensor linf_project_with(LinfBallRunner run,
                             const at::Tensor& x,   // [R, B, ...] or [B, ...]
                             const at::Tensor& x0,  // [B, ...]
                             double eps, double lo, double hi,
                             const std::optional<at::Tensor>& eps_per_example);  // [B]

at::Tensor pgd_step_with(LinfBallRunner run,
                         const at::Tensor& x_adv,  // [R, B, ...] or [B, ...]
                         const at::Tensor& x0,     // [B, ...]
                         const at::Tensor& grad,   // like x_adv
                         double eps, double alpha, double lo, double hi,
                         const std::optional<at::Tensor>& eps_per_example,    // [B]
                         const std::optional<at::Tensor>& alpha_per_example,  // [B]
                         const std::optional<at::Tensor>& active);            // [B] or [R, B] bool

void pgd_step_inplace_with(LinfBallRunner run,
                           const at::Tensor& x_adv,  // [R, B, ...] or [B, ...], overwritten
                           const at::Tensor& x0,     // [B, ...]
                           const at::Tensor& grad,   // like x_adv
                           double eps, double alpha, double lo, double hi,
                           const std::optional<at::Tensor>& eps_per_example,    // [B]
                           const std::optional<at::Tensor>& alpha_per_example,  // [B]
                           const std::optional<at::Tensor>& active);            // [B] or [R, B] bool

// The operators bound to one backend's runner, for TORCH_LIBRARY_IMPL in cpu/ and cuda/.
template <LinfBallRunner Run>
at::Tensor linf_project_op(const at::Tensor& x, const at::Tensor& x0, double eps, double lo, double hi,
                           const std::optional<at::Tensor>& eps_per_example) {
  return linf_project_with(Run, x, x0, eps, lo, hi, eps_per_example);
}

template <LinfBallRunner Run>
at::Tensor pgd_step_op(const at::Tensor& x_adv, const at::Tensor& x0, const at::Tensor& grad, double eps,
                       double alpha, double lo, double hi, const std::optional<at::Tensor>& eps_per_example,
                       const std::optional<at::Tensor>& alpha_per_example,
                       const std::optional<at::Tensor>& active) {
  return pgd_step_with(Run, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example, active);
}

template <LinfBallRunner Run>
void pgd_step_inplace_op(const at::Tensor& x_adv, const at::Tensor& x0, const at::Tensor& grad, double eps,
                         double alpha, double lo, double hi, const std::optional<at::Tensor>& eps_per_example,
                         const std::optional<at::Tensor>& alpha_per_example,
                         const std::optional<at::Tensor>& active) {
  pgd_step_inplace_with(Run, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example, active);
}

}  // namespace pyadvman
