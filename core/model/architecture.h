#pragma once

#include <cstdint>
#include <string>

namespace attri {

/// The model zoo, plus imported TorchScript modules.
enum class Architecture { LogisticRegression, Mlp, Cnn, ResNet9, TorchScript };

/// "lr", "mlp", "cnn", "resnet9", "torchscript".
std::string toString(Architecture arch);
/// Inverse of toString; throws ConfigError listing the valid names.
Architecture parseArchitecture(const std::string& name);

/// Shape of one input image.
struct InputShape {
    int64_t channels = 1; ///< C
    int64_t height = 28;  ///< H
    int64_t width = 28;   ///< W
    int64_t size() const { return channels * height * width; }
    bool operator==(const InputShape& o) const
    {
        return channels == o.channels && height == o.height && width == o.width;
    }
};

} // namespace attri
