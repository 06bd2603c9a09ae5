# TORCH_CUDA_ARCH_LIST ("6.0 7.5 8.0;8.6+PTX", torch's spelling) -> CMAKE_CUDA_ARCHITECTURES ("75-real;80-real;86"),
# keeping only the architectures the CUDA compiler can build: CUDA 13 dropped everything before 7.5, yet many
# images still export lists that start at 6.0. Dropped entries are named in a warning; an empty result is an error.
#
# Used by CMakeLists.txt (include + pyadvman_cuda_architectures) and by .ci/check_cuda_compile in script mode:
#   cmake -DARCH_LIST="6.0 8.6+PTX" -DNVCC=/usr/local/cuda/bin/nvcc -P cmake/cuda_architectures.cmake
# prints the kept entries, one per line, as "pyadvman-arch <entry>" (warnings go to the same stream).

# The compute capabilities nvcc builds ("75;80;86;..."), from `nvcc --list-gpu-arch`.
function(pyadvman_nvcc_architectures nvcc out_var)
  execute_process(COMMAND "${nvcc}" --list-gpu-arch OUTPUT_VARIABLE _listed RESULT_VARIABLE _rc ERROR_QUIET)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "pyadvman: `${nvcc} --list-gpu-arch` failed (exit ${_rc}); cannot check TORCH_CUDA_ARCH_LIST")
  endif()
  string(REGEX MATCHALL "compute_[0-9]+" _computes "${_listed}")
  string(REPLACE "compute_" "" _numbers "${_computes}")
  set(${out_var} "${_numbers}" PARENT_SCOPE)
endfunction()

# arch_list: TORCH_CUDA_ARCH_LIST text; out_var: the CMAKE_CUDA_ARCHITECTURES list.
function(pyadvman_cuda_architectures arch_list nvcc out_var)
  pyadvman_nvcc_architectures("${nvcc}" _supported)
  string(REGEX REPLACE "[ ,;]+" ";" _entries "${arch_list}")
  set(_kept "")
  set(_dropped "")
  foreach(_entry ${_entries})
    if(_entry STREQUAL "")
      continue()
    endif()
    if(NOT _entry MATCHES "^([0-9]+)\\.([0-9]+)([af]?)(\\+PTX)?$")
      message(FATAL_ERROR "pyadvman: TORCH_CUDA_ARCH_LIST entry '${_entry}' is not of the form 8.0, 9.0a or 8.6+PTX")
    endif()
    set(_number "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
    set(_name "${_number}${CMAKE_MATCH_3}")
    if(NOT _number IN_LIST _supported)
      list(APPEND _dropped "${_entry}")
    elseif(CMAKE_MATCH_4)
      list(APPEND _kept "${_name}")  # SASS and PTX
    else()
      list(APPEND _kept "${_name}-real")  # SASS only
    endif()
  endforeach()
  if(_dropped)
    string(REPLACE ";" " " _dropped_text "${_dropped}")
    string(REPLACE ";" " " _supported_text "${_supported}")
    message(WARNING "pyadvman: dropping CUDA architectures ${_dropped_text} from TORCH_CUDA_ARCH_LIST: ${nvcc} "
                    "cannot build them (it builds ${_supported_text})")
  endif()
  if(NOT _kept)
    message(FATAL_ERROR "pyadvman: no architecture of TORCH_CUDA_ARCH_LIST='${arch_list}' can be built by ${nvcc}; "
                        "set it to some of the architectures it builds, or unset it to build for the local GPUs")
  endif()
  set(${out_var} "${_kept}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  pyadvman_cuda_architectures("${ARCH_LIST}" "${NVCC}" _archs)
  foreach(_arch ${_archs})
    message("pyadvman-arch ${_arch}")
  endforeach()
endif()
