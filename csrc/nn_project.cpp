// Input checks and the device-generic driver of nn_project: knn of x_adv, then the backend's projection.
#include <ATen/ATen.h>

#include <cmath>

#include "neighbours.h"
#include "shape_str.h"

namespace pyadvman {

std::tuple<at::Tensor, at::Tensor, at::Tensor> nn_project_with(const NeighbourKernels& kernels,
                                                               const at::Tensor& x_adv_in, const at::Tensor& x_in,
                                                               const at::Tensor& reference_in, int64_t k,
                                                               const std::optional<at::Tensor>& exclude,
                                                               int64_t tile, double rtol) {
  const char* op = "nn_project";
  check_knn_inputs(op, "x_adv", x_adv_in, reference_in, k, exclude, tile);
  TORCH_CHECK_TYPE(x_in.scalar_type() == x_adv_in.scalar_type(), op, ": x must have dtype ",
                   x_adv_in.scalar_type(), " like x_adv, got ", x_in.scalar_type());
  TORCH_CHECK(x_in.device() == x_adv_in.device(), op, ": x must be on ", x_adv_in.device(), " like x_adv, got ",
              x_in.device());
  TORCH_CHECK_VALUE(x_in.sizes().equals(x_adv_in.sizes()), op, ": x must have shape ",
                    shape_str(x_adv_in.sizes()), " like x_adv, got ", shape_str(x_in.sizes()));
  TORCH_CHECK_VALUE(std::isfinite(rtol) && rtol >= 0 && rtol < 1, op, ": rtol must be in [0, 1), got ", rtol);
  at::AutoDispatchBelowADInplaceOrView below_autograd;

  TORCH_CHECK_VALUE(x_in.isfinite().all().item<bool>(), op, ": x must be finite (found NaN or inf)");
  // Converted once here; knn_with then finds them in its dtype and contiguous, and copies nothing.
  const auto dtype = x_adv_in.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor x_adv = x_adv_in.to(dtype).contiguous();
  const at::Tensor x = x_in.to(dtype).contiguous();
  const at::Tensor reference = reference_in.to(dtype).contiguous();
  const at::Tensor indices = std::get<1>(knn_with(kernels, x_adv, reference, k, exclude, tile, op, "x_adv"));
  at::Tensor projection = at::empty_like(x);
  at::Tensor residual = at::empty({x.size(0)}, x.options());
  at::Tensor angle = at::empty({x.size(0)}, x.options());
  if (x.size(0) > 0) kernels.project(x_adv, x, reference, indices, rtol, projection, residual, angle);
  const auto out_dtype = x_adv_in.scalar_type();
  return {projection.to(out_dtype), residual.to(out_dtype), angle.to(out_dtype)};
}

}  // namespace pyadvman
