// The CPU instruction set the kernels in cpu/kernels/ run with, chosen once per process.
// Each kernel there is compiled once per instruction set into namespace cpu::<ISA> (see CMakeLists.txt).
#pragma once

namespace pyadvman::cpu {

enum class Isa { DEFAULT, AVX2, AVX512 };

// The widest instruction set this CPU runs and this build holds; ATEN_CPU_CAPABILITY=default|avx2|avx512
// caps it, as it caps torch's own kernels.
Isa selected_isa();

// The variant of a kernel for selected_isa(); variants a build lacks are nullptr and never chosen.
template <typename Fn>
Fn pick_kernel(Fn default_fn, Fn avx2_fn, Fn avx512_fn) {
  switch (selected_isa()) {
    case Isa::AVX512:
      if (avx512_fn) return avx512_fn;
      [[fallthrough]];
    case Isa::AVX2:
      if (avx2_fn) return avx2_fn;
      [[fallthrough]];
    default:
      return default_fn;
  }
}

}  // namespace pyadvman::cpu

#if defined(PYADVMAN_HAVE_CPU_AVX2)
#define PYADVMAN_AVX2_VARIANT(fn) &::pyadvman::cpu::AVX2::fn
#else
#define PYADVMAN_AVX2_VARIANT(fn) nullptr
#endif
#if defined(PYADVMAN_HAVE_CPU_AVX512)
#define PYADVMAN_AVX512_VARIANT(fn) &::pyadvman::cpu::AVX512::fn
#else
#define PYADVMAN_AVX512_VARIANT(fn) nullptr
#endif
// The variant of kernel `fn` (declared in every cpu::<ISA> namespace) for this CPU.
#define PYADVMAN_CPU_KERNEL(fn) \
  ::pyadvman::cpu::pick_kernel(&::pyadvman::cpu::DEFAULT::fn, PYADVMAN_AVX2_VARIANT(fn), PYADVMAN_AVX512_VARIANT(fn))

// Declares `decl` (a function declaration) in each cpu::<ISA> namespace.
#define PYADVMAN_DECLARE_CPU_KERNEL(decl) \
  namespace DEFAULT {                     \
  decl;                                   \
  }                                       \
  namespace AVX2 {                        \
  decl;                                   \
  }                                       \
  namespace AVX512 {                      \
  decl;                                   \
  }
