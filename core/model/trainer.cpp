#include "model/trainer.h"

#include "common/error.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/internal/net.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <random>
#include <sstream>

namespace attri {

namespace {

constexpr int64_t kEvalBatch = 1000;

/// Sets a net's training mode for a scope and switches it off again on every exit path.
class TrainingScope {
public:
    explicit TrainingScope(Net& net) : m_net(net) { m_net.setTraining(true); }
    ~TrainingScope() { m_net.setTraining(false); }
    TrainingScope(const TrainingScope&) = delete;
    TrainingScope& operator=(const TrainingScope&) = delete;

private:
    Net& m_net;
};

void checkData(const Model& model, const ImageSet& set, const char* what)
{
    if (static_cast<int64_t>(set.images.size()) != set.count * set.imageSize()
        || static_cast<int64_t>(set.labels.size()) != set.count)
        throw ConfigError(std::string("the ") + what + " set is inconsistent: " + std::to_string(set.count)
                          + " images but " + std::to_string(set.images.size()) + " values and "
                          + std::to_string(set.labels.size()) + " labels");
    const InputShape input = model.inputShape();
    const InputShape given{set.channels, set.height, set.width};
    if (input.size() > 0 && !(input == given))
        throw ConfigError(std::string("the ") + what + " set has images of " + std::to_string(given.channels)
                          + "×" + std::to_string(given.height) + "×" + std::to_string(given.width)
                          + ", the model expects " + std::to_string(input.channels) + "×"
                          + std::to_string(input.height) + "×" + std::to_string(input.width));
    if (model.numClasses() > 0) {
        for (int64_t i = 0; i < set.count; ++i) {
            if (set.labels[i] < 0 || set.labels[i] >= model.numClasses())
                throw ConfigError(std::string("the ") + what + " set has label "
                                  + std::to_string(set.labels[i]) + " at index " + std::to_string(i)
                                  + ", the model has " + std::to_string(model.numClasses()) + " classes");
        }
    }
}

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const TrainRecipe& recipe,
                                                       const std::vector<torch::Tensor>& params)
{
    if (recipe.optimizer == "adam")
        return std::make_unique<torch::optim::Adam>(
            params, torch::optim::AdamOptions(recipe.lr).weight_decay(recipe.weightDecay));
    if (recipe.optimizer == "adamw")
        return std::make_unique<torch::optim::AdamW>(
            params, torch::optim::AdamWOptions(recipe.lr).weight_decay(recipe.weightDecay));
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(recipe.lr)
                                                           .momentum(recipe.momentum)
                                                           .nesterov(recipe.optimizer == "nesterov")
                                                           .weight_decay(recipe.weightDecay));
}

/// Calls fn(logits, labels) for consecutive evaluation batches, in eval mode without grad.
template <typename Fn> void forEachEvalBatch(const Model& model, const ImageSet& set, Fn fn)
{
    checkData(model, set, "evaluation");
    Net& net = model.net();
    net.setTraining(false);
    torch::NoGradGuard noGrad;
    const torch::Device device = deviceOf(net);
    for (int64_t begin = 0; begin < set.count; begin += kEvalBatch) {
        const int64_t end = std::min(set.count, begin + kEvalBatch);
        const torch::Tensor logits = net.forward(imagesTensor(set, begin, end).to(device)).to(torch::kCPU);
        fn(logits, labelsTensor(set, begin, end));
    }
}

/// Full-batch evaluations run in chunks of this many samples (their gradients summed), so memory
/// does not grow with the training set.
constexpr int64_t kFullBatchChunk = 5000;

