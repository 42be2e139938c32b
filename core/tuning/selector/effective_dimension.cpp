#include "tuning/private/selector_rules.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace attri {

namespace {

/// The λ at which the effective dimension Σ μ/(μ + λ) equals `target` (bisection in log λ).
double dfTargetLambda(const Eigen::VectorXd& mu, double target)
{
    auto df = [&](double lambda) { return (mu.array() / (mu.array() + lambda)).sum(); };
    double lo = 1e-30, hi = std::max(1e-30, mu.maxCoeff()) * 1e6;
    if (df(lo) <= target)
        return lo;
    for (int it = 0; it < 200; ++it) {
        double mid = std::sqrt(lo * hi);
        (df(mid) > target ? lo : hi) = mid;
    }
    return std::sqrt(lo * hi);
}

} // namespace

void recommendByEffectiveDimension(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec)
{
    const int64_t n = in.trainFeatures->rows(), k = in.trainFeatures->cols();
    const int64_t s = static_cast<int64_t>(std::floor(o.alpha * static_cast<double>(n)));
    const double target = 0.5 * static_cast<double>(std::min<int64_t>(s, k));
    rec.lambda = dfTargetLambda(in.cache->eigenvalues(), target);
    rec.inputs = "df(lambda) = " + std::to_string(target);
}

} // namespace attri
