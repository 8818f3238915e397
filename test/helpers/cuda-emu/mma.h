// The CUDA header mma.h, as the CPU emulation in tc_emu.h provides it.
#include "tc_emu.h"
