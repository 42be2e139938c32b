#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attri {

/// One named parameter (or buffer) as plain values, Torch-free, for storage and exchange.
struct ParamTensor {
    std::string name;           ///< dotted name as Torch reports it, e.g. "fc1.weight"
    std::vector<int64_t> shape; ///< tensor shape
    std::vector<float> values;  ///< row-major values
};

/// All parameters of a model (buffers such as BatchNorm running stats included, flagged by name).
using ParamSet = std::vector<ParamTensor>;

/// A saved state of a training run (TracIn and TRAK use several).
struct Checkpoint {
    int64_t epoch = 0;       ///< whole epochs completed when saved
    int64_t step = 0;        ///< optimizer steps completed when saved (0: not recorded, older files)
    double lr = 0.0;         ///< learning rate in use during the epochs before it (TracIn's η_t)
    ParamSet params;         ///< parameters
    ParamSet buffers;        ///< buffers (BatchNorm running statistics), may be empty

    /// Epochs completed when saved, fractional inside an epoch: step / stepsPerEpoch (the run's
    /// optimizer steps per epoch), or `epoch` when the step is not recorded.
    double epochsAt(int64_t stepsPerEpoch) const
    {
        return step > 0 && stepsPerEpoch > 0 ? static_cast<double>(step) / static_cast<double>(stepsPerEpoch)
                                             : static_cast<double>(epoch);
    }
};

/// A layer as a user sees it: name, kind and parameter count.
struct LayerInfo {
    std::string name;            ///< e.g. "fc1", "conv2"
    std::string kind;            ///< "Linear", "Conv2d", "BatchNorm2d", or the TorchScript type name
    int64_t parameterCount = 0;  ///< parameters owned directly
    bool perSampleExact = false; ///< Linear/Conv2d: batched exact per-sample gradients available
};

} // namespace attri