/// Full-batch L-BFGS on L + wd/2·‖θ‖² (trainModel's contract for lbfgs). `net` is in training
/// mode on `device`; fills result's checkpoints, loss curve and convergence fields.
void trainConverged(TrainResult& result, Net& net, const std::vector<torch::Tensor>& params,
                    const torch::Device device, const TrainRecipe& recipe, const ImageSet& train,
                    ProgressSink& progress, const CancelToken& cancel)
{
    const int64_t cap = recipe.epochs;
    if (recipe.checkpoints > cap)
        throw ConfigError("training recipe: 'checkpoints' must be at most the run's " + std::to_string(cap)
                          + " L-BFGS iterations (epochs), got " + std::to_string(recipe.checkpoints));
    torch::optim::LBFGS optimizer(params, torch::optim::LBFGSOptions(recipe.lr)
                                              .max_iter(1)
                                              .tolerance_grad(recipe.tolerance)
                                              .line_search_fn("strong_wolfe"));
    const torch::Tensor images = imagesTensor(train, 0, train.count).to(device);
    const torch::Tensor labels = labelsTensor(train, 0, train.count).to(device);
    const double n = static_cast<double>(train.count);
    const double wd = recipe.weightDecay;
    int64_t iteration = 0;
    // What the first evaluation of each optimizer call saw: the objective at the current iterate
    // (LBFGS evaluates it before it moves, and stops there when max |g| <= tolerance).
    bool first = true;
    double objective = 0.0, dataLoss = 0.0, gradMax = 0.0;
    auto closure = [&]() -> torch::Tensor {
        torch::AutoGradMode enableGrad(true);
        optimizer.zero_grad();
        torch::Tensor total = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble));
        for (int64_t begin = 0; begin < train.count; begin += kFullBatchChunk) {
            const int64_t end = std::min(train.count, begin + kFullBatchChunk);
            const torch::Tensor x = images.slice(0, begin, end);
            const torch::Tensor y = labels.slice(0, begin, end);
            // The mean over the whole set: each chunk's sum over n.
            torch::Tensor loss = torch::nn::functional::cross_entropy(
                                     net.forward(x), y,
                                     torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                                 / n;
            loss.backward();
            total += loss.detach().to(torch::kCPU, torch::kDouble);
        }
        double value = total.item<double>();
        const double data = value;
        if (wd > 0.0) {
            torch::Tensor sq = torch::zeros({}, params.front().options());
            for (const torch::Tensor& p : params)
                sq = sq + p.pow(2).sum();
            torch::Tensor penalty = 0.5 * wd * sq;
            penalty.backward();
            value += penalty.item<double>();
        }
        if (!std::isfinite(value)) {
            std::ostringstream msg;
            msg << "training diverged at L-BFGS iteration " << iteration + 1 << " (objective = " << value
                << "); lower --lr";
            throw Error(msg.str());
        }
        if (first) {
            double g = 0.0;
            for (const torch::Tensor& p : params)
                if (p.grad().defined())
                    g = std::max(g, p.grad().abs().max().item<double>());
            objective = value;
            dataLoss = data;
            gradMax = g;
            first = false;
        }
        return torch::tensor(value, params.front().options());
    };

    std::vector<int64_t> checkpointIterations;
    for (int64_t c = 1; c <= recipe.checkpoints; ++c)
        checkpointIterations.push_back(c * cap / recipe.checkpoints);
    auto keepCheckpoint = [&] {
        Checkpoint checkpoint;
        checkpoint.epoch = iteration;
        checkpoint.step = iteration;
        checkpoint.lr = recipe.lr;
        checkpoint.params = result.model.parameters();
        checkpoint.buffers = result.model.buffers();
        result.checkpoints.push_back(std::move(checkpoint));
    };
    const int64_t reportEvery = std::max<int64_t>(1, cap / 20);
    progress.begin("train (L-BFGS)", cap);
    double previousObjective = std::numeric_limits<double>::quiet_NaN();
    double previousGradMax = std::numeric_limits<double>::quiet_NaN();
    bool stalled = false;
    size_t nextCheckpoint = 0;
    for (;;) {
        cancel.throwIfCancelled();
        first = true;
        if (iteration == cap) {
            closure(); // the gradient at the last iterate, which no call evaluated yet
        } else {
            optimizer.step(closure);
        }
        if (iteration > 0) {
            result.epochLoss.push_back(dataLoss);
            progress.metric({"train_loss", iteration, cap, dataLoss});
        }
        // An iterate where L-BFGS found no descent direction (or no step) does not move: the same
        // objective and gradient again.
        stalled = iteration > 0 && objective == previousObjective && gradMax == previousGradMax;
        const bool done = gradMax <= recipe.tolerance || iteration == cap || stalled;
        if (iteration > 0 && (done || iteration % reportEvery == 0)) {
            std::ostringstream msg;
            msg << "L-BFGS iteration " << iteration << "/" << cap << ": loss " << std::setprecision(6) << dataLoss
                << ", objective " << objective << ", max |g| " << std::setprecision(3) << gradMax << " (tolerance "
                << recipe.tolerance << ")";
            progress.message(msg.str());
        }
        if (done)
            break;
        previousObjective = objective;
        previousGradMax = gradMax;
        ++iteration;
        progress.advance(iteration);
        if (nextCheckpoint < checkpointIterations.size() && checkpointIterations[nextCheckpoint] == iteration) {
            keepCheckpoint();
            ++nextCheckpoint;
        }
    }
    // A stalled iteration did not move: the run ended one iteration earlier.
    if (stalled) {
        --iteration;
        result.epochLoss.pop_back();
        if (!result.checkpoints.empty() && result.checkpoints.back().step > iteration)
            result.checkpoints.pop_back();
    }
    if (result.checkpoints.empty() || result.checkpoints.back().step != iteration)
        keepCheckpoint();
    result.gradientMaxAbs = gradMax;
    result.iterations = iteration;
    result.converged = gradMax <= recipe.tolerance;
    progress.advance(cap);
    std::ostringstream msg;
    if (result.converged)
        msg << "L-BFGS converged after " << iteration << " iteration" << (iteration == 1 ? "" : "s")
            << ": max |g| " << std::setprecision(3) << gradMax << " <= tolerance " << recipe.tolerance;
    else
        msg << "L-BFGS did NOT converge: max |g| " << std::setprecision(3) << gradMax << " > tolerance "
            << recipe.tolerance << " after " << iteration << " iteration" << (iteration == 1 ? "" : "s")
            << (stalled ? " (it stopped finding a step that lowers the objective: the tolerance may be below "
                          "single precision's reach)"
                        : " (the cap, --epochs)")
            << "; the model is the last iterate, not a minimiser";
    progress.message(msg.str());
}

} // namespace

