#pragma once
// Retraining: the models behind ground truth and the removal checks, trained in parallel from
// the experiment's own start and recipe.

#include "model/model.h"
#include "model/train_recipe.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace attri {

struct ImageSet;
class CancelToken;

/// A one-line description of a recipe, as stored with the ground truth.
std::string recipeSummary(const TrainRecipe& recipe);

/// The model every retraining starts from: a clone of `model` re-initialized with
/// recipe.seed (Model::reinitialize). For zoo architectures this is exactly the initialization
/// of the full model (Model::create(arch, input, classes, recipe.seed)), so subset models differ
/// from it only by their data; for imported TorchScript models it is the documented
/// Kaiming-uniform / zero-bias re-initialization (their original initialization is unknown).
/// The parameters of `model` itself are never used. Throws ConfigError when there is no recipe:
/// retraining would otherwise have to guess one, or silently reuse another model.
Model retrainingStart(const Model& model, const std::optional<TrainRecipe>& recipe);

/// Execution settings for a batch of retrainings.
struct RetrainPool {
    int workers = 2;          ///< models trained in parallel (std::threads)
    int threadsPerWorker = 1; ///< LibTorch intra-op threads per worker during the run
};

/// Trains one model per keep-list (indices into `train`), each from a clone of `start` with
/// `recipe`, and calls onFinished(job, per-test-point losses) for each, serialized under a lock,
/// in completion order. Sets torch::set_num_threads(threadsPerWorker) for the duration of the
/// call (in every worker) and restores the caller's count afterwards. A job throwing stops the
/// others and the first exception is rethrown after all workers joined; `cancel` is polled
/// every training batch (Cancelled is thrown after the workers joined). Results are
/// independent of the worker count: each job's model, data order and shuffling are its own.
/// Returns how many of the models stopped short of the recipe's tolerance (lbfgs runs that did
/// not converge within their cap; always 0 for the other optimizers): their test losses are
/// those of the last iterate, and the caller says so.
int64_t retrainEach(const Model& start, const TrainRecipe& recipe, const ImageSet& train, const ImageSet& test,
                    const std::vector<std::vector<int64_t>>& keepLists, const RetrainPool& pool,
                    const std::function<void(size_t job, std::vector<double>&& testLoss)>& onFinished,
                    const CancelToken& cancel);

/// What retrainEach would take to train `models` models of `recipe` on `subsetSize` points each
/// with `pool`, timed now instead of retrained: optimizer steps of `model`'s architecture on a
/// random batch of its input shape, with pool.threadsPerWorker threads, as a worker runs them;
/// after a warm-up, a run of 2 + S steps less one of 2 (S between 4 and 256, about 25 ms of
/// steps), each the least of three timings, which leaves a run's fixed cost out. Per-step time ×
/// the steps of one model (epochs × ⌈subsetSize / batch⌉) × models ÷ workers (the workers are taken to run in
/// parallel at full speed; docs/benchmarks.md measures how near they come). Since it is timed in the
/// same conditions as the work it is compared with, a busy machine slows both alike. ConfigError
/// for a bad recipe, pool, subset size or model count; Error when, after three more rounds, the
/// longer run was still not the slower (a machine too busy to time them).
double probeRetrainSeconds(const Model& model, const TrainRecipe& recipe, int64_t subsetSize, int64_t models,
                           const RetrainPool& pool, const CancelToken& cancel);

} // namespace attri
