#include "eval/ground_truth.h"

#include "eval/private/ground_truth_journal.h"

#include "common/error.h"
#include "common/text.h"
#include "common/hash.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/trainer.h"
#include "store/atomic_write.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

namespace attri {

namespace {

namespace fs = std::filesystem;

constexpr const char* kGroup = "/ground_truth";

/// Everything a subset model's test losses depend on, except the subset itself.
std::string inputHash(const Model& start, const TrainRecipe& recipe, const ImageSet& train,
                      const ImageSet& test)
{
    Sha256 h;
    h.updateString("attriscope ground truth inputs v1");
    h.updateString(toString(start.architecture()));
    h.updateInt(start.numClasses());
    h.updateString(recipe.optimizer);
    h.updateDouble(recipe.lr);
    h.updateDouble(recipe.momentum);
    h.updateInt(recipe.batchSize);
    h.updateInt(recipe.epochs);
    h.updateDouble(recipe.weightDecay);
    h.updateInt(static_cast<int64_t>(recipe.seed));
    // Only a varying rate adds to the hash, so ground truth of constant-rate runs keeps its hash.
    if (!recipe.constantRate()) {
        h.updateString(recipe.schedule);
        h.updateDouble(recipe.warmupEpochs);
    }
    if (recipe.augmented())
        h.updateString("augment " + recipe.augment);
    // Likewise only lbfgs adds its tolerance.
    if (recipe.converged())
        h.updateDouble(recipe.tolerance);
    hashParametersAndBuffers(h, start);
    hashImageSet(h, train);
    hashImageSet(h, test);
    return h.hexDigest();
}







/// "3×5", or "a 1-D dataset of 4" for a shape that is not 2-D.
std::string shapeText(const std::vector<int64_t>& shape)
{
    if (shape.size() == 2)
        return dimsText(shape);
    return "a " + std::to_string(shape.size()) + "-D dataset (" + dimsText(shape) + ")";
}

} // namespace


namespace {

/// What a whole run and a shard run share: the subsets, their masks and the input hash.
struct GroundTruthPlan {
    explicit GroundTruthPlan(Model retrainFrom) : start(std::move(retrainFrom)) {}
    Model start;
    int64_t n = 0, m = 0, M = 0;
    std::string hash, dataHash;
    std::vector<std::vector<int64_t>> subsets;
    std::vector<uint8_t> masks;
    std::optional<GroundTruth> stored; ///< the file's ground truth when it matches this plan
    /// The file's ground truth when this plan extends it: the same inputs, α and seed, fewer
    /// subsets, whose masks are this plan's first ones (subsets are seeded one by one).
    std::optional<GroundTruth> extends;
};

GroundTruthPlan planGroundTruth(const std::string& experimentPath, const Model& model,
                                const std::optional<TrainRecipe>& recipe, const ImageSet& train, const ImageSet& test,
                                const LdsOptions& options)
{
    options.validate(train.count);
    GroundTruthPlan plan(retrainingStart(model, recipe));
    if (test.count < 1)
        throw ConfigError("ground truth needs at least one test point");
    if (!fs::exists(experimentPath))
        throw IoError("ground truth is stored in an experiment file: " + experimentPath + " does not exist");
    plan.n = train.count;
    plan.m = test.count;
    plan.M = options.subsets;
    plan.hash = inputHash(plan.start, *recipe, train, test);
    {
        H5File file(experimentPath, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        if (file.exists("/data"))
            plan.dataHash = readDataRecord(file).contentHash;
        if (auto stored = readGroundTruth(file)) {
            if (!stored->importedFrom.empty() && !options.replace) {
                if (!(stored->options.sameSubsets(options) && stored->trainCount == plan.n
                      && stored->testCount == plan.m))
                    throw ConfigError(experimentPath + " holds ground truth imported from " + stored->importedFrom
                                      + " (" + optionsText(stored->options)
                                      + "), whose models were trained outside AttriScope: it cannot be extended "
                                        "or recomputed with other options here (requested "
                                      + optionsText(options)
                                      + "). Import a larger one, or use --force (LdsOptions::replace) to replace it "
                                        "with AttriScope's own retraining");
                plan.stored = std::move(stored);
                return plan;
            }
            const bool sameInputs =
                stored->inputHash == plan.hash && stored->trainCount == plan.n && stored->testCount == plan.m;
            const bool same = stored->options.sameSubsets(options) && sameInputs;
            const bool extendable = sameInputs && stored->options.alpha == options.alpha
                               && stored->options.seed == options.seed && stored->subsets < options.subsets;
            if (!options.replace && extendable) {
                plan.extends = std::move(stored);
            } else if (!options.replace) {
                if (!same) {
                    std::string why = stored->options.sameSubsets(options)
                                          ? "for other data, model or recipe"
                                          : "with other options (" + optionsText(stored->options) + ")";
                    throw ConfigError(
                        experimentPath + " already holds ground truth computed " + why + "; requested "
                        + optionsText(options)
                        + ". Use --force (LdsOptions::replace) to replace it, or the stored options");
                }
                plan.stored = std::move(stored);
            }
        }
    }
    plan.subsets = sampleSubsets(plan.n, options);
    plan.masks.assign(static_cast<size_t>(plan.M * plan.n), 0);
    for (int64_t j = 0; j < plan.M; ++j)
        for (int64_t i : plan.subsets[static_cast<size_t>(j)])
            plan.masks[static_cast<size_t>(j * plan.n + i)] = 1;
    if (plan.extends
        && !std::equal(plan.extends->masks.begin(), plan.extends->masks.end(), plan.masks.begin()))
        throw FormatError(experimentPath + ": the stored ground truth's " + std::to_string(plan.extends->subsets)
                          + " subsets are not the first of the " + std::to_string(plan.M)
                          + " requested with the same alpha and seed; it cannot be extended. Use --force "
                            "(LdsOptions::replace) to replace it");
    return plan;
}

/// The finished subsets of the side file at `path` when it belongs to this plan (else nothing,
/// with a message when it exists).
std::optional<PartialState> loadPartial(const std::string& path, const LdsOptions& options, const GroundTruthPlan& plan,
                                        ProgressSink& progress)
{
    if (!fs::exists(path))
        return std::nullopt;
    std::string why;
    auto state = readPartial(path, options, plan.hash, plan.masks, plan.n, plan.m, why);
    if (!state)
        progress.message("discarding " + path + ": " + why);
    return state;
}


/// Trains the subsets of `plan` that `state` lacks and `shard` owns, saving `state` to
/// `partialPath` after each; returns how many were trained.
int64_t trainPending(const GroundTruthPlan& plan, const TrainRecipe& recipe, const ImageSet& train,
                     const ImageSet& test, const LdsOptions& options, const Shard& shard, PartialState& state,
                     const std::string& partialPath, ProgressSink& progress, const CancelToken& cancel)
{
    const auto startTime = std::chrono::steady_clock::now();
    std::vector<size_t> pending;
    for (int64_t j = 0; j < plan.M; ++j)
        if (!state.done[static_cast<size_t>(j)] && shard.owns(j))
            pending.push_back(static_cast<size_t>(j));
    int64_t finished = 0;
    for (uint8_t d : state.done)
        finished += d;
    if (finished > 0)
        progress.message("resuming ground truth: " + std::to_string(finished) + " of " + std::to_string(plan.M)
                         + " subsets already trained");

    progress.begin(shard.whole() ? "ground truth" : "ground truth (shard " + shard.toString() + ")", plan.M);
    std::vector<std::vector<int64_t>> keepLists;
    keepLists.reserve(pending.size());
    for (size_t j : pending)
        keepLists.push_back(plan.subsets[j]);
    const double earlierSeconds = state.seconds;
    RetrainPool pool{options.workers, options.threadsPerWorker};
    int64_t trained = 0;
    const int64_t notConverged = retrainEach(
        plan.start, recipe, train, test, keepLists, pool,
        [&](size_t job, std::vector<double>&& loss) {
            const size_t j = pending[job];
            if (static_cast<int64_t>(loss.size()) != plan.m)
                throw Error("ground truth: subset model " + std::to_string(j) + " gave "
                            + std::to_string(loss.size()) + " test losses, expected " + std::to_string(plan.m));
            state.testLoss.row(static_cast<Eigen::Index>(j)) =
                Eigen::Map<const Eigen::RowVectorXd>(loss.data(), plan.m);
            state.done[j] = 1;
            state.seconds =
                earlierSeconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - startTime).count();
            // Saved before reporting, so whatever progress reported is on disk.
            writePartial(partialPath, options, plan.hash, plan.masks, plan.n, plan.m, state);
            ++finished;
            ++trained;
            progress.advance(finished);
        },
        cancel);
    // The subset models of an lbfgs recipe are meant to be minimisers: one that stopped at its cap
    // is kept (its losses are what that recipe gives) but said.
    if (notConverged > 0)
        progress.message("warning: " + std::to_string(notConverged) + " of " + std::to_string(trained)
                         + " subset models did not reach the L-BFGS tolerance " + std::to_string(recipe.tolerance)
                         + " within the cap of " + std::to_string(recipe.epochs)
                         + " iterations (--epochs); their test losses are those of the last iterate");
    return trained;
}

PartialState emptyState(const GroundTruthPlan& plan)
{
    PartialState state;
    state.done.assign(static_cast<size_t>(plan.M), 0);
    state.testLoss = Eigen::MatrixXd::Constant(plan.M, plan.m, std::numeric_limits<double>::quiet_NaN());
    return state;
}

/// Marks the subsets of the ground truth `plan` extends as done in `state`, with their losses;
/// returns how many were not already.
int64_t mergeExtended(const GroundTruthPlan& plan, PartialState& state)
{
    if (!plan.extends)
        return 0;
    PartialState stored = emptyState(plan);
    stored.testLoss.topRows(plan.extends->subsets) = plan.extends->testLoss;
    std::fill_n(stored.done.begin(), plan.extends->subsets, uint8_t{1});
    return mergePartial(state, stored);
}


} // namespace

GroundTruth computeGroundTruth(const std::string& experimentPath, const Model& model,
                               const std::optional<TrainRecipe>& recipe, const ImageSet& train,
                               const ImageSet& test, const LdsOptions& options, ProgressSink& progress,
                               const CancelToken& cancel)
{
    const auto startTime = std::chrono::steady_clock::now();
    GroundTruthPlan plan = planGroundTruth(experimentPath, model, recipe, train, test, options);
    if (plan.stored) {
        progress.message("ground truth already computed (" + optionsText(options) + ")");
        return *plan.stored;
    }
    const std::string partialPath = groundTruthPartialPath(experimentPath);
    PartialState state = loadPartial(partialPath, options, plan, progress).value_or(emptyState(plan));
    if (mergeExtended(plan, state) > 0) {
        state.seconds += plan.extends->seconds;
        progress.message("extending the stored ground truth from " + std::to_string(plan.extends->subsets) + " to "
                         + std::to_string(plan.M) + " subsets (the first " + std::to_string(plan.extends->subsets)
                         + " are kept)");
    }
    // Subsets trained by shard runs (`lds --shard`, attriscope-mpi) join this run's.
    const std::vector<fs::path> shards = shardPartials(experimentPath);
    for (const fs::path& shard : shards) {
        if (auto other = loadPartial(shard.string(), options, plan, progress)) {
            const int64_t added = mergePartial(state, *other);
            state.seconds += other->seconds; // retraining time summed over shards (not wall time)
            progress.message("took " + std::to_string(added) + " finished subsets from " + shard.string());
        }
    }
    if (!shards.empty()) {
        writePartial(partialPath, options, plan.hash, plan.masks, plan.n, plan.m, state);
        std::error_code ec;
        for (const fs::path& shard : shards)
            fs::remove(shard, ec);
    }
    const double earlierSeconds = state.seconds;
    trainPending(plan, *recipe, train, test, options, Shard{}, state, partialPath, progress, cancel);

    GroundTruth truth;
    truth.options = options;
    truth.options.replace = false;
    truth.subsets = plan.M;
    truth.trainCount = plan.n;
    truth.testCount = plan.m;
    truth.masks = std::move(plan.masks);
    truth.testLoss = std::move(state.testLoss);
    truth.recipeSummary = recipeSummary(*recipe);
    truth.dataContentHash = plan.dataHash;
    truth.inputHash = plan.hash;
    truth.seconds = earlierSeconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - startTime).count();