torch::Tensor augmentBatch(const torch::Tensor& x, const Augmentation& aug, const ImageSet& set, std::mt19937_64& rng)
{
    const torch::Tensor in = x.to(torch::kCPU).contiguous();
    torch::Tensor out = torch::empty_like(in);
    const int64_t n = in.size(0), channels = in.size(1), height = in.size(2), width = in.size(3);
    const int64_t pad = aug.cropPadding;
    const float* src = in.data_ptr<float>();
    float* dst = out.data_ptr<float>();
    for (int64_t b = 0; b < n; ++b) {
        const bool flip = aug.hflip && (rng() >> 63) != 0;
        const int64_t top = pad > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * pad + 1)) : pad;
        const int64_t left = pad > 0 ? static_cast<int64_t>(rng() % static_cast<uint64_t>(2 * pad + 1)) : pad;
        for (int64_t c = 0; c < channels; ++c) {
            const float black = set.black(c);
            const float* plane = src + (b * channels + c) * height * width;
            float* target = dst + (b * channels + c) * height * width;
            for (int64_t r = 0; r < height; ++r) {
                const int64_t row = r + top - pad;
                for (int64_t q = 0; q < width; ++q) {
                    const int64_t col = (flip ? width - 1 - q : q) + left - pad;
                    target[r * width + q] = row >= 0 && row < height && col >= 0 && col < width
                                                ? plane[row * width + col]
                                                : black;
                }
            }
        }
    }
    return out.to(x.device());
}

