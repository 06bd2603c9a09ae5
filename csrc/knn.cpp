// Input checks and the device-generic driver of knn. The search is exact by construction:
//  1. screening: per tile of reference rows, s = ‖r‖² − 2·q·r from one GEMM (at::mm); a row stays a candidate
//     while s <= tau = (k-th smallest s so far) + margin, where the margin bounds twice the rounding error of s;
//  2. re-ranking: the candidates' distances are recomputed as Σ(q − r)² in float64 and sorted by
//     (distance, index). The k nearest rows always survive screening, ties included, so the result equals a
//     float64 brute-force search; the returned distances carry no cancellation error.
// Extra memory: one [Bq, T] tile plus [Bq, C] candidates, C ≈ 2k + 128 unless many rows tie.
#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "neighbours.h"
#include "float_types.h"
#include "shape_str.h"

namespace pyadvman {
namespace {

constexpr int64_t kCpuTileElements = int64_t{1} << 22;   // [Bq, T] float32 GEMM tile: 16 MiB
constexpr int64_t kCudaTileElements = int64_t{1} << 26;  // 256 MiB
constexpr int64_t kMaxQueryBlock = 4096;
constexpr double kInf = std::numeric_limits<double>::infinity();

// On CUDA the screening GEMMs run without TF32 whatever torch.set_float32_matmul_precision or
// torch.backends.cuda.matmul.allow_tf32 say (at::NoTF32Guard: this thread only, for the search's duration): with
// TF32 (unit roundoff 2^-11) the rigorous margin for 784-pixel images exceeds the largest squared distance they can
// have, every reference row stays a candidate and the float64 re-rank reads them all (about 25x slower at
// N = 60,000). On the CPU the margin follows the precision oneDNN's matmuls are allowed (bfloat16 under "medium"
// where the CPU has it: wider, slower, still exact).
double matmul_unit_roundoff(at::ScalarType dtype, bool cuda) {
  if (dtype == at::kDouble) return std::ldexp(1.0, -53);
  if (cuda) return std::ldexp(1.0, -24);  // NoTF32Guard holds
  try {
    switch (at::globalContext().float32Precision(at::Float32Backend::MKLDNN, at::Float32Op::MATMUL)) {
      case at::Float32Precision::BF16:
        return std::ldexp(1.0, -8);
      case at::Float32Precision::TF32:
        return std::ldexp(1.0, -11);
      default:
        return std::ldexp(1.0, -24);
    }
  } catch (const c10::Error&) {  // settings torch cannot resolve: assume the coarsest
    return std::ldexp(1.0, -8);
  }
}

// Candidate lists of one block of queries.
struct Candidates {
  at::Tensor values;   // [Bq, C] screening values s, +inf in empty slots
  at::Tensor indices;  // [Bq, C] int64 reference rows, −1 in empty slots
  at::Tensor count;    // [Bq] int64 filled slots (a prefix after prune)
  at::Tensor tau;      // [Bq] screening threshold
  int64_t capacity = 0;

  void allocate(int64_t rows, int64_t c, const at::TensorOptions& opts) {
    capacity = c;
    values = at::full({rows, c}, kInf, opts);
    indices = at::full({rows, c}, -1, opts.dtype(at::kLong));
    count = at::zeros({rows}, opts.dtype(at::kLong));
    tau = at::full({rows}, kInf, opts);
  }

  void grow(int64_t c) {
    const int64_t rows = values.size(0);
    values = at::cat({values, at::full({rows, c - capacity}, kInf, values.options())}, 1);
    indices = at::cat({indices, at::full({rows, c - capacity}, -1, indices.options())}, 1);
    capacity = c;
  }

  // Empties every slot at or after count[b].
  void clear_after_count() {
    const at::Tensor unused = at::arange(capacity, count.options()).unsqueeze(0) >= count.unsqueeze(1);
    values.masked_fill_(unused, kInf);
    indices.masked_fill_(unused, -1);
  }

  // Sorts each row, sets tau = (k-th smallest value) + margin and drops the values above it.
  void prune(int64_t k, const at::Tensor& margin) {
    auto [sorted, order] = at::sort(values, 1);
    values = sorted;
    indices = indices.gather(1, order);
    tau = values.select(1, k - 1) + margin;
    const at::Tensor drop = values > tau.unsqueeze(1);
    values.masked_fill_(drop, kInf);
    indices.masked_fill_(drop, -1);
    count = indices.ge(0).sum(1);
  }
};

// One block of queries against every tile of the reference.
class BlockSearch {
 public:
  BlockSearch(const NeighbourKernels& kernels, const at::Tensor& queries, const at::Tensor& reference,
              const at::Tensor& ref_norm2, const at::Tensor& margin, const at::Tensor& exclude, int64_t k)
      : kernels_(kernels), queries_(queries), reference_(reference), ref_norm2_(ref_norm2), margin_(margin),
        exclude_(exclude), k_(k) {}

