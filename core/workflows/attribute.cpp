#include "workflows/attribute.h"

#include "attribution/attribution_session.h"
#include "attribution/explicit_curvature.h"
#include "attribution/spectral_cache.h"
#include "common/error.h"
#include "common/runtime.h"
#include "features/feature_journal.h"
#include "features/featurizer.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "store/atomic_write.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "tuning/sweep_tables.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

namespace attri {

namespace {

using Clock = std::chrono::steady_clock;

/// K-FAC/EK-FAC store n + m rotated gradients of the selected layers (as projection none does).
constexpr int64_t kMaxKroneckerParameters = 200000;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

/// Which checkpoints a method featurizes.
std::vector<int64_t> checkpointsFor(Method m, const ModelRecord& model)
{
    const int64_t last = static_cast<int64_t>(model.checkpoints.size()) - 1;
    if (last < 0)
        throw FormatError("the experiment file holds no model checkpoint");
    if (m == Method::TracIn || m == Method::Trak || m == Method::Unrolled) {
        std::vector<int64_t> all;
        for (int64_t c = 0; c <= last; ++c)
            all.push_back(c);
        return all;
    }
    return {last};
}

/// Sum of a sensitivity table into the stored λ × k form.
SweepTable toSweepTable(const std::string& method, const std::string& quantity, const SensitivityTable& t,
                        const SensitivityResult& r, bool lambdaTable)
{
    SweepTable out;
    out.method = method;
    out.quantity = quantity;
    const int64_t rows = t.rows, cols = t.cols;
    out.values.resize(rows, cols);
    out.absoluteLambdas.resize(rows, cols);
    for (int64_t j = 0; j < rows; ++j)
        out.relativeLambdas.push_back(r.grid.values[static_cast<size_t>(j)]);
    for (int64_t c = 0; c < cols; ++c)
        out.ks.push_back(lambdaTable ? r.ks[static_cast<size_t>(c)] : r.ks[static_cast<size_t>(c) + 1]);
    for (int64_t j = 0; j < rows; ++j)
        for (int64_t c = 0; c < cols; ++c) {
            out.values(j, c) = t.at(j, c);
            const size_t kc = lambdaTable ? static_cast<size_t>(c) : static_cast<size_t>(c) + 1;
            out.absoluteLambdas(j, c) = r.absoluteLambdas[kc][static_cast<size_t>(j)];
        }
    return out;
}

/// The complete features stored under `key`, when they cover the same points and layers and carry
/// everything a run computes (the gradient norms behind the feature scale); else none.
std::optional<FeatureRecord> reusableFeatures(const H5File& file, const std::string& key, const std::string& layers,
                                              int64_t trainCount, int64_t testCount)
{
    std::optional<FeatureRecord> r = findFeatureRecord(file, key);
    if (!r || r->layers != layers || r->trainCount != trainCount || r->testCount != testCount
        || static_cast<int64_t>(r->trainStats.loss.size()) != trainCount
        || static_cast<int64_t>(r->testStats.loss.size()) != testCount || !(r->gradientSqNormMean > 0)
        || r->gradientNormSamples < 1)
        return std::nullopt;
    return r;
}

/// Everything a run needs, checked before any featurization.
struct AttributionPlan {
    Method method = Method::InfluenceProjected;
    std::string methodName;
    DataRecord dataRecord;
    ModelRecord modelRecord;
    std::vector<int64_t> ks; ///< sorted, unique
    FeatureOptions features;
    std::vector<int64_t> checkpoints;
    bool exactLrHessian = false; ///< explicit IF on the whole of a logistic regression: the exact Hessian
};

AttributionPlan planAttribution(const std::string& path, const AttributionRequest& request)
{
    request.validate();
    AttributionPlan plan;
    {
        H5File file(path, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        plan.dataRecord = readDataRecord(file);
        plan.modelRecord = readModelRecord(file);
    }
    const ModelRecord& modelRecord = plan.modelRecord;
    plan.method = parseMethod(request.method, request.projection, modelRecord.architecture);
    plan.methodName = toString(plan.method);
    if (plan.method == Method::InfluenceExplicit && request.projection != ProjectionKind::None)
        throw ConfigError("attribute: explicit IF needs --proj none");
    if (plan.method == Method::Unrolled)
        checkUnrolledRecipe(path, modelRecord);
    if (plan.method == Method::Unrolled && request.projection == ProjectionKind::None)
        throw ConfigError("attribute: the unrolled method decomposes a k x k curvature at every checkpoint; choose a "
                          "projection (kron, gaussian, rademacher) instead of --proj none");

    plan.ks = request.ks;
    std::sort(plan.ks.begin(), plan.ks.end());
    plan.ks.erase(std::unique(plan.ks.begin(), plan.ks.end()), plan.ks.end());
    FeatureOptions& fopt = plan.features;
    fopt.target = plan.method == Method::Trak ? FeatureTarget::Margin : FeatureTarget::Loss;
    fopt.layers = request.layers;
    fopt.projection = request.projection;
    fopt.kMax = plan.ks.back();
    fopt.seed = request.seed;
    fopt.batchSize = request.batchSize;
    fopt.validate();
    // Explicit IF: the curvature is a p×p matrix, so p must be small; check before featurizing.
    if (plan.method == Method::InfluenceExplicit) {
        const Model model = rebuildModel(modelRecord);
        const int64_t p = selectedParameterCount(model, request.layers);
        if (p > kMaxExplicitParameters)
            throw ConfigError("attribute: explicit IF (--proj none) on " + std::to_string(p)
                              + " parameters of layers \"" + request.layers + "\" exceeds the explicit limit of "
                              + std::to_string(kMaxExplicitParameters)
                              + "; select fewer layers (e.g. --layers last) or choose a projection (kron)");
        plan.exactLrHessian = isLogisticRegression(model) && p == model.parameterCount();
    }
    if (isKronecker(plan.method)) {
        const Model model = rebuildModel(modelRecord);
        const int64_t p = selectedParameterCount(model, request.layers);
        if (p > kMaxKroneckerParameters)
            throw ConfigError("attribute: " + plan.methodName + " keeps every training point's rotated gradient ("
                              + std::to_string(p) + " parameters of layers \"" + request.layers
                              + "\"), more than its limit of " + std::to_string(kMaxKroneckerParameters)
                              + " per sample; select fewer layers (e.g. --layers last)");
        // Full gradients under the key projection none gives them, so kfac and ekfac share them.
        plan.ks = {p};
        fopt.kMax = p;
    }
    if (request.projection == ProjectionKind::None && !usesFullGradients(plan.method)
        && modelRecord.parameterCount > 200000)
        throw ConfigError("attribute: --proj none would store " + std::to_string(modelRecord.parameterCount)
                          + " values per sample; choose a projection (kron, gaussian, rademacher)");
    plan.checkpoints = checkpointsFor(plan.method, modelRecord);
    return plan;
}

/// The features of every checkpoint a method uses, as stored in the file.
struct CheckpointFeatures {
    std::vector<RowMatrixF> train, test;
    std::vector<std::vector<float>> weights; ///< TRAK: 1 - p(true class) per training point; else empty
};

/// Featurizes every checkpoint of the plan (or takes features the file already holds), streaming
/// them into `file` and keeping them in memory for the spectra (O((n+m)·k)).
CheckpointFeatures featurizeCheckpoints(H5File& file, const AttributionPlan& plan, const AttributionRequest& request,
                                        const std::vector<Model>& models, const DataBundle& data,
                                        FeatureJournal& journal, AttributionSummary& summary, ProgressSink& progress,
                                        const CancelToken& cancel)
{
    const FeatureOptions& fopt = plan.features;
    CheckpointFeatures out;
    for (size_t ci = 0; ci < plan.checkpoints.size(); ++ci) {
        const int64_t c = plan.checkpoints[ci];
        const Model& model = models[ci];
        FeatureRecord record;
        record.target = fopt.target;
        record.projection = fopt.projection;
        record.seed = fopt.seed;
        record.checkpoint = c;
        record.checkpointLr = plan.modelRecord.checkpoints[static_cast<size_t>(c)].lr;
        record.trainCount = data.train.count;
        record.testCount = data.test.count;
        std::string layers;
        for (const auto& l : selectLayers(model, request.layers))
            layers += (layers.empty() ? "" : ",") + l;
        record.layers = layers;

        RowMatrixF train, test;
        const std::optional<FeatureRecord> stored =
            request.reuseFeatures
                ? reusableFeatures(file, featureKey(record.target, record.projection, fopt.kMax, record.seed,
                                                    request.layers, c),
                                   layers, data.train.count, data.test.count)
                : std::nullopt;
        if (stored) {
            progress.message("checkpoint " + std::to_string(c) + ": the file holds its features (" + stored->key
                             + "), reused");
            record = *stored;
            train = readFeatures(file, record.key, "train");
            test = readFeatures(file, record.key, "test");
        } else {
            progress.message("featurizing checkpoint " + std::to_string(c) + " (" + toString(fopt.projection)
                             + ", k_max " + std::to_string(fopt.kMax) + ", layers " + layers + ")");
            FeatureInfo info;
            train = journal.featurize(model, data.train, fopt, c, 0, &info, &record.trainStats, progress, cancel);
            test = journal.featurize(model, data.test, fopt, c, 1, nullptr, &record.testStats, progress, cancel);
            record.dimension = info.dimension;
            record.fullDimension = info.fullDimension;
            record.batched = info.batched;
            record.gradientSqNormMean = info.gradientSqNormMean;
            record.gradientNormSamples = info.gradientNormSamples;
            record.device = deviceName();
            record.key = featureKey(record.target, record.projection, record.dimension, record.seed, request.layers, c);
            createFeatureGroup(file, record);
            writeFeatureRows(file, record.key, "train", 0, train);
            writeFeatureRows(file, record.key, "test", 0, test);
            writeFeatureStats(file, record);
        }
        summary.featureKeys.push_back(record.key);
        std::vector<float> w;
        if (plan.method == Method::Trak) {
            w.resize(record.trainStats.trueProb.size());
            for (size_t i = 0; i < w.size(); ++i)
                w[i] = 1.0f - record.trainStats.trueProb[i];
        }
        out.weights.push_back(std::move(w));
        out.train.push_back(std::move(train));
        out.test.push_back(std::move(test));
    }
    return out;
}

/// Replaces the method's group with a fresh one carrying the run's settings.
void writeMethodGroup(H5File& file, const AttributionPlan& plan, const AttributionRequest& request,
                      const std::vector<int64_t>& ks, const std::vector<std::string>& featureKeys)
{
    const std::string group = attributionGroup(plan.method);
    if (file.exists(group))
        file.remove(group);
    file.createGroup(group);
    file.setAttr(group, "method", plan.methodName);
    file.setAttr(group, "projection", toString(request.projection));
    file.setAttr(group, "layers", request.layers);
    file.setAttr(group, "seed", static_cast<int64_t>(request.seed));
    file.setAttr(group, "ks", ks);
    file.setAttr(group, "lambda_grid", request.grid.toString());
    file.setAttr(group, "sign_convention", std::string("tau = g'^T (H + lambda I)^-1 g_i; positive = proponent"));
    file.setAttr(group, "curvature_convention",
                 usesLambda(plan.method) ? toString(curvatureConvention(plan.method)) : std::string("none"));
    file.writeStrings(group + "/feature_keys", featureKeys);
}

/// One eigendecomposition per (checkpoint, k), stored as spectra (and, for explicit IF, the
/// rotated features); returns the final checkpoint's caches by k.
std::map<int64_t, std::shared_ptr<const SpectralCache>>
decomposeSpectra(H5File& file, const AttributionPlan& plan, const AttributionRequest& request,
                 const std::vector<int64_t>& ks, const CheckpointFeatures& features, const DataBundle& data,
                 AttributionSummary& summary, ProgressSink& progress, const CancelToken& cancel)
{
    const Method method = plan.method;
    const std::string group = attributionGroup(method);
    std::map<int64_t, std::shared_ptr<const SpectralCache>> lastCaches;
    std::optional<Eigen::MatrixXd> hessian;
    std::string curvatureKind = "fisher";
    const int64_t dimension = features.train.back().cols();
    if (method == Method::InfluenceExplicit && plan.exactLrHessian) {
        progress.message("exact Hessian of the mean training loss (" + std::to_string(dimension) + " parameters)");
        hessian = logisticRegressionHessian(rebuildModel(plan.modelRecord), data.train);
        curvatureKind = "hessian";
    } else if (method == Method::InfluenceExplicit) {
        progress.message("generalized Gauss-Newton of the mean training loss (" + std::to_string(dimension)
                         + " parameters, layers " + request.layers + ")");
        hessian = generalizedGaussNewton(rebuildModel(plan.modelRecord), data.train, request.layers,
                                         request.batchSize, cancel);
        curvatureKind = "ggn";
    }
    const size_t count = plan.checkpoints.size();
    for (size_t ci = 0; ci < count; ++ci) {
        for (int64_t k : ks) {
            cancel.throwIfCancelled();
            const auto t0 = Clock::now();
            progress.message("eigendecomposition: checkpoint " + std::to_string(plan.checkpoints[ci]) + ", k "
                             + std::to_string(k));
            std::shared_ptr<const SpectralCache> cache =
                hessian ? SpectralCache::fromCurvature(*hessian, features.train[ci], features.test[ci],
                                                       curvatureConvention(method), features.weights[ci])
                        : SpectralCache::fromFeatures(features.train[ci].leftCols(k), features.test[ci].leftCols(k),
                                                      curvatureConvention(method), features.weights[ci]);
            SpectrumRecord spectrum;
            spectrum.method = plan.methodName;
            spectrum.k = k;
            spectrum.checkpoint = plan.checkpoints[ci];
            spectrum.featureKey = summary.featureKeys[ci];
            spectrum.convention = toString(curvatureConvention(method));
            spectrum.curvature = curvatureKind;
            spectrum.eigenvalues = cache->eigenvalues();
            spectrum.meanEigenvalue = cache->meanEigenvalue();
            spectrum.mostNegativeEigenvalue = cache->mostNegativeEigenvalue();
            spectrum.seconds = since(t0);
            writeSpectrum(file, spectrum);
            if (hessian) {
                // The explicit decomposition is costly: keep the rotated features so later
                // commands score at any λ without redoing it.
                const std::string base = group + "/explicit";
                file.createFloatMatrix(base + "/train_rotated", cache->trainCount(), k, 64);
                file.writeRows(base + "/train_rotated", 0, cache->trainCount(), cache->trainRotated().data());
                file.createFloatMatrix(base + "/test_rotated", cache->testCount(), k, 64);
                file.writeRows(base + "/test_rotated", 0, cache->testCount(), cache->testRotated().data());
            }
            summary.spectra.push_back(spectrum);
            if (ci + 1 == count)
                lastCaches[k] = cache;
        }
    }
    return lastCaches;
}

/// K-FAC/EK-FAC: the cache of the fitted factors for the final checkpoint's gradients, stored as a
/// spectrum, the rotated gradients (/attribution/<method>/kronecker) and each layer's factor spectra.
std::map<int64_t, std::shared_ptr<const SpectralCache>>
storeKronecker(H5File& file, const AttributionPlan& plan, const AttributionRequest& request,
               const KroneckerCurvature& curvature, const Model& model, const DataBundle& data,
               AttributionSummary& summary, ProgressSink& progress, const CancelToken& cancel)
{
    const auto t0 = Clock::now();
    const bool corrected = plan.method == Method::Ekfac;
    progress.message("rotating " + std::to_string(data.train.count + data.test.count)
                     + " gradients into the Kronecker eigenbasis (" + std::to_string(curvature.dimension())
                     + " coordinates)");
    std::shared_ptr<const SpectralCache> cache = kroneckerCacheFromRotated(
        curvature, corrected, curvature.rotatedGradients(model, data.train, progress, cancel),
        curvature.rotatedGradients(model, data.test, progress, cancel), request.damping);
    const int64_t k = cache->dimension();
    SpectrumRecord spectrum;
    spectrum.method = plan.methodName;
    spectrum.k = k;
    spectrum.checkpoint = plan.checkpoints.back();
    spectrum.featureKey = summary.featureKeys.back();
    spectrum.convention = toString(CurvatureConvention::Mean);
    spectrum.curvature = plan.methodName + "-" + toString(request.fisher) + "-fisher";
    spectrum.eigenvalues = cache->eigenvalues();
    spectrum.meanEigenvalue = cache->meanEigenvalue();
    spectrum.mostNegativeEigenvalue = cache->mostNegativeEigenvalue();
    spectrum.seconds = since(t0);
    writeSpectrum(file, spectrum);
    summary.spectra.push_back(spectrum);

    const std::string base = attributionGroup(plan.method) + "/kronecker";
    file.createGroup(base);
    file.setAttr(base, "fisher", toString(request.fisher));
    file.setAttr(base, "damping", toString(request.damping));
    file.setAttr(base, "label_seed", static_cast<int64_t>(request.seed));
    file.setAttr(base, "train_count", curvature.trainCount());
    file.createFloatMatrix(base + "/train_rotated", cache->trainCount(), k, 64);
    file.writeRows(base + "/train_rotated", 0, cache->trainCount(), cache->trainRotated().data());
    file.createFloatMatrix(base + "/test_rotated", cache->testCount(), k, 64);
    file.writeRows(base + "/test_rotated", 0, cache->testCount(), cache->testRotated().data());
    std::vector<std::string> names;
    for (const KroneckerLayer& layer : curvature.layers()) {
        names.push_back(layer.name);
        const std::string g = base + "/layers/" + layer.name;
        file.createGroup(g);
        file.setAttr(g, "kind", layer.kind);
        file.setAttr(g, "out", layer.out);
        file.setAttr(g, "in", layer.in);
        file.writeDoubles(g + "/activation_eigenvalues", {layer.in}, layer.activationEigenvalues.data());
        file.writeDoubles(g + "/gradient_eigenvalues", {layer.out}, layer.gradientEigenvalues.data());
        if (corrected) {
            const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> c = layer.correctedEigenvalues;
            file.writeDoubles(g + "/corrected_eigenvalues", {layer.out, layer.in}, c.data());
        }
    }
    file.writeStrings(base + "/layer_names", names);
    return {{k, cache}};
}

/// The λ × k sensitivity tables of the final checkpoint, stored as sweep tables.
std::shared_ptr<const SensitivityResult>
storeSensitivity(H5File& file, const AttributionPlan& plan, const AttributionRequest& request,
                 const std::map<int64_t, std::shared_ptr<const SpectralCache>>& caches, int64_t testCount,
                 ProgressSink& progress, const CancelToken& cancel)
{
    SensitivityOptions sopt;
    sopt.grid = request.grid;
    sopt.topK = request.topK;
    const int64_t tests = std::min<int64_t>(request.sensitivityTests, testCount);
    for (int64_t t = 0; t < tests; ++t)
        sopt.testIndices.push_back(t);
    auto result = lambdaSensitivity(caches, sopt, progress, cancel);
    const SensitivityResult& r = *result;
    const std::string& name = plan.methodName;
    writeSweepTable(file, toSweepTable(name, "spearman_next_lambda", r.lambdaSpearman, r, true));
    writeSweepTable(file, toSweepTable(name, "jaccard_next_lambda", r.lambdaJaccard, r, true));
    if (r.ks.size() > 1) {
        writeSweepTable(file, toSweepTable(name, "spearman_next_k", r.kSpearman, r, false));
        writeSweepTable(file, toSweepTable(name, "jaccard_next_k", r.kJaccard, r, false));
    }
    return result;
}

} // namespace

void AttributionRequest::validate() const
{
    parseMethod(method);
    if (ks.empty())
        throw ConfigError("attribute: --k needs at least one projection dimension");
    for (int64_t k : ks)
        if (k < 1)
            throw ConfigError("attribute: every k must be positive, got " + std::to_string(k));
    grid.validate();
    if (layers.empty())
        throw ConfigError("attribute: --layers must not be empty (use all, last or layer names)");
    if (batchSize < 1)
        throw ConfigError("attribute: batch size must be positive");
    if (shard.count < 1 || shard.rank < 0 || shard.rank >= shard.count)
        throw ConfigError("attribute: shard " + shard.toString() + " is not a rank R of N with 0 <= R < N");
    if (sensitivityTests < 1)
        throw ConfigError("attribute: sensitivity needs at least one test point");
    if (topK < 1)
        throw ConfigError("attribute: top-k must be positive");
}

AttributionSummary runAttribution(const std::string& path, const AttributionRequest& requested,
                                  ProgressSink& progress, const CancelToken& cancel)
{
    // K-FAC/EK-FAC rotate the full gradients: no projection, one "k" (the parameter count).
    AttributionRequest request = requested;
    if (isKronecker(parseMethod(request.method))) {
        request.projection = ProjectionKind::None;
    }
    const AttributionPlan plan = planAttribution(path, request);
    progress.message("reloading " + plan.dataRecord.options.spec + " (" + std::to_string(plan.dataRecord.trainIndices.size())
                     + " train / " + std::to_string(plan.dataRecord.testIndices.size()) + " test)");
    const DataBundle data = reloadData(plan.dataRecord);

    AttributionSummary summary;
    summary.method = plan.method;
    if (plan.method == Method::Unrolled && plan.checkpoints.size() == 1)
        progress.message("note: the model has one checkpoint, so the unrolled method holds the final model's gradients "
                         "and curvature for the whole run; train with --checkpoints C to record the path");

    std::vector<Model> models;
    std::vector<const Model*> modelPointers;
    for (int64_t c : plan.checkpoints)
        models.push_back(rebuildModel(plan.modelRecord, static_cast<int>(c)));
    for (const Model& m : models)
        modelPointers.push_back(&m);
    const std::string inputHash = featureInputHash(modelPointers, data.train, data.test, plan.features);
    if (!request.shard.whole()) {
        summary.shardJournal = featureJournalPath(path, request.shard);
        FeatureJournal share(summary.shardJournal, inputHash, progress);
        const auto tFeat = Clock::now();
        for (size_t ci = 0; ci < plan.checkpoints.size(); ++ci) {
            const int64_t c = plan.checkpoints[ci];
            summary.shardRows += share.featurizeShare(models[ci], data.train, plan.features, c, 0, request.shard,
                                                      progress, cancel);
            summary.shardRows += share.featurizeShare(models[ci], data.test, plan.features, c, 1, request.shard,
                                                      progress, cancel);
        }
        summary.featurizeSeconds = since(tFeat);
        return summary;
    }
    // Finished blocks of features go to a journal next to the file, so a featurization that is
    // killed or cancelled resumes where it stopped; it is removed once the file holds them.
    FeatureJournal journal(featureJournalPath(path), inputHash, progress);
    journal.absorbShards(progress);

    writeHdf5Atomically(path, true, [&](H5File& file) {
        std::shared_ptr<const KroneckerCurvature> curvature;
        if (isKronecker(plan.method)) {
            const auto tFit = Clock::now();
            KroneckerOptions kopt;
            kopt.layers = request.layers;
            kopt.fisher = request.fisher;
            kopt.seed = request.seed;
            kopt.batchSize = request.batchSize;
            progress.message("fitting " + plan.methodName + " factors (" + toString(request.fisher) + " Fisher, layers "
                             + request.layers + ")");
            curvature = KroneckerCurvature::fit(models.back(), data.train, kopt, plan.method == Method::Ekfac, progress,
                                                cancel);
            summary.spectrumSeconds += since(tFit);
        }
        const auto tFeat = Clock::now();
        const CheckpointFeatures features =
            featurizeCheckpoints(file, plan, request, models, data, journal, summary, progress, cancel);
        summary.featurizeSeconds = since(tFeat);
        const int64_t dimension = features.train.back().cols();
        std::vector<int64_t> ks = plan.ks;
        if (request.projection == ProjectionKind::None)
            ks = {dimension};
        for (int64_t k : ks)
            if (k > dimension)
                throw ConfigError("attribute: k=" + std::to_string(k) + " exceeds the feature dimension "
                                  + std::to_string(dimension));
        writeMethodGroup(file, plan, request, ks, summary.featureKeys);
        if (!usesLambda(plan.method))
            return;

        const auto tSpec = Clock::now();
        const auto caches = curvature
                                ? storeKronecker(file, plan, request, *curvature, models.back(), data, summary,
                                                 progress, cancel)
                                : decomposeSpectra(file, plan, request, ks, features, data, summary, progress, cancel);
        summary.spectrumSeconds += since(tSpec);
        const auto tSweep = Clock::now();
        summary.sensitivity = storeSensitivity(file, plan, request, caches, data.test.count, progress, cancel);
        summary.sweepSeconds = since(tSweep);
    });
    journal.remove();
    return summary;
}

} // namespace attri
