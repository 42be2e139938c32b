#pragma once

#include "common/row_matrix.h"
#include "model/train_recipe.h"

#include <Eigen/Core>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace attri {

class H5File;
class Model;
struct ImageSet;
class ProgressSink;
class CancelToken;

/// Leave-one-out check: retrain without each listed training point (small settings only: one
/// model per point, plus one on the full set from the same start).
struct LooOptions {
    /// Training points to leave out, one retraining each; distinct, in [0, n).
    std::vector<int64_t> removed;
    /// Models trained in parallel.
    int workers = 2;
    /// LibTorch intra-op threads per worker during the run.
    int threadsPerWorker = 1;
    /// Retrainings per model, repeat r with the recipe's seed + r (initialization and shuffling);
    /// losses are averaged over them, which damps the retraining noise of networks. 1 to 1000.
    int repeats = 1;

    /// Throws ConfigError naming the field (empty or out-of-range/duplicate `removed`, workers < 1 ...).
    void validate(int64_t trainCount) const;
};

/// What leaving points out did, against what the scores predicted. Removing a proponent
/// (τ > 0) should raise the test loss, so a good attribution correlates positively.
struct LooResult {
    std::vector<int64_t> removed;        ///< the points left out, as given
    std::vector<double> baselineLoss;    ///< m test losses of the model retrained on all points
    Eigen::MatrixXd lossChange;          ///< |removed|×m: loss without point r − baseline loss
    std::vector<double> perTestPearson;  ///< m: Pearson over the removed points (NaN if undefined)
    std::vector<double> perTestSpearman; ///< m: Spearman (average ranks) over the removed points
    double meanPearson = 0.0;            ///< mean of the defined perTestPearson (NaN if none)
    double meanSpearman = 0.0;           ///< mean of the defined perTestSpearman (NaN if none)
    double pooledPearson = 0.0;          ///< Pearson over all (removed point, test point) pairs
};

/// Retrains (recipe as for ground truth, from retrainingStart(model, recipe)) without each
/// point of options.removed and correlates the test-loss change with scores(t, removed point).
/// `scores` is m×n. Progress stage "leave-one-out", one step per model ((|removed| + 1) · repeats).
LooResult leaveOneOutCheck(const Model& model, const std::optional<TrainRecipe>& recipe,
                           const ImageSet& train, const ImageSet& test, const RowMatrixF& scores,
                           const LooOptions& options, ProgressSink& progress, const CancelToken& cancel);

/// Top-k removal check: for each chosen test point, retrain without its k strongest proponents
/// (largest scores) and, separately, without k random points.
struct TopKRemovalOptions {
    /// Points removed per test point; 1 ≤ k < n.
    int64_t k = 10;
    /// Test points to check (two retrainings each); non-empty, in [0, m).
    std::vector<int64_t> tests;
    /// The random removal for test t draws k distinct points with std::mt19937_64(seed + t).
    uint64_t seed = 0;
    /// Models trained in parallel.
    int workers = 2;
    /// LibTorch intra-op threads per worker during the run.
    int threadsPerWorker = 1;
    /// Retrainings per model (seed + r), averaged, as LooOptions::repeats.
    int repeats = 1;

    /// Throws ConfigError naming the field and the valid range.
    void validate(int64_t trainCount, int64_t testCount) const;
};

/// Loss increases at each chosen test point after removing its top-k proponents vs k random points.
struct TopKRemovalResult {
    std::vector<int64_t> tests;               ///< the checked test points
    std::vector<std::vector<int64_t>> topK;   ///< per test: the removed proponents, strongest first
    std::vector<std::vector<int64_t>> random; ///< per test: the random removal (sorted)
    std::vector<double> baselineLoss;         ///< per test: loss of the model on all points (mean over repeats)
    std::vector<double> topKIncrease;         ///< per test: loss without topK − baseline
    std::vector<double> randomIncrease;       ///< per test: loss without random − baseline
    double meanTopKIncrease = 0.0;            ///< mean of topKIncrease
    double meanRandomIncrease = 0.0;          ///< mean of randomIncrease
    /// Standard error over the test points of (topKIncrease − randomIncrease), the paired
    /// difference whose mean is meanTopKIncrease − meanRandomIncrease (NaN for one test point).
    double excessStderr = 0.0;
    /// Test points where removing the top-k raised the loss more than the random removal.
    int64_t testsAboveRandom = 0;
};

/// Runs the top-k removal check with the ground-truth recipe and start. `scores` is m×n; ties
/// among scores go to the lower training index. Progress stage "top-k removal", one step per
/// model ((2·|tests| + 1) · repeats).
TopKRemovalResult topKRemovalCheck(const Model& model, const std::optional<TrainRecipe>& recipe,
                                   const ImageSet& train, const ImageSet& test, const RowMatrixF& scores,
                                   const TopKRemovalOptions& options, ProgressSink& progress,
                                   const CancelToken& cancel);

/// The attribution a removal check tested, stored beside its result.
struct CheckedSetting {
    std::string method;  ///< stored method name, e.g. "if-projected", "unrolled"
    int64_t k = 0;       ///< projection dimension
    double lambda = std::numeric_limits<double>::quiet_NaN(); ///< absolute λ; NaN for λ-free methods
    std::string recipe;  ///< recipeSummary() of the retraining recipe
    int repeats = 1;     ///< retrainings per model (seeds recipe seed + r), averaged
    double seconds = 0.0; ///< wall time of the check's retraining
};

/// Stores a top-k removal result as the group /checks/topk_removal/<method>-k<K>, replacing one
/// stored there before, and returns the group's path (layout: docs/hdf5-layout.md).
std::string writeTopKRemoval(H5File& file, const CheckedSetting& setting, const TopKRemovalOptions& options,
                             const TopKRemovalResult& result);

/// Stores a leave-one-out result as /checks/leave_one_out/<method>-k<K> (replacing); returns its path.
std::string writeLeaveOneOut(H5File& file, const CheckedSetting& setting, const LooResult& result);

} // namespace attri
