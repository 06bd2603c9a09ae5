// CPU kernel of nn_project: per example, classical Gram-Schmidt with one re-orthogonalisation ("twice is
// enough": Giraud, Langou, Rozložník, Comput. Math. Appl. 2005) over the basis {x_i − x}, then the
// projection of δ = x_adv − x and its residual (docs/papers.md §1, "Distance to the manifold").
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/neighbour_kernels.h"

namespace pyadvman::cpu::CPU_CAPABILITY {
namespace {

constexpr double kDegreesPerRadian = 57.29577951308232;

template <typename T>
double norm(const T* a, int64_t n) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * static_cast<double>(a[i]);
  return std::sqrt(sum);
}

constexpr int64_t kRows = 8;  // basis rows per pass over v: 8 independent FMA chains, v loaded once for 8

// c[m] = q_m · v for the `rank` rows of Q [rank, n].
template <typename T>
void project_coefficients(const T* q, const T* v, int64_t rank, int64_t n, T* c) {
  int64_t m = 0;
  for (; m + kRows <= rank; m += kRows) {
    const T* qm = q + m * n;
    T s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
    for (int64_t i = 0; i < n; ++i) {
      const T vi = v[i];
      s0 += qm[i] * vi;
      s1 += qm[n + i] * vi;
      s2 += qm[2 * n + i] * vi;
      s3 += qm[3 * n + i] * vi;
      s4 += qm[4 * n + i] * vi;
      s5 += qm[5 * n + i] * vi;
      s6 += qm[6 * n + i] * vi;
      s7 += qm[7 * n + i] * vi;
    }
    const T sums[kRows] = {s0, s1, s2, s3, s4, s5, s6, s7};
    for (int64_t r = 0; r < kRows; ++r) c[m + r] = sums[r];
  }
  for (; m < rank; ++m) {
    const T* qm = q + m * n;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) sum += qm[i] * v[i];
    c[m] = sum;
  }
}

// v −= Σ_m c[m] q_m.
template <typename T>
void subtract_combination(T* v, const T* q, const T* c, int64_t rank, int64_t n) {
  int64_t m = 0;
  for (; m + kRows <= rank; m += kRows) {
    const T* qm = q + m * n;
    const T* cm = c + m;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      v[i] -= cm[0] * qm[i] + cm[1] * qm[n + i] + cm[2] * qm[2 * n + i] + cm[3] * qm[3 * n + i] +
              cm[4] * qm[4 * n + i] + cm[5] * qm[5 * n + i] + cm[6] * qm[6 * n + i] + cm[7] * qm[7 * n + i];
    }
  }
  for (; m < rank; ++m) {
    const T* qm = q + m * n;
    const T cm = c[m];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) v[i] -= cm * qm[i];
  }
}

// v −= Q Qᵀ v, twice, for the `rank` orthonormal rows of Q [rank, n].
template <typename T>
void orthogonalise(T* v, const T* q, int64_t rank, int64_t n, T* coefficients) {
  for (int pass = 0; pass < 2; ++pass) {
    project_coefficients(q, v, rank, n, coefficients);
    subtract_combination(v, q, coefficients, rank, n);
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
  with_float_type(args.dtype, [&](auto zero) { project<decltype(zero)>(args); });
}

}  // namespace pyadvman::cpu::CPU_CAPABILITY
