#pragma once
// The ground-truth task: the LDS ground truth computed (or resumed, or read back), then the LDS of
// every stored method at every stored k over its λ grid, stored as "lds" λ × k tables. The CLI's
// `lds` and the GUI's "Compute ground truth" call it.

#include "common/shard.h"
#include "eval/ground_truth.h"
#include "tuning/lambda_grid.h"
#include "tuning/sweep_tables.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;

/// What to compute. Subsets, α and seed left empty are those of the ground truth the file holds
/// (so a file is read back whatever M it was computed with), else LdsOptions' defaults.
struct LdsTablesRequest {
    std::optional<int64_t> subsets; ///< M
    std::optional<double> alpha;    ///< subset fraction
    std::optional<uint64_t> seed;   ///< subset j uses seed + j
    int workers = 2;                ///< models trained in parallel
    bool replace = false;           ///< replace stored ground truth computed with other options
    /// Relative λ grid of the tables.
    LambdaGrid grid = LambdaGrid::defaultRelative();
    /// Train only this shard's subsets into its side file and stop (no tables, the file untouched).
    Shard shard;
    /// Import this file's ground truth (importGroundTruth: models retrained outside AttriScope)
    /// instead of retraining; subsets, α, seed and shard must then be left empty.
    std::string importFrom;
};

/// One method's LDS at one k: its best λ over the grid (or its one value for a method without λ).
struct LdsBest {
    std::string method;
    int64_t k = 0;
    Eigen::Index row = -1; ///< the best grid row; -1 when no LDS is finite
    bool hasLambda = false;
    double lds = 0.0;
    double lambda = 0.0;         ///< absolute
    double relativeLambda = 0.0;
};

struct LdsTablesResult {
    LdsOptions options;               ///< the options used (stored ones filled in)
    std::optional<GroundTruth> truth; ///< empty for a shard run
    int64_t shardSubsetsTrained = 0;  ///< shard runs: subset models trained
    std::string shardFile;            ///< shard runs: where they went
    std::vector<SweepTable> tables;   ///< one "lds" table per stored method, in file order
};

/// Computes (or resumes) the ground truth, then the "lds" table of every stored method (methods
/// without λ repeat their one value down each column), all stored in the file atomically.
LdsTablesResult computeLdsTables(const std::string& path, const LdsTablesRequest& request, ProgressSink& progress,
                                 const CancelToken& cancel);

/// The best λ of column `column` of an "lds" table.
LdsBest bestOfColumn(const SweepTable& table, Eigen::Index column);

} // namespace attri
