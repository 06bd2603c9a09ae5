// The device-generic bodies of the ball operators, L∞ (linf_project, pgd_step, pgd_step_), L2 (l2_project, l2_step)
// and L1 (l1_project) (schemas in registration.cpp, semantics in pyadvman/ops/*.py); each backend
// (cpu/linf_ball.cpp, cpu/lp_ball.cpp, cuda/linf_ball.cu, cuda/lp_ball.cu) runs them with its kernels.
// Shapes: R restarts (optional leading dimension), B examples, "..." the features of one example.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace pyadvman {

// One problem of a fused ball operator: out = Π_{ball(x0, eps) ∩ [lo, hi]}(x + alpha·direction(grad)), the
// direction sign(grad) for L∞ and grad/‖grad‖₂ for L2. The projections are the case without grad; pgd_step_
// writes into x.
struct BallProblem {
  at::Tensor x;                             // [R, B, ...] or [B, ...]
  at::Tensor x0;                            // [B, ...]
  std::optional<at::Tensor> grad;           // like x, or none (projection only)
  double eps = 0, alpha = 0, lo = 0, hi = 1;
  std::optional<at::Tensor> eps_per_example;    // [B] float32/float64, replaces eps
  std::optional<at::Tensor> alpha_per_example;  // [B] float32/float64, replaces alpha
  std::optional<at::Tensor> active;             // [B] or [R, B] bool; false rows keep x
  int64_t restarts = 1, batch = 0, features = 0;  // filled by check_ball_problem
};

// Validates shapes, dtypes, devices and scalar values; fills restarts/batch/features. Errors name the
// argument, the expected and the received value. `op` prefixes the messages.
void check_ball_problem(const char* op, BallProblem& p);

// The problem's tensors made contiguous, per-example radii as float64; undefined where absent.
struct ContiguousBall {
  at::Tensor x, x0, grad, eps, alpha, active;
};
ContiguousBall make_contiguous(const BallProblem& p);

// A backend's driver: writes the result into `out` (contiguous, shaped like x; may be p.x itself).
using BallRunner = void (*)(const BallProblem& p, at::Tensor& out);

// The instruction set of the CPU kernel chosen on this machine: "AVX512", "AVX2" or "DEFAULT".
const char* cpu_kernel_isa();

// The operators' bodies (checks, output, empty early return), run with a backend's driver; `op` names the
// operator in the errors.
at::Tensor project_with(const char* op, BallRunner run,
                        const at::Tensor& x,   // [R, B, ...] or [B, ...]
                        const at::Tensor& x0,  // [B, ...]
                        double eps, double lo, double hi,
                        const std::optional<at::Tensor>& eps_per_example);  // [B]

at::Tensor step_with(const char* op, BallRunner run,
                     const at::Tensor& x_adv,  // [R, B, ...] or [B, ...]
                     const at::Tensor& x0,     // [B, ...]
                     const at::Tensor& grad,   // like x_adv
                     double eps, double alpha, double lo, double hi,
                     const std::optional<at::Tensor>& eps_per_example,    // [B]
                     const std::optional<at::Tensor>& alpha_per_example,  // [B]
                     const std::optional<at::Tensor>& active);            // [B] or [R, B] bool

void step_inplace_with(const char* op, BallRunner run,
                       const at::Tensor& x_adv,  // [R, B, ...] or [B, ...], overwritten
                       const at::Tensor& x0,     // [B, ...]
                       const at::Tensor& grad,   // like x_adv
                       double eps, double alpha, double lo, double hi,
                       const std::optional<at::Tensor>& eps_per_example,    // [B]
                       const std::optional<at::Tensor>& alpha_per_example,  // [B]
                       const std::optional<at::Tensor>& active);            // [B] or [R, B] bool

}  // namespace pyadvman