  // Returns (distances [Bq, k] float64, indices [Bq, k] int64).
  std::tuple<at::Tensor, at::Tensor> run(int64_t tile) {
    const int64_t n = reference_.size(0);
    seed(std::min(tile, n));
    for (int64_t first = tile; first < n; first += tile) screen(first, std::min(tile, n - first));
    return rerank();
  }

 private:
  at::Tensor tile_dot(int64_t first, int64_t size) const {
    return at::mm(queries_, reference_.narrow(0, first, size).t());
  }

  // The first tile fills the lists through top-k; a list whose last kept value is still within the
  // threshold may have lost ties, so the capacity doubles until none has.
  void seed(int64_t size) {
    at::Tensor s = ref_norm2_.narrow(0, 0, size).unsqueeze(0) - 2 * tile_dot(0, size);
    if (exclude_.defined()) {
      const at::Tensor in_tile = (exclude_ >= 0) & (exclude_ < size);
      const at::Tensor column = exclude_.clamp(0, size - 1).unsqueeze(1);
      s.scatter_(1, column, s.gather(1, column).masked_fill(in_tile.unsqueeze(1), kInf));
    }
    int64_t capacity = std::min(reference_.size(0), 2 * k_ + 128);
    for (;;) {
      const int64_t m = std::min(capacity, size);
      auto [values, positions] = at::topk(s, m, 1, /*largest=*/false, /*sorted=*/true);
      lists_.allocate(s.size(0), capacity, s.options());
      lists_.values.narrow(1, 0, m).copy_(values);
      lists_.indices.narrow(1, 0, m).copy_(positions);
      const at::Tensor last_kept = values.select(1, m - 1);
      lists_.prune(k_, margin_);
      if (m == size || !(last_kept <= lists_.tau).any().item<bool>()) return;
      capacity *= 2;
    }
  }

  void screen(int64_t first, int64_t size) {
    const at::Tensor dot = tile_dot(first, size);
    const at::Tensor norms = ref_norm2_.narrow(0, first, size);
    int64_t needed = 0;  // the longest list after this tile
    for (;;) {
      const at::Tensor before = lists_.count.clone();
      kernels_.screen_tile(dot, norms, first, lists_.tau, exclude_, lists_.count, lists_.values, lists_.indices);
      needed = lists_.count.max().item<int64_t>();
      if (needed <= lists_.capacity) break;
      lists_.count = before;  // undo this tile, make room, screen it again
      lists_.clear_after_count();
      lists_.grow(std::max(2 * lists_.capacity, needed));
    }
    if (2 * needed > lists_.capacity) lists_.prune(k_, margin_);
  }

  // Exact float64 distances, ordered by (distance, index).
  std::tuple<at::Tensor, at::Tensor> rerank() const {
    const at::Tensor exact = kernels_.exact_distances(queries_, reference_, lists_.indices);
    auto [by_index, order] = at::sort(lists_.indices, 1);
    auto [distances, order_by_distance] =
        at::sort(exact.gather(1, order), /*stable=*/true, /*dim=*/1, /*descending=*/false);
    const at::Tensor indices = by_index.gather(1, order_by_distance);
    return {distances.narrow(1, 0, k_), indices.narrow(1, 0, k_)};
  }

