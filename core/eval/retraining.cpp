#include "eval/retraining.h"

#include "common/error.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/trainer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <limits>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace attri {

namespace {

/// Sets LibTorch's intra-op thread count for a scope. The count is process-global (an atomic
/// plus OpenMP's per-thread setting), so the caller's value is restored on every exit path.
class TorchThreadsScope {
public:
    explicit TorchThreadsScope(int threads) : m_previous(at::get_num_threads())
    {
        at::set_num_threads(threads);
    }
    ~TorchThreadsScope() { at::set_num_threads(m_previous); }
    TorchThreadsScope(const TorchThreadsScope&) = delete;
    TorchThreadsScope& operator=(const TorchThreadsScope&) = delete;

private:
    int m_previous;
};

} // namespace

std::string recipeSummary(const TrainRecipe& r)
{
    std::ostringstream s;
    s.precision(15);
    s << "optimizer=" << r.optimizer << " lr=" << r.lr << " momentum=" << r.momentum
      << " batch_size=" << r.batchSize << " epochs=" << r.epochs << " weight_decay=" << r.weightDecay
      << " seed=" << r.seed;
    if (!r.constantRate())
        s << " schedule=" << r.schedule << " warmup_epochs=" << r.warmupEpochs;
    if (r.augmented())
        s << " augment=" << r.augment;
    if (r.converged())
        s << " tolerance=" << r.tolerance;
    return s.str();
}

Model retrainingStart(const Model& model, const std::optional<TrainRecipe>& recipe)
{
    if (!recipe) {
        if (model.architecture() == Architecture::TorchScript)
            throw ConfigError("ground truth needs a training recipe for imported model " + model.sourcePath()
                              + ": re-import with --optimizer/--lr/--momentum/--epochs/--batch-size/"
                                "--weight-decay/--seed so that subset models are trained the way it was");
        throw ConfigError("ground truth needs a training recipe for the '" + toString(model.architecture())
                          + "' model: the experiment records none (retrain it with --optimizer/--lr/"
                            "--epochs/--batch-size ...)");
    }
    recipe->validate();
    Model start = model.clone();
    start.reinitialize(recipe->seed);
    return start;
}

int64_t retrainEach(const Model& start, const TrainRecipe& recipe, const ImageSet& train, const ImageSet& test,
                 const std::vector<std::vector<int64_t>>& keepLists, const RetrainPool& pool,
                 const std::function<void(size_t job, std::vector<double>&& testLoss)>& onFinished,
                 const CancelToken& cancel)
{
    if (pool.workers < 1 || pool.threadsPerWorker < 1)
        throw ConfigError("retraining: workers and threadsPerWorker must be >= 1, got "
                          + std::to_string(pool.workers) + " and " + std::to_string(pool.threadsPerWorker));
    recipe.validate();
    cancel.throwIfCancelled();
    if (keepLists.empty())
        return 0;
    for (const auto& keep : keepLists)
        for (int64_t i : keep)
            if (i < 0 || i >= train.count)
                throw ConfigError("retraining: training index " + std::to_string(i) + " is outside [0, "
                                  + std::to_string(train.count) + ")");

    const int workers =
        static_cast<int>(std::min<size_t>(static_cast<size_t>(pool.workers), keepLists.size()));
    TorchThreadsScope threads(pool.threadsPerWorker);
    // Only a retrained model's final state is used: no checkpoints (they do not change training,
    // and on a subset the run may have fewer steps than the full recipe's checkpoints).
    TrainRecipe subsetRecipe = recipe;
    subsetRecipe.checkpoints = 1;

    // Each worker trains from its own deep copy, made here on one thread: no two threads ever
    // touch the same network (trainModel clones its input again, which then only reads it).
    std::vector<Model> starts;
    for (int w = 0; w < workers; ++w)
        starts.push_back(start.clone());

    CancelToken stop; // fires on the caller's cancel or on the first failure
    std::mutex stateMutex;
    std::condition_variable stateChanged;
    std::mutex callbackMutex;
    size_t next = 0;
    int64_t notConverged = 0; // under callbackMutex
    int active = workers;
    std::exception_ptr firstError;

    auto work = [&](int w) {
        // OpenMP keeps the thread count per thread: set it in every worker too.
        at::set_num_threads(pool.threadsPerWorker);
        for (;;) {
            size_t job = 0;
            {
                std::lock_guard<std::mutex> lock(stateMutex);
                // The caller's token is checked here too: the watcher below forwards it to
                // `stop` only every few milliseconds.
                if (firstError || stop.isCancelled() || cancel.isCancelled() || next >= keepLists.size())
                    break;
                job = next++;
            }
            try {
                const ImageSet subset = train.select(keepLists[job]);
                NullProgress quiet;
                TrainResult trained = trainModel(starts[static_cast<size_t>(w)], subsetRecipe, subset, quiet, stop);
                std::vector<double> loss = perSampleLoss(trained.model, test);
                std::lock_guard<std::mutex> lock(callbackMutex);
                if (!trained.converged)
                    ++notConverged;
                onFinished(job, std::move(loss));
            } catch (...) {
                std::lock_guard<std::mutex> lock(stateMutex);
                if (!firstError)
                    firstError = std::current_exception();
                stop.cancel();
            }
        }
        std::lock_guard<std::mutex> lock(stateMutex);
        --active;
        stateChanged.notify_all();
    };

    std::vector<std::thread> threadsList;
    threadsList.reserve(static_cast<size_t>(workers));
    for (int w = 0; w < workers; ++w)
        threadsList.emplace_back(work, w);
    {
        std::unique_lock<std::mutex> lock(stateMutex);
        while (active > 0) {
            stateChanged.wait_for(lock, std::chrono::milliseconds(20));
            if (cancel.isCancelled())
                stop.cancel();
        }
    }
    for (auto& t : threadsList)
        t.join();
    if (firstError)
        std::rethrow_exception(firstError);
    if (next < keepLists.size()) // stopped by the caller between jobs
        throw Cancelled();
    return notConverged;
}

