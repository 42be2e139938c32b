#include "tuning/top_k.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace attri {

TopK topK(const float* scores, int64_t length, int64_t count)
{
    if (count < 0)
        throw ConfigError("top-k: the count must be ≥ 0, got " + std::to_string(count));
    for (int64_t i = 0; i < length; ++i)
        if (std::isnan(scores[i]))
            throw ConfigError("top-k: score " + std::to_string(i) + " is NaN");
    count = std::min(count, length);
    std::vector<int64_t> order(static_cast<size_t>(length));
    TopK result;

    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + count, order.end(), [&](int64_t a, int64_t b) {
        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    for (int64_t i = 0; i < count; ++i)
        result.proponents.push_back({order[i], scores[order[i]]});

    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + count, order.end(), [&](int64_t a, int64_t b) {
        return scores[a] < scores[b] || (scores[a] == scores[b] && a < b);
    });
    for (int64_t i = 0; i < count; ++i)
        result.opponents.push_back({order[i], scores[order[i]]});
    return result;
}

TopK topK(const Eigen::VectorXf& scores, int64_t count)
{
    return topK(scores.data(), scores.size(), count);
}

TopK topK(const std::vector<float>& scores, int64_t count)
{
    return topK(scores.data(), static_cast<int64_t>(scores.size()), count);
}

} // namespace attri