    writeHdf5Atomically(experimentPath, true, [&](H5File& f) { writeGroundTruth(f, truth); });
    std::error_code ec;
    fs::remove(partialPath, ec); // a leftover side file is harmless: it matches the stored result
    return truth;
}

int64_t computeGroundTruthShard(const std::string& experimentPath, const Model& model,
                                const std::optional<TrainRecipe>& recipe, const ImageSet& train, const ImageSet& test,
                                const LdsOptions& options, const Shard& shard, ProgressSink& progress,
                                const CancelToken& cancel)
{
    if (shard.count < 1 || shard.rank < 0 || shard.rank >= shard.count)
        throw ConfigError("ground truth: shard " + shard.toString() + " is not a rank R of N with 0 <= R < N");
    GroundTruthPlan plan = planGroundTruth(experimentPath, model, recipe, train, test, options);
    if (plan.stored) {
        progress.message("ground truth already computed (" + optionsText(options) + "): nothing to train");
        return 0;
    }
    // Start from what this shard's own side file and the whole run's already hold (rows of the
    // latter are copied too: harmless, the merge takes each subset once).
    PartialState state = emptyState(plan);
    const std::string own = groundTruthPartialPath(experimentPath, shard);
    if (auto mine = loadPartial(own, options, plan, progress)) {
        mergePartial(state, *mine);
        state.seconds = mine->seconds;
    }
    if (auto whole = loadPartial(groundTruthPartialPath(experimentPath), options, plan, progress))
        mergePartial(state, *whole);
    mergeExtended(plan, state); // the stored subsets are not trained again
    return trainPending(plan, *recipe, train, test, options, shard, state, own, progress, cancel);
}