TrainResult trainModel(const Model& init, const TrainRecipe& recipe, const ImageSet& train,
                       ProgressSink& progress, const CancelToken& cancel, const TrainObserver* observer)
{
    recipe.validate();
    checkData(init, train, "training");
    if (train.count < 1)
        throw ConfigError("the training set is empty");
    const auto start = std::chrono::steady_clock::now();

    TrainResult result{init.clone(), {}, {}, std::numeric_limits<double>::quiet_NaN(), 0, true, 0.0, {}, 0};
    Net& net = result.model.net();
    // Trained on the selected device (the clone moves; `init` stays where it is), returned on
    // the CPU like every other model.
    const torch::Device device = computeDevice();
    if (!device.is_cpu())
        net.to(device);
    result.device = device.str();
    // Back on the CPU like every other model, with the run's time and threads.
    const auto finish = [&]() {
        if (!device.is_cpu())
            net.to(torch::kCPU);
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        result.threads = static_cast<int>(torch::get_num_threads());
    };
    std::vector<torch::Tensor> params;
    for (const auto& item : net.namedParameters())
        params.push_back(item.second);
    if (recipe.converged()) {
        {
            TrainingScope training(net);
            trainConverged(result, net, params, device, recipe, train, progress, cancel);
        }
        finish();
        return result;
    }
    auto optimizer = makeOptimizer(recipe, params);


    const torch::Tensor images = imagesTensor(train, 0, train.count).to(device);
    const torch::Tensor labels = labelsTensor(train, 0, train.count).to(device);
    // Shuffling uses its own generator (not Torch's global one), so it depends on the seed only.
    std::mt19937_64 rng(recipe.seed);
    std::vector<int64_t> order(static_cast<size_t>(train.count));
    std::iota(order.begin(), order.end(), 0);
    // Augmentation draws from a generator of its own, so the batches are those of the same recipe
    // without augmentation.
    const Augmentation augmentation = Augmentation::parse(recipe.augment);
    if (augmentation.cropPadding >= std::min(train.height, train.width))
        throw ConfigError("training recipe: 'augment' crop:" + std::to_string(augmentation.cropPadding)
                          + " needs fewer pixels of padding than the images' " + std::to_string(train.height)
                          + "×" + std::to_string(train.width));
    std::mt19937_64 augmentRng(recipe.seed ^ 0x9e3779b97f4a7c15ULL);
    // Observation marks: the midpoints of `marks` equal stretches of the run's steps.
    const int64_t stepsPerEpoch = (train.count + recipe.batchSize - 1) / recipe.batchSize;
    const int64_t totalSteps = stepsPerEpoch * recipe.epochs;
    // Checkpoint c (1-based) after epoch ⌊c·E/C⌋ when C ≤ E, else after step ⌊c·S/C⌋: evenly
    // spaced, distinct, the last at the end of the run.
    if (recipe.checkpoints > totalSteps)
        throw ConfigError("training recipe: 'checkpoints' must be at most the run's " + std::to_string(totalSteps)
                          + " optimizer steps, got " + std::to_string(recipe.checkpoints));
    std::vector<int64_t> checkpointSteps;
    for (int64_t c = 1; c <= recipe.checkpoints; ++c)
        checkpointSteps.push_back(recipe.checkpoints <= recipe.epochs
                                      ? c * recipe.epochs / recipe.checkpoints * stepsPerEpoch
                                      : c * totalSteps / recipe.checkpoints);
    std::vector<int64_t> marks;
    if (observer && observer->atMark)
        for (int j = 1; j <= observer->marks; ++j)
            marks.push_back(std::max<int64_t>(
                1, std::llround((static_cast<double>(j) - 0.5) * static_cast<double>(totalSteps) / observer->marks)));
    size_t nextMark = 0;
    int64_t step = 0;
    const std::vector<double> multipliers =
        recipe.constantRate() ? std::vector<double>{} : recipe.lrMultipliers(stepsPerEpoch, totalSteps);

    progress.begin("train", recipe.epochs);
    {
        TrainingScope training(net);
        size_t nextCheckpoint = 0;
        for (int64_t epoch = 1; epoch <= recipe.epochs; ++epoch) {
            // Fisher–Yates with plain modulo: portable across standard libraries (the bias of a
            // 64-bit draw modulo the set size is negligible).
            for (size_t i = order.size() - 1; i > 0; --i)
                std::swap(order[i], order[static_cast<size_t>(rng() % (i + 1))]);
            double lossSum = 0.0;
            int64_t batch = 0;
            for (int64_t begin = 0; begin < train.count; begin += recipe.batchSize) {
                cancel.throwIfCancelled();
                ++batch;
                const int64_t size = std::min(recipe.batchSize, train.count - begin);
                const torch::Tensor index =
                    torch::from_blob(order.data() + begin, {size}, torch::kLong).clone().to(device);
                torch::Tensor x = images.index_select(0, index);
                if (augmentation.any())
                    x = augmentBatch(x, augmentation, train, augmentRng);
                const torch::Tensor y = labels.index_select(0, index);
                optimizer->zero_grad();
                const torch::Tensor loss = torch::nn::functional::cross_entropy(net.forward(x), y);
                const double value = loss.item<double>();
                if (!std::isfinite(value)) {
                    std::ostringstream msg;
                    msg << "training diverged at epoch " << epoch << " batch " << batch
                        << " (loss = " << value << "); lower --lr";
                    throw Error(msg.str());
                }
                loss.backward();
                const double lr = recipe.lr * (multipliers.empty() ? 1.0 : multipliers[static_cast<size_t>(step)]);
                if (!recipe.constantRate())
                    for (auto& group : optimizer->param_groups())
                        group.options().set_lr(lr);
                optimizer->step();
                ++step;
                if (nextCheckpoint < checkpointSteps.size() && checkpointSteps[nextCheckpoint] == step) {
                    Checkpoint checkpoint;
                    checkpoint.epoch = step / stepsPerEpoch;
                    checkpoint.step = step;
                    checkpoint.lr = lr; // the rate of the step that ended there
                    checkpoint.params = result.model.parameters();
                    checkpoint.buffers = result.model.buffers();
                    result.checkpoints.push_back(std::move(checkpoint));
                    ++nextCheckpoint;
                }
                while (nextMark < marks.size() && marks[nextMark] <= step) {
                    net.setTraining(false);
                    observer->atMark(result.model, step, totalSteps);
                    net.setTraining(true);
                    ++nextMark;
                }
                lossSum += value * static_cast<double>(size);
            }
            const double epochLoss = lossSum / static_cast<double>(train.count);
            result.epochLoss.push_back(epochLoss);
            progress.advance(epoch);
            std::ostringstream msg;
            msg << "epoch " << epoch << "/" << recipe.epochs << ": loss " << std::setprecision(4)
                << epochLoss;
            progress.message(msg.str());
            progress.metric({"train_loss", epoch, recipe.epochs, epochLoss});
        }
    }
    finish();
    return result;
}

