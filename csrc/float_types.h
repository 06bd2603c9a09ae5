// The floating dtypes pyadvman's kernels take; others (float8, complex) get a TypeError naming the argument
// before they reach a dtype dispatch.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

namespace pyadvman {

inline bool is_kernel_float(at::ScalarType t) {
  return t == at::kFloat || t == at::kDouble || t == at::kHalf || t == at::kBFloat16;
}

inline void check_kernel_float(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK_TYPE(is_kernel_float(t.scalar_type()), op, ": ", name,
                   " must be a float32, float64, float16 or bfloat16 tensor, got ", t.scalar_type());
}

}  // namespace pyadvman
