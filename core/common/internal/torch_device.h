#pragma once
// Internal to attri_core (Torch-facing): the device the costly stages run on. Public headers never
// include this.

#include <torch/types.h>

namespace attri {

/// The device selected for the costly stages (selectDevice in common/runtime.h).
torch::Device computeDevice();

} // namespace attri
