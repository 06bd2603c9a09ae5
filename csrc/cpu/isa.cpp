// Run-time choice of the CPU instruction set (see isa.h).
#include "cpu/isa.h"

#include <cstdlib>
#include <string>

#include "ops.h"

namespace pyadvman {
namespace cpu {
namespace {

Isa detect_isa() {
  const char* env = std::getenv("ATEN_CPU_CAPABILITY");
  const std::string cap = env ? env : "";
#if defined(PYADVMAN_HAVE_CPU_AVX512)
  if (cap != "default" && cap != "avx2" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return Isa::AVX512;
#endif
#if defined(PYADVMAN_HAVE_CPU_AVX2)
  if (cap != "default" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::AVX2;
#endif
  return Isa::DEFAULT;
}

}  // namespace

Isa selected_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

}  // namespace cpu

const char* cpu_kernel_isa() {
  switch (cpu::selected_isa()) {
    case cpu::Isa::AVX512:
      return "AVX512";
    case cpu::Isa::AVX2:
      return "AVX2";
    default:
      return "DEFAULT";
  }
}

}  // namespace pyadvman
