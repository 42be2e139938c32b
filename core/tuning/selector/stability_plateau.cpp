#include "tuning/private/selector_rules.h"

#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "eval/rank_stats.h"

#include <cmath>
#include <numeric>
#include <string>

namespace attri {

void recommendByStability(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                          ProgressSink& progress, const CancelToken& cancel)
{
    const SpectralCache& cache = *in.cache;
    const int64_t tests = std::min<int64_t>(std::min<int64_t>(o.maxTests, 50), cache.testCount());
    std::vector<int64_t> idx(static_cast<size_t>(tests));
    std::iota(idx.begin(), idx.end(), 0);
    progress.begin("stability", static_cast<int64_t>(rec.lambdas.size()));
    RowMatrixF previous = cache.scoreMatrix(idx, rec.lambdas[0]);
    rec.gridIndex = static_cast<int64_t>(rec.lambdas.size()) - 1;
    for (size_t g = 1; g < rec.lambdas.size(); ++g) {
        RowMatrixF current = cache.scoreMatrix(idx, rec.lambdas[g]);
        double sum = 0;
        int64_t used = 0;
        for (int64_t t = 0; t < tests; ++t) {
            double v = spearman(previous.row(t).data(), current.row(t).data(), current.cols());
            if (std::isfinite(v)) {
                sum += v;
                ++used;
            }
        }
        if (used && sum / static_cast<double>(used) >= o.stabilityThreshold) {
            rec.gridIndex = static_cast<int64_t>(g) - 1;
            break;
        }
        previous = std::move(current);
        cancel.throwIfCancelled();
        progress.advance(static_cast<int64_t>(g));
    }
    rec.lambda = rec.lambdas[static_cast<size_t>(rec.gridIndex)];
    rec.inputs = "neighbour Spearman >= " + std::to_string(o.stabilityThreshold) + " over " + std::to_string(tests)
                 + " test points";
}

} // namespace attri
