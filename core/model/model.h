#pragma once

#include "model/architecture.h"
#include "model/param_set.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

struct ImageSet;
class Net;

/// A classifier: a zoo architecture or an imported TorchScript module. Cheap to copy
/// (copies share the network); use clone() for an independent copy.
class Model {
public:
    /// A freshly initialized zoo model; initialization is fully determined by seed.
    static Model create(Architecture arch, InputShape input, int numClasses, uint64_t seed);
    /// Loads a TorchScript module saved with torch.jit.save. Throws FormatError naming the
    /// file when it is not a TorchScript archive.
    static Model importTorchScript(const std::string& path);

    Architecture architecture() const;
    InputShape inputShape() const;
    int numClasses() const;
    /// For TorchScript models: the file it came from.
    const std::string& sourcePath() const;

    ParamSet parameters() const;
    ParamSet buffers() const;
    /// Replaces parameter values; throws FormatError when names or shapes differ.
    void setParameters(const ParamSet& params, const ParamSet& buffers = {});
    int64_t parameterCount() const;
    std::vector<LayerInfo> layers() const;

    /// Throws ConfigError when the model cannot take `input`-shaped images or produces a
    /// number of logits other than numClasses (checked by a forward pass on zeros).
    void checkCompatible(InputShape input, int numClasses) const;

    /// Re-initializes parameters deterministically from seed (zoo: the architecture's own
    /// initialization; TorchScript: Kaiming-uniform weights and zero biases, as documented),
    /// or restores the initial state when one is set (the seed is then not used).
    void reinitialize(uint64_t seed);

    /// The state a training run of this model starts from (e.g. the user's own initial weights
    /// of an imported run); reinitialize() restores it. Throws FormatError, naming the first
    /// parameter, when names or shapes differ from the model's. Clones keep it.
    void setInitialState(const ParamSet& params, const ParamSet& buffers = {});

    Model clone() const;

    /// Access for the core's Torch-using stages (features, training).
    Net& net() const;

    explicit Model(std::shared_ptr<Net> net);

private:
    std::shared_ptr<Net> m_net;
};

class Sha256;
/// Adds the model's named parameters and buffers (count, then names, shapes and values) to a
/// content hash.
void hashParametersAndBuffers(Sha256& hash, const Model& model);
/// Adds the architecture, the class count, then hashParametersAndBuffers.
void hashModelState(Sha256& hash, const Model& model);

} // namespace attri