double probeRetrainSeconds(const Model& model, const TrainRecipe& recipe, int64_t subsetSize, int64_t models,
                           const RetrainPool& pool, const CancelToken& cancel)
{
    recipe.validate();
    if (pool.workers < 1 || pool.threadsPerWorker < 1)
        throw ConfigError("retraining estimate: workers and threadsPerWorker must be >= 1");
    if (subsetSize < 1 || models < 1)
        throw ConfigError("retraining estimate: the subset size and the model count must be >= 1, got "
                          + std::to_string(subsetSize) + " and " + std::to_string(models));
    TorchThreadsScope threads(pool.threadsPerWorker);
    const InputShape shape = model.inputShape();
    std::mt19937_64 rng(0x9e0be);
    std::normal_distribution<float> pixel;
    std::uniform_int_distribution<int64_t> label(0, std::max(1, model.numClasses()) - 1);
    // One batch of random images, repeated: the arithmetic of a step does not depend on the values.
    ImageSet batch;
    batch.channels = shape.channels;
    batch.height = shape.height;
    batch.width = shape.width;
    batch.count = recipe.batchSize;
    batch.images.resize(static_cast<size_t>(batch.count * batch.imageSize()));
    for (float& v : batch.images)
        v = pixel(rng);
    for (int64_t i = 0; i < batch.count; ++i)
        batch.labels.push_back(label(rng));
    auto batches = [&](int64_t count) {
        ImageSet set = batch;
        set.count = count * batch.count;
        set.images.reserve(static_cast<size_t>(set.count * set.imageSize()));
        set.labels.reserve(static_cast<size_t>(set.count));
        for (int64_t b = 1; b < count; ++b) {
            set.images.insert(set.images.end(), batch.images.begin(), batch.images.end());
            set.labels.insert(set.labels.end(), batch.labels.begin(), batch.labels.end());
        }
        return set;
    };
    TrainRecipe probe = recipe;
    probe.epochs = 1;
    probe.checkpoints = 1;
    NullProgress quiet;
    auto timeSteps = [&](int64_t steps) {
        const ImageSet set = batches(steps);
        const auto start = std::chrono::steady_clock::now();
        trainModel(model, probe, set, quiet, cancel);
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    // A run's fixed cost (copying the model, the optimizer) is left out by timing two runs that
    // differ only in their step count, enough steps that the longer takes about 25 ms (4 to 256).
    // Each is the least of three timings: a run is only ever slowed down (another process, a cold
    // cache, the clock ramping up), so the least is the steadiest figure (attri_bench
    // retrain-estimate: 0.78-1.38x the measured retraining over six runs, about the spread of
    // one timing each, since the retraining varies as much; docs/lambda-selection.md).
    const double warm = timeSteps(2) / 2.0; // also warms up: allocations, first touch
    const int64_t steps = std::clamp<int64_t>(static_cast<int64_t>(0.025 / std::max(warm, 1e-6)), 4, 256);
    // On a machine busy enough that the longer run never came out slower, up to three more
    // rounds; then an error (the caller falls back to the recorded training time), never an
    // estimate of 0 s (a budget of 0).
    double few = std::numeric_limits<double>::infinity(), many = few;
    for (int repeat = 0; repeat < 3 || (!(many > few) && repeat < 6); ++repeat) {
        few = std::min(few, timeSteps(2));
        many = std::min(many, timeSteps(2 + steps));
    }
    if (!(many > few))
        throw Error("retraining estimate: " + std::to_string(2 + steps) + " optimizer steps never took longer than 2 ("
                    + std::to_string(many) + " s against " + std::to_string(few)
                    + " s, least of six timings each): the machine is too busy to time them");
    const double perStep = (many - few) / static_cast<double>(steps);
    const double stepsPerModel =
        static_cast<double>(recipe.epochs) * static_cast<double>((subsetSize + recipe.batchSize - 1) / recipe.batchSize);
    return perStep * stepsPerModel * static_cast<double>(models) / static_cast<double>(pool.workers);
}

} // namespace attri
