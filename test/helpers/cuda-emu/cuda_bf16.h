// The CUDA header cuda_bf16.h, as the CPU emulation in tc_emu.h provides it.
#include "tc_emu.h"
