#pragma once
// How robust one test point's top proponents are to λ and k: its top-N set at every stored k and
// every λ of a grid, compared with the set at one reference setting (the accepted λ, say). The
// CLI's `topk --across` and the GUI's Sensitivity page ("top-N overlap") call it.

#include "tuning/lambda_grid.h"
#include "tuning/top_k.h"

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

class AttributionSession;
class ProgressSink;
class CancelToken;

struct TopKOverlapRequest {
    int64_t test = 0;                                ///< test point (row of the stored test set)
    int64_t count = 10;                              ///< N, the size of the top sets (≥ 1)
    LambdaGrid grid = LambdaGrid::defaultRelative(); ///< rows; must be relative
    double referenceRelativeLambda = 0.1;            ///< the reference setting's λ / mean eigenvalue
    int64_t referenceK = 0;                          ///< the reference setting's k (a stored k)

    /// Throws ConfigError naming the field.
    void validate() const;
};

struct TopKOverlap {
    std::vector<double> relativeLambdas;  ///< rows (the grid)
    std::vector<int64_t> ks;              ///< columns, ascending
    double referenceRelativeLambda = 0.0; ///< as requested
    int64_t referenceK = 0;
    std::vector<RankedPoint> reference;   ///< the reference setting's top-N proponents
    /// |top-N(λ, k) ∩ reference| / N per cell (rows λ, columns k), in [0, 1].
    Eigen::MatrixXd overlap;
    /// For each reference proponent (same order), the number of cells whose top-N holds it.
    std::vector<int64_t> cellsKept;
    int64_t cells() const { return static_cast<int64_t>(overlap.size()); }
};

/// Scores the test point at every (λ, k) of `sessions` (one per k, any order, same method and
/// data) and compares the top-N proponent sets with the reference. Throws ConfigError for a bad
/// request, an empty or mixed set of sessions, a λ-free method, or a reference k without a
/// session; polls `cancel` per k.
TopKOverlap topKOverlap(const std::vector<std::shared_ptr<const AttributionSession>>& sessions,
                        const TopKOverlapRequest& request, const CancelToken& cancel);

/// The same for a method stored in an experiment file: opens its session at every stored k
/// (progress per k).
TopKOverlap topKOverlap(const std::string& experimentPath, const std::string& method,
                        const TopKOverlapRequest& request, ProgressSink& progress, const CancelToken& cancel);

} // namespace attri
