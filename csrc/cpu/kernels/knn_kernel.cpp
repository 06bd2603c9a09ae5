// CPU kernels of knn: screening of one GEMM tile and the exact float64 re-ranking (see knn.cpp).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "cpu/neighbour_kernels.h"

namespace pyadvman::cpu::CPU_CAPABILITY {
namespace {

constexpr int64_t kChunk = 64;           // screening values computed (vectorised) before any are appended
constexpr int64_t kLanes = 8;            // independent float64 accumulators of one distance
constexpr int64_t kGrainWork = 1 << 16;  // elements per parallel task

template <typename T>
void screen_tile(const ScreenTileArgs& a) {
  const T* dot = static_cast<const T*>(a.dot);
  const T* norm2 = static_cast<const T*>(a.ref_norm2);
  const T* tau = static_cast<const T*>(a.tau);
  T* values = static_cast<T*>(a.values);
  const int64_t grain = std::max<int64_t>(1, kGrainWork / std::max<int64_t>(a.tile, 1));
  at::parallel_for(0, a.rows, grain, [&](int64_t begin, int64_t end) {
    T s[kChunk];
    for (int64_t b = begin; b < end; ++b) {
      const T* row = dot + b * a.tile;
      const T threshold = tau[b];
      const int64_t skip = a.exclude ? a.exclude[b] - a.first : -1;
      int64_t count = a.count[b];
      for (int64_t j0 = 0; j0 < a.tile; j0 += kChunk) {
        const int64_t n = std::min(kChunk, a.tile - j0);
        T smallest = std::numeric_limits<T>::infinity();
#pragma omp simd reduction(min : smallest)
        for (int64_t j = 0; j < n; ++j) {
          s[j] = norm2[j0 + j] - 2 * row[j0 + j];
          smallest = std::min(smallest, s[j]);
        }
        if (!(smallest <= threshold)) continue;  // the common case once the threshold has settled
        for (int64_t j = 0; j < n; ++j) {
          if (s[j] <= threshold && j0 + j != skip) {
            if (count < a.capacity) {
              values[b * a.capacity + count] = s[j];
              a.indices[b * a.capacity + count] = a.first + j0 + j;
            }
            ++count;
          }
        }
      }
      a.count[b] = count;
    }
  });
}

// Σ_d (q_d − r_d)² in float64. Lane l sums the features d ≡ l (mod kLanes) and the lanes are added in a fixed
// order, so equal rows give bit-equal sums whatever their alignment (ties then break by index).
template <typename T>
double squared_distance(const T* q, const T* r, int64_t features) {
  double lanes[kLanes] = {};
  int64_t d = 0;
  for (; d + kLanes <= features; d += kLanes) {
#pragma omp simd
    for (int64_t l = 0; l < kLanes; ++l) {
      const double diff = static_cast<double>(q[d + l]) - static_cast<double>(r[d + l]);
      lanes[l] += diff * diff;
    }
  }
  for (int64_t l = 0; d < features; ++d, ++l) {
    const double diff = static_cast<double>(q[d]) - static_cast<double>(r[d]);
    lanes[l] += diff * diff;
  }
  double sum = 0;
  for (int64_t l = 0; l < kLanes; ++l) sum += lanes[l];
  return sum;
}

template <typename T>
void exact_distances(const ExactDistancesArgs& a) {
  const T* queries = static_cast<const T*>(a.queries);
  const T* reference = static_cast<const T*>(a.reference);
  const int64_t grain = std::max<int64_t>(1, kGrainWork / std::max<int64_t>(a.features, 1));
  at::parallel_for(0, a.rows * a.capacity, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t row = a.indices[i];
      a.out[i] = row < 0 ? std::numeric_limits<double>::infinity()
                         : squared_distance(queries + (i / a.capacity) * a.features, reference + row * a.features,
                                            a.features);
    }
  });
}

}  // namespace

void screen_tile_kernel(const ScreenTileArgs& args) {
  with_float_type(args.dtype, [&](auto zero) { screen_tile<decltype(zero)>(args); });
}

void exact_distances_kernel(const ExactDistancesArgs& args) {
  with_float_type(args.dtype, [&](auto zero) { exact_distances<decltype(zero)>(args); });
}

}  // namespace pyadvman::cpu::CPU_CAPABILITY
