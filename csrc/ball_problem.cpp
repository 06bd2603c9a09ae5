// Input checks and device-generic bodies of the ball operators (linf_project, pgd_step, pgd_step_, l2_project,
// l2_step, l1_project).
// The Python wrappers validate first (with ValueError/TypeError); these TORCH_CHECKs are the last line of
// defence for direct torch.ops.pyadvman calls.
#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>

#include <cmath>
#include <string>

#include "float_types.h"
#include "ops.h"
#include "shape_str.h"

namespace pyadvman {
namespace {

void check_scalar(const char* op, const char* name, double v) {
  TORCH_CHECK_VALUE(!std::isnan(v) && v >= 0, op, ": ", name, " must be a number >= 0, got ", v);
}

// Per-example eps/alpha: values >= 0, not NaN (and finite when `finite`). Checked on every path, raw calls and
// torch.compile included: on the host for CPU tensors; on a GPU, where reading the values would synchronise,
// with an asynchronous device-side assert (the error surfaces at the next synchronisation).
void check_per_example(const char* op, const char* name, const std::optional<at::Tensor>& t,
                       const at::Tensor& x, int64_t batch, bool finite) {
  if (!t.has_value()) return;
  TORCH_CHECK_TYPE(t->scalar_type() == at::kFloat || t->scalar_type() == at::kDouble, op, ": ", name,
                   " must be a float32 or float64 tensor, got ", t->scalar_type());
  TORCH_CHECK(t->device() == x.device(), op, ": ", name, " must be on ", x.device(), " like x, got ",
              t->device());
  TORCH_CHECK_VALUE(t->dim() == 1 && t->size(0) == batch, op, ": ", name, " must have shape [", batch,
                    "] (one value per example), got ", shape_str(t->sizes()));
  if (t->numel() == 0) return;
  at::Tensor valid = t->ge(0);  // false for NaN
  if (finite) valid = valid.logical_and(t->isfinite());
  const std::string requirement = std::string(name) + (finite ? " must be finite and >= 0" : " must be >= 0");
  if (t->device().is_cpu()) {
    if (valid.all().item<bool>()) return;
    const int64_t first = valid.logical_not().nonzero()[0][0].item<int64_t>();
    TORCH_CHECK_VALUE(false, op, ": ", requirement, " for every example, got ", (*t)[first].item<double>(),
                      " at example ", first);
  }
  at::_assert_async(valid.all(), std::string(op) + ": " + requirement + " for every example");
}

}  // namespace

void check_ball_problem(const char* op, BallProblem& p) {
  const at::Tensor& x = p.x;
  const at::Tensor& x0 = p.x0;
  const char* x_name = p.grad.has_value() ? "x_adv" : "x";
  check_kernel_float(op, x_name, x);
  TORCH_CHECK_TYPE(x0.scalar_type() == x.scalar_type(), op, ": x0 must have dtype ", x.scalar_type(), " like ",
                   x_name, ", got ", x0.scalar_type());
  TORCH_CHECK(x0.device() == x.device(), op, ": x0 must be on ", x.device(), " like ", x_name, ", got ",
              x0.device());
  TORCH_CHECK_VALUE(x0.dim() >= 1, op, ": x0 must have shape [B, ...], got a 0-d tensor");
  const bool has_restarts = x.dim() == x0.dim() + 1 && x.sizes().slice(1).equals(x0.sizes());
  TORCH_CHECK_VALUE(x.sizes().equals(x0.sizes()) || has_restarts, op, ": ", x_name, " must have shape ",
                    shape_str(x0.sizes()), " (like x0) or [R, ", shape_str(x0.sizes()).substr(1),
                    " (R restarts), got ", shape_str(x.sizes()));
  if (p.grad.has_value()) {
    const at::Tensor& g = *p.grad;
    TORCH_CHECK_TYPE(g.scalar_type() == x.scalar_type(), op, ": grad must have dtype ", x.scalar_type(),
                     " like x_adv, got ", g.scalar_type());
    TORCH_CHECK(g.device() == x.device(), op, ": grad must be on ", x.device(), " like x_adv, got ",
                g.device());
    TORCH_CHECK_VALUE(g.sizes().equals(x.sizes()), op, ": grad must have shape ", shape_str(x.sizes()),
                      " matching x_adv, got ", shape_str(g.sizes()));
  }
  check_scalar(op, "eps", p.eps);  // inf allowed: no ball
  check_scalar(op, "alpha", p.alpha);
  TORCH_CHECK_VALUE(std::isfinite(p.alpha), op, ": alpha must be finite, got ", p.alpha);
  TORCH_CHECK_VALUE(!std::isnan(p.lo) && !std::isnan(p.hi) && p.lo <= p.hi, op,
                    ": lo must be <= hi, got lo=", p.lo, ", hi=", p.hi);

  p.restarts = has_restarts ? x.size(0) : 1;
  p.batch = x0.size(0);
  p.features = p.batch == 0 ? 0 : x0.numel() / p.batch;
  check_per_example(op, "eps", p.eps_per_example, x, p.batch, /*finite=*/false);  // inf: no ball
  check_per_example(op, "alpha", p.alpha_per_example, x, p.batch, /*finite=*/true);  // 0·inf would be NaN
  if (p.active.has_value()) {
    const at::Tensor& a = *p.active;
    TORCH_CHECK_TYPE(a.scalar_type() == at::kBool, op, ": active must be a bool tensor, got ",
                     a.scalar_type());
    TORCH_CHECK(a.device() == x.device(), op, ": active must be on ", x.device(), " like x, got ",
                a.device());
    const bool ok = (a.dim() == 1 && a.size(0) == p.batch) ||
                    (has_restarts && a.dim() == 2 && a.size(0) == p.restarts && a.size(1) == p.batch);
    TORCH_CHECK_VALUE(ok, op, ": active must have shape [", p.batch, "]",
                      has_restarts ? " or [" + std::to_string(p.restarts) + ", " + std::to_string(p.batch) + "]"
                                   : std::string(),
                      ", got ", shape_str(a.sizes()));
  }
}

ContiguousBall make_contiguous(const BallProblem& p) {
  auto as_double = [](const std::optional<at::Tensor>& t) {
    return t ? t->to(at::kDouble).contiguous() : at::Tensor();
  };
  return {p.x.contiguous(), p.x0.contiguous(), p.grad ? p.grad->contiguous() : at::Tensor(),
          as_double(p.eps_per_example), as_double(p.alpha_per_example),
          p.active ? p.active->contiguous() : at::Tensor()};
}

at::Tensor project_with(const char* op, BallRunner run, const at::Tensor& x, const at::Tensor& x0, double eps,
                        double lo, double hi, const std::optional<at::Tensor>& eps_per_example) {
  BallProblem p{x, x0, std::nullopt, eps, 0.0, lo, hi, eps_per_example, std::nullopt, std::nullopt};
  check_ball_problem(op, p);
  at::Tensor out = at::empty(x.sizes(), x.options());
  if (out.numel() > 0) run(p, out);
  return out;
}

at::Tensor step_with(const char* op, BallRunner run, const at::Tensor& x_adv, const at::Tensor& x0,
                     const at::Tensor& grad, double eps, double alpha, double lo, double hi,
                     const std::optional<at::Tensor>& eps_per_example,
                     const std::optional<at::Tensor>& alpha_per_example,
                     const std::optional<at::Tensor>& active) {
  BallProblem p{x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example, active};
  check_ball_problem(op, p);
  at::Tensor out = at::empty(x_adv.sizes(), x_adv.options());
  if (out.numel() > 0) run(p, out);
  return out;
}

void step_inplace_with(const char* op, BallRunner run, const at::Tensor& x_adv, const at::Tensor& x0,
                       const at::Tensor& grad, double eps, double alpha, double lo, double hi,
                       const std::optional<at::Tensor>& eps_per_example,
                       const std::optional<at::Tensor>& alpha_per_example,
                       const std::optional<at::Tensor>& active) {
  // As torch's in-place ops: an x_adv sharing memory with x0 or grad in part would read values the kernel has
  // already written (full overlap, x_adv being grad itself, is elementwise and safe).
  at::assert_no_internal_overlap(x_adv);
  at::assert_no_partial_overlap(x_adv, x0);
  at::assert_no_partial_overlap(x_adv, grad);
  if (!x_adv.is_contiguous()) {  // the kernels write contiguous memory: step out of place, copy back
    x_adv.copy_(step_with(op, run, x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example,
                          active));
    return;
  }
  BallProblem p{x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example, active};
  check_ball_problem(op, p);
  at::Tensor out = x_adv;
  if (out.numel() > 0) run(p, out);
}

}  // namespace pyadvman
