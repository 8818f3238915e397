// The CUDA header cuda_runtime_api.h, as the CPU emulation in tc_emu.h provides it.
#include "tc_emu.h"
