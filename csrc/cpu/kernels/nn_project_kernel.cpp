// CPU kernel of nn_project: per example, classical Gram-Schmidt with one re-orthogonalisation ("twice is
// enough": Giraud, Langou, Rozložník, Comput. Math. Appl. 2005) over the basis {x_i − x}, then the
// projection of δ = x_adv − x and its residual (PAPERS.md §1, "Distance to the manifold").
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/neighbour_kernels.h"

namespace pyadvman::cpu::CPU_CAPABILITY {
namespace {

constexpr double kDegreesPerRadian = 57.29577951308232;

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

template <typename T>
double norm(const T* a, int64_t n) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * static_cast<double>(a[i]);
  return std::sqrt(sum);
}

// v −= Q Qᵀ v, twice, for the `rank` orthonormal rows of Q [rank, n].
template <typename T>
void orthogonalise(T* v, const T* q, int64_t rank, int64_t n, T* coefficients) {
  for (int pass = 0; pass < 2; ++pass) {
    for (int64_t m = 0; m < rank; ++m) coefficients[m] = dot(q + m * n, v, n);
    for (int64_t m = 0; m < rank; ++m) {
      const T c = coefficients[m];
      const T* qm = q + m * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) v[i] -= c * qm[i];
    }
  }
}

template <typename T>
void project(const ProjectArgs& a) {
  const T* x_adv = static_cast<const T*>(a.x_adv);
  const T* x = static_cast<const T*>(a.x);
  const T* reference = static_cast<const T*>(a.reference);
  T* projection = static_cast<T*>(a.projection);
  T* residual = static_cast<T*>(a.residual);
  T* angle = static_cast<T*>(a.angle);
  const int64_t n = a.features, k = a.k;
  at::parallel_for(0, a.batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> basis(k * n), delta(n), coefficients(k);
    for (int64_t b = begin; b < end; ++b) {
      const T* xb = x + b * n;
      int64_t rank = 0;
      for (int64_t j = 0; j < k; ++j) {
        T* v = basis.data() + rank * n;  // the next free row: kept when independent, else overwritten
        const T* neighbour = reference + a.indices[b * k + j] * n;
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) v[i] = neighbour[i] - xb[i];
        const double before = norm(v, n);
        orthogonalise(v, basis.data(), rank, n, coefficients.data());
        const double after = norm(v, n);
        if (after > 0 && after > a.rtol * before) {
          const T scale = static_cast<T>(1 / after);
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) v[i] *= scale;
          ++rank;
        }
      }
      // residual r = δ − Pδ, computed directly so a small residual keeps its relative accuracy; Pδ = δ − r.
      T* r = delta.data();
      const T* xa = x_adv + b * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) r[i] = xa[i] - xb[i];
      orthogonalise(r, basis.data(), rank, n, coefficients.data());
      T* p = projection + b * n;
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) p[i] = (xa[i] - xb[i]) - r[i];
      const double r_norm = norm(r, n);
      residual[b] = static_cast<T>(r_norm);
      angle[b] = static_cast<T>(std::atan2(r_norm, norm(p, n)) * kDegreesPerRadian);
    }
  });
}

}  // namespace

void project_kernel(const ProjectArgs& args) {
  if (args.dtype == c10::ScalarType::Double) {
    project<double>(args);
  } else {
    project<float>(args);
  }
}

}  // namespace pyadvman::cpu::CPU_CAPABILITY