EvalMetrics evaluateModel(const Model& model, const ImageSet& set)
{
    double lossSum = 0.0;
    int64_t correct = 0;
    forEachEvalBatch(model, set, [&](const torch::Tensor& logits, const torch::Tensor& labels) {
        lossSum +=
            torch::nn::functional::cross_entropy(
                logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
        correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    });
    EvalMetrics metrics;
    if (set.count > 0) {
        metrics.accuracy = static_cast<double>(correct) / static_cast<double>(set.count);
        metrics.meanLoss = lossSum / static_cast<double>(set.count);
    }
    return metrics;
}

std::vector<double> perSampleLoss(const Model& model, const ImageSet& set)
{
    std::vector<double> out;
    out.reserve(static_cast<size_t>(set.count));
    forEachEvalBatch(model, set, [&](const torch::Tensor& logits, const torch::Tensor& labels) {
        const torch::Tensor losses =
            torch::nn::functional::cross_entropy(
                logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
                .to(torch::kDouble)
                .contiguous();
        const double* data = losses.data_ptr<double>();
        out.insert(out.end(), data, data + losses.numel());
    });
    return out;
}

std::vector<int64_t> predictLabels(const Model& model, const ImageSet& set)
{
    std::vector<int64_t> out;
    out.reserve(static_cast<size_t>(set.count));
    forEachEvalBatch(model, set, [&](const torch::Tensor& logits, const torch::Tensor&) {
        const torch::Tensor predicted = logits.argmax(1).contiguous();
        const int64_t* data = predicted.data_ptr<int64_t>();
        out.insert(out.end(), data, data + predicted.numel());
    });
    return out;
}

} // namespace attri
