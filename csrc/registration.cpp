// Every operator schema of the `pyadvman` namespace, declared once; each backend registers its kernels beside
// them (TORCH_LIBRARY_IMPL in cpu/linf_ball.cpp, cpu/lp_ball.cpp, cpu/neighbours.cpp, cuda/linf_ball.cu,
// cuda/lp_ball.cu, cuda/neighbours.cu).
// The same shared object is the pybind11 module pyadvman._C, which reports how it was built.
#include <pybind11/pybind11.h>
#include <torch/library.h>

#include "ops.h"

TORCH_LIBRARY(pyadvman, m) {
  // out = clamp(clamp(x, x0 - eps, x0 + eps), lo, hi); x [R, B, ...] or [B, ...], x0 [B, ...].
  // eps_per_example [B], when given, replaces eps. Not differentiable.
  m.def("linf_project(Tensor x, Tensor x0, float eps, float lo, float hi, Tensor? eps_per_example) -> Tensor",
        {at::Tag::pt2_compliant_tag});
  // One signed-gradient ascent step fused with linf_project: Π(x_adv + alpha·sign(grad)), sign(0) = 0.
  // active [B] or [R, B] (bool) keeps x_adv where false. Not differentiable.
  m.def("pgd_step(Tensor x_adv, Tensor x0, Tensor grad, float eps, float alpha, float lo, float hi, "
        "Tensor? eps_per_example, Tensor? alpha_per_example, Tensor? active) -> Tensor",
        {at::Tag::pt2_compliant_tag});
  // pgd_step writing into x_adv (inactive rows are not written).
  m.def("pgd_step_(Tensor(a!) x_adv, Tensor x0, Tensor grad, float eps, float alpha, float lo, float hi, "
        "Tensor? eps_per_example, Tensor? alpha_per_example, Tensor? active) -> ()",
        {at::Tag::pt2_compliant_tag});
  // out = clamp(x0 + δ·min(1, eps/‖δ‖₂), lo, hi) with δ = x − x0, per row (restart, example); ‖out − x0‖₂ <= eps
  // as a float64 checker computes it. Not differentiable.
  m.def("l2_project(Tensor x, Tensor x0, float eps, float lo, float hi, Tensor? eps_per_example) -> Tensor",
        {at::Tag::pt2_compliant_tag});
  // One normalised-gradient ascent step fused with l2_project: l2_project(x_adv + alpha·grad/‖grad‖₂) (NaN in grad
  // read as 0); active [B] or [R, B] (bool) keeps x_adv where false. Not differentiable.
  m.def("l2_step(Tensor x_adv, Tensor x0, Tensor grad, float eps, float alpha, float lo, float hi, "
        "Tensor? eps_per_example, Tensor? alpha_per_example, Tensor? active) -> Tensor",
        {at::Tag::pt2_compliant_tag});
  // The exact Euclidean projection of x onto {‖z − x0‖₁ <= eps} ∩ [lo, hi]^D, per row. Not differentiable.
  m.def("l1_project(Tensor x, Tensor x0, float eps, float lo, float hi, Tensor? eps_per_example) -> Tensor",
        {at::Tag::pt2_compliant_tag});
  // Exact squared-L2 k nearest reference rows of each query: (dist2 [B, k], index [B, k] int64), ascending,
  // ties by lower index. exclude [B] int64 names one reference row per query to skip (−1: none); tile is the
  // number of reference rows screened per GEMM (0: automatic). Not differentiable.
  m.def("knn(Tensor queries, Tensor reference, int k, Tensor? exclude, int tile) -> (Tensor, Tensor)",
        {at::Tag::pt2_compliant_tag});
  // Projection of δ = x_adv − x onto span{x_i − x} over the k nearest reference rows x_i of x_adv:
  // (projection [B, D], residual ‖δ − Pδ‖ [B], angle ∠(δ, Pδ) in degrees [B]). Not differentiable.
  m.def("nn_project(Tensor x_adv, Tensor x, Tensor reference, int k, Tensor? exclude, int tile, float rtol) "
        "-> (Tensor, Tensor, Tensor)",
        {at::Tag::pt2_compliant_tag});
}

PYBIND11_MODULE(_C, m) {
  m.doc() = "pyadvman's compiled operators (registered under torch.ops.pyadvman) and build information.";
  m.def(
      "build_info",
      [] {
        pybind11::dict info;
        info["torch_version"] = PYADVMAN_TORCH_VERSION;
        info["cuda"] = static_cast<bool>(PYADVMAN_WITH_CUDA);
        info["cuda_version"] = PYADVMAN_WITH_CUDA ? PYADVMAN_CUDA_VERSION : "";
        info["cuda_architectures"] = PYADVMAN_CUDA_ARCHS;
        info["openmp"] = static_cast<bool>(PYADVMAN_OPENMP);
        info["cpu_isas_built"] = PYADVMAN_CPU_ISAS;
        info["cpu_isa"] = pyadvman::cpu_kernel_isa();
        info["compiler"] = PYADVMAN_COMPILER;
        return info;
      },
      "How this library was built: torch version, CUDA, architectures, OpenMP, CPU instruction sets.");
}
