#pragma once
// Internal to attri_core: the Torch-facing side of a Model, for the stages that run it (features,
// attribution). Public headers never include this.

#include "common/internal/torch_device.h"
#include "model/architecture.h"
#include "model/param_set.h"
#include "model/train_recipe.h"

#include <torch/torch.h>

#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace attri {

/// A layer whose per-sample gradients can be formed exactly from its input and the gradient
/// w.r.t. its output (Linear, Conv2d).
struct TracedLayer {
    std::string name;     ///< e.g. "fc1"
    std::string kind;     ///< "Linear" or "Conv2d"
    torch::Tensor weight; ///< live parameter (out×in or out×in×kh×kw)
    torch::Tensor bias;   ///< live parameter or undefined
    // Conv2d geometry (ignored for Linear).
    std::vector<int64_t> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};
    int64_t groups = 1;
};

/// Records, during one forward pass, the input and the output of each traced layer, in the
/// order of tracedLayers(). Outputs are kept so their gradients can be read after backward
/// (the forward calls retain_grad() on them when `retainGrad` is set).
struct LayerTrace {
    std::vector<torch::Tensor> inputs;
    std::vector<torch::Tensor> outputs;
    bool retainGrad = true;
    /// Only layers with these indices are recorded (empty: all).
    std::vector<bool> enabled;

    bool wants(size_t index) const { return enabled.empty() || (index < enabled.size() && enabled[index]); }
    void record(size_t index, const torch::Tensor& input, torch::Tensor& output);
};

/// The network behind a Model.
class Net {
public:
    virtual ~Net() = default;

    /// Logits for a batch x (N×C×H×W). When trace is given, traced layers record into it.
    virtual torch::Tensor forward(const torch::Tensor& x, LayerTrace* trace = nullptr) = 0;
    /// Live parameters (requires_grad), in a stable order.
    virtual std::vector<std::pair<std::string, torch::Tensor>> namedParameters() = 0;
    /// Live buffers (BatchNorm running stats); may be empty.
    virtual std::vector<std::pair<std::string, torch::Tensor>> namedBuffers() = 0;
    /// Layers with exact batched per-sample gradients, in forward order (may be a subset of
    /// all layers; empty when none can be recognised).
    virtual std::vector<TracedLayer> tracedLayers() = 0;
    /// Every layer, for display.
    virtual std::vector<LayerInfo> layers() = 0;
    /// Training mode (BatchNorm batch statistics) on or off.
    virtual void setTraining(bool on) = 0;
    /// A deep copy with its own parameters.
    virtual std::shared_ptr<Net> clone() const = 0;
    /// Deterministic re-initialization.
    virtual void reinitialize(uint64_t seed) = 0;
    /// Moves parameters and buffers to `device` in place (live tensors keep their identity as
    /// module members; call tracedLayers()/namedParameters() again afterwards).
    virtual void to(const torch::Device& device) = 0;

    Architecture architecture = Architecture::LogisticRegression;
    InputShape input;
    int numClasses = 10;
    std::string sourcePath; ///< TorchScript file, if any
    /// The run's own initial state (an import with --init); Model::reinitialize restores it
    /// instead of drawing weights. Shared, immutable; clones share it.
    std::shared_ptr<const Checkpoint> initialState;
};

/// The device of a net's parameters (the CPU for a net without any).
torch::Device deviceOf(Net& net);

/// Converts between Torch tensors and the Torch-free value types.
ParamTensor toParamTensor(const std::string& name, const torch::Tensor& t);
torch::Tensor fromParamTensor(const ParamTensor& p);

/// An ImageSet's rows [begin, end) as a float tensor N×C×H×W (no copy of other rows).
struct ImageSet;
torch::Tensor imagesTensor(const ImageSet& set, int64_t begin, int64_t end);
/// The batch `x` (N×C×H×W, images of `set`) as a recipe's augmentation changes it, one draw per
/// image from `rng` (flip, then the crop's top and left offsets in [0, 2P] of the padded image;
/// padding takes the set's black level): crop, then flip. Computed on the CPU in a fixed order, so
/// it depends on the generator only; returned on x's device.
torch::Tensor augmentBatch(const torch::Tensor& x, const Augmentation& aug, const ImageSet& set,
                           std::mt19937_64& rng);
torch::Tensor labelsTensor(const ImageSet& set, int64_t begin, int64_t end);

/// Guards Torch's global default generator: zoo initialization seeds it and draws from it,
/// so models created in parallel threads stay deterministic only under this lock.
std::mutex& torchInitMutex();

/// The useful part of a Torch error: c10::Error without its C++ backtrace, reduced to the last
/// non-empty line (TorchScript prefixes its own traceback). Other exceptions: what().
std::string torchErrorMessage(const std::exception& e);

} // namespace attri