GroundTruth computeGroundTruth(const std::string& experimentPath, const LdsOptions& options,
                               ProgressSink& progress, const CancelToken& cancel)
{
    ModelRecord modelRecord;
    DataRecord dataRecord;
    {
        H5File file(experimentPath, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        modelRecord = readModelRecord(file);
        dataRecord = readDataRecord(file);
    }
    const DataBundle data = reloadData(dataRecord);
    // Only the architecture is used: retrainingStart re-initializes from the recipe's seed.
    const Model model = rebuildModel(modelRecord);
    return computeGroundTruth(experimentPath, model, modelRecord.recipe, data.train, data.test, options,
                              progress, cancel);
}

GroundTruth importGroundTruth(const std::string& experimentPath, const std::string& truthPath, bool replace)
{
    DataRecord dataRecord;
    {
        H5File file(experimentPath, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        dataRecord = readDataRecord(file);
        if (const auto stored = readGroundTruth(file); stored && !replace)
            throw ConfigError(experimentPath + " already holds ground truth ("
                              + (stored->importedFrom.empty() ? "retrained by AttriScope"
                                                              : "imported from " + stored->importedFrom)
                              + ", " + optionsText(stored->options)
                              + "); use --force (replace) to replace it with " + truthPath);
    }
    const DataBundle data = reloadData(dataRecord);
    const int64_t n = data.train.count;
    const int64_t m = data.test.count;

    if (!fs::exists(truthPath))
        throw IoError("ground truth to import: " + truthPath + " does not exist");
    const H5File in(truthPath, H5File::Mode::ReadOnly);
    auto bad = [&](const std::string& what) { return FormatError(truthPath + ": " + what); };
    for (const char* name : {"masks", "test_loss"})
        if (!in.exists(std::string("/") + name))
            throw bad(std::string("no dataset '") + name
                      + "' (ground truth to import holds masks, M×n, and test_loss, M×m)");
    std::vector<int64_t> maskShape, lossShape;
    const std::vector<int64_t> masks = in.readInt64("/masks", &maskShape);
    const std::vector<double> loss = in.readDoubles("/test_loss", &lossShape);
    if (maskShape.size() != 2 || maskShape[1] != n)
        throw bad("masks must be subsets × " + std::to_string(n) + " (the experiment's training points), not "
                  + shapeText(maskShape));
    const int64_t M = maskShape[0];
    if (M < 2)
        throw bad("masks holds " + std::to_string(M) + " subset(s); the LDS needs at least 2");
    if (lossShape.size() != 2 || lossShape[0] != M || lossShape[1] != m)
        throw bad("test_loss must be " + std::to_string(M) + " × " + std::to_string(m)
                  + " (subsets × the experiment's test points), not " + shapeText(lossShape));
    GroundTruth t;
    t.subsets = M;
    t.trainCount = n;
    t.testCount = m;
    t.masks.resize(masks.size());
    int64_t inSubsets = 0;
    for (int64_t j = 0; j < M; ++j) {
        int64_t members = 0;
        for (int64_t i = 0; i < n; ++i) {
            const int64_t v = masks[static_cast<size_t>(j * n + i)];
            if (v != 0 && v != 1)
                throw bad("masks[" + std::to_string(j) + ", " + std::to_string(i) + "] is " + std::to_string(v)
                          + "; masks hold 0 (left out) or 1 (in the subset)");
            t.masks[static_cast<size_t>(j * n + i)] = static_cast<uint8_t>(v);
            members += v;
        }
        if (members == 0 || members == n)
            throw bad("subset " + std::to_string(j) + " holds " + (members == 0 ? "no" : "every")
                      + " training point; each subset leaves some points in and some out");
        inSubsets += members;
    }
    for (size_t e = 0; e < loss.size(); ++e)
        if (!std::isfinite(loss[e]) || loss[e] < 0.0)
            throw bad("test_loss[" + std::to_string(static_cast<int64_t>(e) / m) + ", "
                      + std::to_string(static_cast<int64_t>(e) % m) + "] is " + std::to_string(loss[e])
                      + "; cross-entropy losses are finite and >= 0");
    auto checkLabels = [&](const char* name, const ImageSet& set) {
        if (!in.exists(std::string("/") + name))
            return;
        std::vector<int64_t> shape;
        const std::vector<int64_t> labels = in.readInt64(std::string("/") + name, &shape);
        if (static_cast<int64_t>(labels.size()) != set.count)
            throw bad(std::string(name) + " holds " + std::to_string(labels.size()) + " labels; the experiment has "
                      + std::to_string(set.count) + " points");
        for (int64_t i = 0; i < set.count; ++i)
            if (labels[static_cast<size_t>(i)] != set.labels[static_cast<size_t>(i)])
                throw bad(std::string(name) + "[" + std::to_string(i) + "] is "
                          + std::to_string(labels[static_cast<size_t>(i)]) + ", the experiment's label is "
                          + std::to_string(set.labels[static_cast<size_t>(i)])
                          + ": the ground truth was computed on other points or in another order");
    };
    checkLabels("train_labels", data.train);
    checkLabels("test_labels", data.test);

    t.testLoss = Eigen::Map<const RowMatrixD>(loss.data(), M, m);
    t.options.subsets = M;
    t.options.alpha = in.hasAttr("/", "alpha") ? in.attrDouble("/", "alpha")
                                               : static_cast<double>(inSubsets) / static_cast<double>(M * n);
    t.options.seed = in.hasAttr("/", "seed") ? static_cast<uint64_t>(in.attrInt("/", "seed")) : 0;
    t.options.workers = 0;
    t.options.threadsPerWorker = 0;
    t.recipeSummary = in.hasAttr("/", "recipe") ? in.attrString("/", "recipe") : "(not recorded)";
    t.seconds = in.hasAttr("/", "seconds") ? in.attrDouble("/", "seconds") : std::numeric_limits<double>::quiet_NaN();
    t.dataContentHash = dataRecord.contentHash;
    t.importedFrom = fs::absolute(truthPath).lexically_normal().string();
    Sha256 h;
    h.updateString("attriscope imported ground truth v1");
    h.update(t.masks.data(), t.masks.size());
    for (double v : loss)
        h.updateDouble(v);
    t.inputHash = h.hexDigest();
    writeHdf5Atomically(experimentPath, true, [&](H5File& f) { writeGroundTruth(f, t); });
    return t;
}

std::optional<GroundTruth> readGroundTruth(const H5File& file)
{
    if (!file.exists(kGroup))
        return std::nullopt;
    const std::string where = file.path() + ": " + kGroup;
    GroundTruth t;
    t.options.subsets = file.attrInt(kGroup, "subsets");
    t.options.alpha = file.attrDouble(kGroup, "alpha");
    t.options.seed = static_cast<uint64_t>(file.attrInt(kGroup, "seed"));
    if (file.hasAttr(kGroup, "workers"))
        t.options.workers = static_cast<int>(file.attrInt(kGroup, "workers"));
    if (file.hasAttr(kGroup, "threads_per_worker"))
        t.options.threadsPerWorker = static_cast<int>(file.attrInt(kGroup, "threads_per_worker"));
    t.recipeSummary = file.attrString(kGroup, "recipe");
    t.dataContentHash = file.attrString(kGroup, "data_content_hash");
    t.inputHash = file.attrString(kGroup, "input_hash");
    t.seconds = file.attrDouble(kGroup, "seconds");
    if (file.hasAttr(kGroup, "imported_from"))
        t.importedFrom = file.attrString(kGroup, "imported_from");

    std::vector<int64_t> maskShape;
    t.masks = file.readUInt8(std::string(kGroup) + "/masks", &maskShape);
    if (maskShape.size() != 2 || maskShape[0] != t.options.subsets)
        throw FormatError(where + "/masks must be subsets×n = " + std::to_string(t.options.subsets)
                          + "×n uint8");
    t.subsets = maskShape[0];
    t.trainCount = maskShape[1];
    std::vector<int64_t> lossShape;
    const auto loss = file.readDoubles(std::string(kGroup) + "/test_loss", &lossShape);
    if (lossShape.size() != 2 || lossShape[0] != t.subsets)
        throw FormatError(where + "/test_loss must be subsets×m = " + std::to_string(t.subsets)
                          + "×m float64");
    t.testCount = lossShape[1];
    t.testLoss = Eigen::Map<const RowMatrixD>(loss.data(), t.subsets, t.testCount);
    return t;
}

void writeGroundTruth(H5File& file, const GroundTruth& t)
{
    if (static_cast<int64_t>(t.masks.size()) != t.subsets * t.trainCount || t.testLoss.rows() != t.subsets
        || t.testLoss.cols() != t.testCount)
        throw Error("ground truth: masks or test losses do not match subsets×n / subsets×m");
    if (file.exists(kGroup))
        file.remove(kGroup);
    file.createGroup(kGroup);
    file.setAttr(kGroup, "subsets", t.subsets);
    file.setAttr(kGroup, "alpha", t.options.alpha);
    file.setAttr(kGroup, "seed", static_cast<int64_t>(t.options.seed));
    file.setAttr(kGroup, "workers", t.options.workers);
    file.setAttr(kGroup, "threads_per_worker", t.options.threadsPerWorker);
    file.setAttr(kGroup, "recipe", t.recipeSummary);
    file.setAttr(kGroup, "data_content_hash", t.dataContentHash);
    file.setAttr(kGroup, "input_hash", t.inputHash);
    file.setAttr(kGroup, "seconds", t.seconds);
    if (!t.importedFrom.empty())
        file.setAttr(kGroup, "imported_from", t.importedFrom);
    file.writeUInt8(std::string(kGroup) + "/masks", {t.subsets, t.trainCount}, t.masks.data());
    const RowMatrixD loss(t.testLoss);
    file.writeDoubles(std::string(kGroup) + "/test_loss", {t.subsets, t.testCount}, loss.data());
}

} // namespace attri
