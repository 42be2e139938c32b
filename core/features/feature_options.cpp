#include "features/feature_options.h"

#include "common/error.h"
#include "common/text.h"

#include <algorithm>
#include <cctype>

namespace attri {

std::string toString(FeatureTarget t)
{
    switch (t) {
    case FeatureTarget::Loss:
        return "loss";
    case FeatureTarget::Margin:
        return "margin";
    }
    return "unknown";
}

std::string toString(ProjectionKind p)
{
    switch (p) {
    case ProjectionKind::None:
        return "none";
    case ProjectionKind::Gaussian:
        return "gaussian";
    case ProjectionKind::Rademacher:
        return "rademacher";
    case ProjectionKind::Kronecker:
        return "kron";
    }
    return "unknown";
}

FeatureTarget parseFeatureTarget(const std::string& name)
{
    const std::string n = asciiLower(name);
    if (n == "loss")
        return FeatureTarget::Loss;
    if (n == "margin")
        return FeatureTarget::Margin;
    throw ConfigError("unknown feature target '" + name + "': expected one of loss, margin");
}

ProjectionKind parseProjectionKind(const std::string& name)
{
    const std::string n = asciiLower(name);
    if (n == "none")
        return ProjectionKind::None;
    if (n == "gaussian")
        return ProjectionKind::Gaussian;
    if (n == "rademacher")
        return ProjectionKind::Rademacher;
    if (n == "kron" || n == "kronecker")
        return ProjectionKind::Kronecker;
    throw ConfigError("unknown projection '" + name + "': expected one of none, gaussian, rademacher, kron");
}

void FeatureOptions::validate() const
{
    if (kMax < 1)
        throw ConfigError("feature option kMax = " + std::to_string(kMax) + ": expected k ≥ 1");
    if (batchSize < 1)
        throw ConfigError("feature option batchSize = " + std::to_string(batchSize)
                          + ": expected a batch size ≥ 1");
    if (layers.find_first_not_of(" \t,") == std::string::npos)
        throw ConfigError("feature option layers is empty: expected \"all\", \"last\" or "
                          "comma-separated layer names");
}

} // namespace attri
