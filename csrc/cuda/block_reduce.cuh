// Block-wide reductions of the CUDA kernels launched with kThreads threads per block (neighbours.cu, lp_ball.cu):
// each result is returned to every thread. scratch: kThreads / kWarp doubles in shared memory; the kernels are
// declared __launch_bounds__(kThreads).
#pragma once

namespace pyadvman {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

template <typename T>
__device__ T warp_sum(T v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

__device__ inline double warp_max(double v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

// The block's sum (kMax: maximum) of v.
template <bool kMax = false>
__device__ double block_reduce(double v, double* scratch) {
  v = kMax ? warp_max(v) : warp_sum(v);
  __syncthreads();  // every thread is done with scratch from the previous call
  if (threadIdx.x % kWarp == 0) scratch[threadIdx.x / kWarp] = v;
  __syncthreads();
  double total = scratch[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / kWarp); ++w)
    total = kMax ? fmax(total, scratch[w]) : total + scratch[w];
  return total;
}

__device__ inline double block_sum(double v, double* scratch) { return block_reduce<false>(v, scratch); }
__device__ inline double block_max(double v, double* scratch) { return block_reduce<true>(v, scratch); }

}  // namespace pyadvman
