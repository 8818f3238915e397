// Finding and opening libcuda and libnvrtc at run time.
#pragma once

#include <string>
#include <vector>

#include "cuda_api.h"

namespace tc {

struct Library {
  void* handle = nullptr;
  std::string path;   // the candidate that opened
  std::string error;  // why none did, when handle is null
};

// Tries each candidate (a path or a bare soname for the loader to search) in order, resolving
// every symbol the addon needs; the first that opens and has them all wins.
Library openDriver(const std::vector<std::string>& candidates, Driver& out);
Library openNvrtc(const std::vector<std::string>& candidates, Nvrtc& out);

}  // namespace tc
