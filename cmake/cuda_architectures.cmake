# TORCH_CUDA_ARCH_LIST ("6.0 7.5 8.0;8.6+PTX", torch's spelling, names such as "Ampere" included) ->
# CMAKE_CUDA_ARCHITECTURES ("75-real;80-real;86"), keeping only the architectures the CUDA compiler can build:
# CUDA 13 dropped everything before 7.5, yet many images still export lists that start at 6.0. Dropped entries
# are named in a warning; when one of them asked for PTX (forward compatibility with newer GPUs), the oldest
# kept architecture gets PTX instead. An empty result is an error.
#
# Used by CMakeLists.txt (include + pyadvman_cuda_architectures) and by .ci/check_cuda_compile in script mode:
#   cmake -DARCH_LIST="6.0 8.6+PTX" -DNVCC=/usr/local/cuda/bin/nvcc -P cmake/cuda_architectures.cmake
# prints the kept entries, one per line, as "pyadvman-arch <entry>" (warnings go to the same stream).

# The architectures torch's TORCH_CUDA_ARCH_LIST accepts by name (torch.utils.cpp_extension).
set(_PYADVMAN_NAMED_ARCHS
  "Kepler+Tesla=3.7" "Kepler=3.5|3.7" "Maxwell=5.0|5.2" "Pascal=6.0|6.1" "Volta=7.0" "Turing=7.5"
  "Ampere=8.0|8.6" "Ada=8.9" "Hopper=9.0" "Blackwell=10.0|12.0")

# The compute capabilities nvcc builds ("75;80;86;..."), from `nvcc --list-gpu-arch`.
function(pyadvman_nvcc_architectures nvcc out_var)
  execute_process(COMMAND "${nvcc}" --list-gpu-arch OUTPUT_VARIABLE _listed RESULT_VARIABLE _rc ERROR_QUIET)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "pyadvman: `${nvcc} --list-gpu-arch` failed (exit ${_rc}); cannot choose CUDA architectures")
  endif()
  string(REGEX MATCHALL "compute_[0-9]+" _computes "${_listed}")
  string(REPLACE "compute_" "" _numbers "${_computes}")
  set(${out_var} "${_numbers}" PARENT_SCOPE)
endfunction()

# arch_list: torch-style list; nvcc: the CUDA compiler; origin: where the list came from (for messages);
# out_var: the CMAKE_CUDA_ARCHITECTURES list.
function(pyadvman_cuda_architectures arch_list nvcc origin out_var)
  pyadvman_nvcc_architectures("${nvcc}" _supported)
  string(REGEX REPLACE "[ ,;]+" ";" _entries "${arch_list}")
  set(_expanded "")
  foreach(_entry ${_entries})
    string(REGEX REPLACE "\\+PTX$" "" _base "${_entry}")
    set(_ptx "")
    if(_entry MATCHES "\\+PTX$")
      set(_ptx "+PTX")
    endif()
    set(_named "")
    foreach(_pair ${_PYADVMAN_NAMED_ARCHS})
      string(FIND "${_pair}" "=" _at)
      string(SUBSTRING "${_pair}" 0 ${_at} _pair_name)
      if(_pair_name STREQUAL _base)
        math(EXPR _from "${_at} + 1")
        string(SUBSTRING "${_pair}" ${_from} -1 _named)
      endif()
    endforeach()
    if(_named)
      string(REPLACE "|" ";" _named "${_named}")
      list(GET _named -1 _newest)
      foreach(_version ${_named})
        if(_version STREQUAL _newest)
          list(APPEND _expanded "${_version}${_ptx}")
        else()
          list(APPEND _expanded "${_version}")
        endif()
      endforeach()
    elseif(NOT _entry STREQUAL "")
      list(APPEND _expanded "${_entry}")
    endif()
  endforeach()
  set(_kept "")
  set(_dropped "")
  set(_dropped_ptx FALSE)
  foreach(_entry ${_expanded})
    if(NOT _entry MATCHES "^([0-9]+)\\.([0-9]+)([af]?)(\\+PTX)?$")
      message(FATAL_ERROR "pyadvman: ${origin} entry '${_entry}' is not of the form 8.0, 9.0a, 8.6+PTX or a "
                          "name such as Ampere")
    endif()
    set(_number "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
    set(_name "${_number}${CMAKE_MATCH_3}")
    if(NOT _number IN_LIST _supported)
      list(APPEND _dropped "${_entry}")
      if(CMAKE_MATCH_4)
        set(_dropped_ptx TRUE)
      endif()
    elseif(CMAKE_MATCH_4)
      list(APPEND _kept "${_name}")  # SASS and PTX
    else()
      list(APPEND _kept "${_name}-real")  # SASS only
    endif()
  endforeach()
  if(NOT _kept)
    message(FATAL_ERROR "pyadvman: no architecture of ${origin} ('${arch_list}') can be built by ${nvcc}; "
                        "choose some of those it builds (${_supported}), or unset TORCH_CUDA_ARCH_LIST to build for "
                        "the local GPUs")
  endif()
  if(_dropped)
    string(REPLACE ";" " " _dropped_text "${_dropped}")
    string(REPLACE ";" " " _supported_text "${_supported}")
    set(_ptx_text "")
    if(_dropped_ptx)
      list(GET _kept 0 _oldest)
      string(REGEX REPLACE "-real$" "" _oldest_ptx "${_oldest}")
      list(REMOVE_AT _kept 0)
      list(INSERT _kept 0 "${_oldest_ptx}")
      set(_ptx_text "; PTX for newer GPUs now comes from ${_oldest_ptx}")
    endif()
    message(WARNING "pyadvman: dropping CUDA architectures ${_dropped_text} from ${origin}: ${nvcc} cannot build "
                    "them (it builds ${_supported_text})${_ptx_text}")
  endif()
  set(${out_var} "${_kept}" PARENT_SCOPE)
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  pyadvman_cuda_architectures("${ARCH_LIST}" "${NVCC}" "TORCH_CUDA_ARCH_LIST" _archs)
  foreach(_arch ${_archs})
    message("pyadvman-arch ${_arch}")
  endforeach()
endif()
