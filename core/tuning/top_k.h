#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <vector>

namespace attri {

/// One training point in a ranking.
struct RankedPoint {
    int64_t index = 0;  ///< training index
    float score = 0.0f; ///< its attribution score
};

/// The strongest proponents (largest scores, positive = up-weighting lowers the test loss) and
/// opponents (smallest scores) of one test point.
struct TopK {
    std::vector<RankedPoint> proponents; ///< largest first; ties: smaller index first
    std::vector<RankedPoint> opponents;  ///< smallest first; ties: smaller index first
};

/// The top `count` proponents and opponents of a score vector (count clamped to the length; the
/// two lists may overlap when count > length/2). Throws ConfigError for count < 0 or NaN scores.
TopK topK(const float* scores, int64_t length, int64_t count);
TopK topK(const Eigen::VectorXf& scores, int64_t count);
TopK topK(const std::vector<float>& scores, int64_t count);

} // namespace attri
