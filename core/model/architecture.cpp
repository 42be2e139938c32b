#include "model/architecture.h"

#include "common/error.h"

namespace attri {

std::string toString(Architecture arch)
{
    switch (arch) {
    case Architecture::LogisticRegression:
        return "lr";
    case Architecture::Mlp:
        return "mlp";
    case Architecture::Cnn:
        return "cnn";
    case Architecture::ResNet9:
        return "resnet9";
    case Architecture::TorchScript:
        return "torchscript";
    }
    return "unknown";
}

Architecture parseArchitecture(const std::string& name)
{
    for (Architecture arch : {Architecture::LogisticRegression, Architecture::Mlp, Architecture::Cnn,
                              Architecture::ResNet9, Architecture::TorchScript}) {
        if (toString(arch) == name)
            return arch;
    }
    throw ConfigError("unknown architecture '" + name
                      + "': expected one of lr, mlp, cnn, resnet9, torchscript");
}

} // namespace attri