  const NeighbourKernels& kernels_;
  const at::Tensor& queries_;
  const at::Tensor& reference_;
  const at::Tensor& ref_norm2_;
  const at::Tensor margin_;
  const at::Tensor exclude_;
  const int64_t k_;
  Candidates lists_;
};

}  // namespace

void check_knn_inputs(const char* op, const char* queries_name, const at::Tensor& queries,
                      const at::Tensor& reference, int64_t k, const std::optional<at::Tensor>& exclude,
                      int64_t tile) {
  check_kernel_float(op, queries_name, queries);
  TORCH_CHECK_VALUE(queries.dim() == 2, op, ": ", queries_name, " must have shape [B, D], got ",
                    shape_str(queries.sizes()));
  TORCH_CHECK_TYPE(reference.scalar_type() == queries.scalar_type(), op, ": reference must have dtype ",
                   queries.scalar_type(), " like ", queries_name, ", got ", reference.scalar_type());
  TORCH_CHECK(reference.device() == queries.device(), op, ": reference must be on ", queries.device(), " like ",
              queries_name, ", got ", reference.device());
  TORCH_CHECK_VALUE(reference.dim() == 2 && reference.size(1) == queries.size(1), op,
                    ": reference must have shape [N, ", queries.size(1), "] (D like ", queries_name, "), got ",
                    shape_str(reference.sizes()));
  const int64_t n = reference.size(0);
  const int64_t k_max = exclude.has_value() ? n - 1 : n;
  TORCH_CHECK_VALUE(k >= 1 && k <= k_max, op, ": k must be in [1, ", k_max, "] (N = ", n,
                    exclude.has_value() ? " reference rows, one excluded per query" : " reference rows",
                    "), got ", k);
  TORCH_CHECK_VALUE(tile >= 0, op, ": tile must be >= 0 (0 = automatic), got ", tile);
  if (exclude.has_value()) {
    TORCH_CHECK_TYPE(exclude->scalar_type() == at::kLong, op, ": exclude must be an int64 tensor, got ",
                     exclude->scalar_type());
    TORCH_CHECK(exclude->device() == queries.device(), op, ": exclude must be on ", queries.device(), " like ",
                queries_name, ", got ", exclude->device());
    TORCH_CHECK_VALUE(exclude->dim() == 1 && exclude->size(0) == queries.size(0), op,
                      ": exclude must have shape [", queries.size(0), "] (one row or −1 per query), got ",
                      shape_str(exclude->sizes()));
  }
}

std::tuple<at::Tensor, at::Tensor> knn_with(const NeighbourKernels& kernels, const at::Tensor& queries_in,
                                            const at::Tensor& reference_in, int64_t k,
                                            const std::optional<at::Tensor>& exclude_in, int64_t tile,
                                            const char* op, const char* queries_name) {
  check_knn_inputs(op, queries_name, queries_in, reference_in, k, exclude_in, tile);
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  const int64_t b_total = queries_in.size(0), n = reference_in.size(0), d = queries_in.size(1);
  at::Tensor distances = at::empty({b_total, k}, queries_in.options());
  at::Tensor indices = at::empty({b_total, k}, queries_in.options().dtype(at::kLong));
  if (b_total == 0) return {distances, indices};

  // float16/bfloat16 are searched in float32.
  const auto dtype = queries_in.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor queries = queries_in.to(dtype).contiguous();
  const at::Tensor reference = reference_in.to(dtype).contiguous();
  const at::Tensor exclude = exclude_in.has_value() ? exclude_in->contiguous() : at::Tensor();

  // |s − (‖q − r‖² − ‖q‖²)| <= γ_{D+2}·(‖r‖² + 2‖q‖‖r‖) for any summation order (Higham, "Accuracy and
  // Stability of Numerical Algorithms", 2002, §3.1); the margin is 3× that bound with ‖r‖ <= max ‖r‖, which
  // covers twice the error plus the rounding of the norms (sqrt, square) and of tau itself.
  const at::Tensor ref_norm2 = at::linalg_vector_norm(reference, 2, 1).square_();
  const double r_max = std::sqrt(ref_norm2.max().item<double>());  // NaN or inf if a row is
  TORCH_CHECK_VALUE(std::isfinite(r_max), op, ": reference must be finite (found NaN or inf, or a row whose ",
                    "squared norm overflows ", dtype, ")");
  const at::Tensor q_norm = at::linalg_vector_norm(queries.to(at::kDouble), 2, 1);
  TORCH_CHECK_VALUE(q_norm.isfinite().all().item<bool>(), op, ": ", queries_name,
                    " must be finite (found NaN or inf)");
  const at::NoTF32Guard no_tf32;  // CUDA GEMMs in full float32 (see matmul_unit_roundoff)
  const double nu = (d + 2) * matmul_unit_roundoff(dtype, queries.is_cuda());
  const double gamma = nu < 1 ? nu / (1 - nu) : kInf;
  const at::Tensor margin = (3 * gamma * (r_max * r_max + 2 * r_max * q_norm)).to(dtype);

  const int64_t block = std::min(b_total, kMaxQueryBlock);
  const int64_t budget = queries.is_cuda() ? kCudaTileElements : kCpuTileElements;
  // The first tile must hold k rows besides an excluded one.
  const int64_t tile_rows = std::min(n, std::max(tile > 0 ? tile : budget / block, k + 1));
  for (int64_t first = 0; first < b_total; first += block) {
    const int64_t rows = std::min(block, b_total - first);
    const at::Tensor q = queries.narrow(0, first, rows);
    BlockSearch search(kernels, q, reference, ref_norm2, margin.narrow(0, first, rows),
                       exclude.defined() ? exclude.narrow(0, first, rows) : at::Tensor(), k);
    auto [block_distances, block_indices] = search.run(tile_rows);
    distances.narrow(0, first, rows).copy_(block_distances);
    indices.narrow(0, first, rows).copy_(block_indices);
  }
  return {distances, indices};
}

}  // namespace pyadvman
