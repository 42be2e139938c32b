#include "attribution/attribution_job.h"

#include "attribution/dense_products.h"
#include "attribution/explicit_curvature.h"
#include "attribution/unrolled_path.h"
#include "common/error.h"
#include "common/runtime.h"
#include "features/feature_journal.h"
#include "features/featurizer.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <cmath>
#include <sstream>

namespace attri {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string methodGroup(Method m) { return "/attribution/" + toString(m); }

std::string joinKs(const std::vector<int64_t>& ks)
{
    std::ostringstream s;
    for (size_t i = 0; i < ks.size(); ++i)
        s << (i ? "," : "") << ks[i];
    return s.str();
}

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

struct LoadedExperiment {
    DataRecord dataRecord;
    ModelRecord modelRecord;
};

LoadedExperiment readRecords(const std::string& path)
{
    H5File file(path, H5File::Mode::ReadOnly);
    checkExperimentFile(file);
    return {readDataRecord(file), readModelRecord(file)};
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

/// The unrolled method replays the recorded SGD run: it needs its recipe, and gradient descent's.
void checkUnrolledRecipe(const std::string& path, const ModelRecord& model)
{
    if (!model.recipe)
        throw ConfigError(path + ": the unrolled method needs the model's training recipe (learning rate, momentum, "
                          "batch, epochs); import the model with its recipe options");
    if (model.recipe->optimizer != "sgd")
        throw ConfigError(path + ": the unrolled method unrolls SGD in closed form; this model was trained with "
                          + model.recipe->optimizer);
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

AttributionSummary runAttribution(const std::string& path, const AttributionRequest& request,
                                  ProgressSink& progress, const CancelToken& cancel)
{
    request.validate();
    LoadedExperiment exp = readRecords(path);
    const ModelRecord& modelRecord = exp.modelRecord;
    const Method method = parseMethod(request.method, request.projection, modelRecord.architecture);
    const std::string methodName = toString(method);
    if (method == Method::InfluenceExplicit && request.projection != ProjectionKind::None)
        throw ConfigError("attribute: explicit IF needs --proj none");
    if (method == Method::Unrolled)
        checkUnrolledRecipe(path, modelRecord);
    if (method == Method::Unrolled && request.projection == ProjectionKind::None)
        throw ConfigError("attribute: the unrolled method decomposes a k x k curvature at every checkpoint; choose a "
                          "projection (kron, gaussian, rademacher) instead of --proj none");

    progress.message("reloading " + exp.dataRecord.options.spec + " (" + std::to_string(exp.dataRecord.trainIndices.size())
                     + " train / " + std::to_string(exp.dataRecord.testIndices.size()) + " test)");
    DataBundle data = reloadData(exp.dataRecord);

    std::vector<int64_t> ks = request.ks;
    std::sort(ks.begin(), ks.end());
    ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
    FeatureOptions fopt;
    fopt.target = method == Method::Trak ? FeatureTarget::Margin : FeatureTarget::Loss;
    fopt.layers = request.layers;
    fopt.projection = request.projection;
    fopt.kMax = ks.back();
    fopt.seed = request.seed;
    fopt.batchSize = request.batchSize;
    fopt.validate();
    // Explicit IF: the curvature is a p×p matrix, so p must be small; check before featurizing.
    bool exactLrHessian = false;
    if (method == Method::InfluenceExplicit) {
        const Model model = rebuildModel(modelRecord);
        const int64_t p = selectedParameterCount(model, request.layers);
        if (p > kMaxExplicitParameters)
            throw ConfigError("attribute: explicit IF (--proj none) on " + std::to_string(p)
                              + " parameters of layers \"" + request.layers + "\" exceeds the explicit limit of "
                              + std::to_string(kMaxExplicitParameters)
                              + "; select fewer layers (e.g. --layers last) or choose a projection (kron)");
        exactLrHessian = isLogisticRegression(model) && p == model.parameterCount();
    }
    if (request.projection == ProjectionKind::None && method != Method::InfluenceExplicit && modelRecord.parameterCount > 200000)
        throw ConfigError("attribute: --proj none would store " + std::to_string(modelRecord.parameterCount)
                          + " values per sample; choose a projection (kron, gaussian, rademacher)");

    AttributionSummary summary;
    summary.method = method;
    const std::vector<int64_t> checkpoints = checkpointsFor(method, modelRecord);
    if (method == Method::Unrolled && checkpoints.size() == 1)
        progress.message("note: the model has one checkpoint, so the unrolled method holds the final model's gradients "
                         "and curvature for the whole run; train with --checkpoints C to record the path");

    // Finished blocks of features go to a journal next to the file, so a featurization that is
    // killed or cancelled resumes where it stopped; it is removed once the file holds them.
    std::vector<Model> models;
    std::vector<const Model*> modelPointers;
    for (int64_t c : checkpoints)
        models.push_back(rebuildModel(modelRecord, static_cast<int>(c)));
    for (const Model& m : models)
        modelPointers.push_back(&m);
    const std::string inputHash = featureInputHash(modelPointers, data.train, data.test, fopt);
    if (!request.shard.whole()) {
        summary.shardJournal = featureJournalPath(path, request.shard);
        FeatureJournal share(summary.shardJournal, inputHash, progress);
        const auto tFeat = Clock::now();
        for (size_t ci = 0; ci < checkpoints.size(); ++ci) {
            summary.shardRows += share.featurizeShare(models[ci], data.train, fopt, checkpoints[ci], 0, request.shard,
                                                      progress, cancel);
            summary.shardRows += share.featurizeShare(models[ci], data.test, fopt, checkpoints[ci], 1, request.shard,
                                                      progress, cancel);
        }
        summary.featurizeSeconds = since(tFeat);
        return summary;
    }
    FeatureJournal journal(featureJournalPath(path), inputHash, progress);
    journal.absorbShards(progress);

    writeHdf5Atomically(path, true, [&](H5File& file) {
        // 1. Features, streamed to the file and kept in memory for the spectra (O((n+m)·k)).
        std::vector<RowMatrixF> trainFeatures, testFeatures;
        std::vector<std::vector<float>> weights;
        const auto tFeat = Clock::now();
        for (size_t ci = 0; ci < checkpoints.size(); ++ci) {
            const int64_t c = checkpoints[ci];
            const Model& model = models[ci];
            FeatureRecord record;
            record.target = fopt.target;
            record.projection = fopt.projection;
            record.seed = fopt.seed;
            record.checkpoint = c;
            record.checkpointLr = modelRecord.checkpoints[static_cast<size_t>(c)].lr;
            record.trainCount = data.train.count;
            record.testCount = data.test.count;
            std::vector<std::string> layerNames = selectLayers(model, request.layers);
            std::string layers;
            for (const auto& l : layerNames)
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
                record.key =
                    featureKey(record.target, record.projection, record.dimension, record.seed, request.layers, c);
                createFeatureGroup(file, record);
                writeFeatureRows(file, record.key, "train", 0, train);
                writeFeatureRows(file, record.key, "test", 0, test);
                writeFeatureStats(file, record);
            }
            summary.featureKeys.push_back(record.key);
            std::vector<float> w;
            if (method == Method::Trak) {
                w.resize(record.trainStats.trueProb.size());
                for (size_t i = 0; i < w.size(); ++i)
                    w[i] = 1.0f - record.trainStats.trueProb[i];
            }
            weights.push_back(std::move(w));
            trainFeatures.push_back(std::move(train));
            testFeatures.push_back(std::move(test));
        }
        summary.featurizeSeconds = since(tFeat);
        const int64_t dimension = trainFeatures.back().cols();
        if (request.projection == ProjectionKind::None)
            ks = {dimension};
        for (int64_t k : ks)
            if (k > dimension)
                throw ConfigError("attribute: k=" + std::to_string(k) + " exceeds the feature dimension "
                                  + std::to_string(dimension));

        // 2. Spectra: one eigendecomposition per (checkpoint, k).
        const std::string group = methodGroup(method);
        if (file.exists(group))
            file.remove(group);
        file.createGroup(group);
        file.setAttr(group, "method", methodName);
        file.setAttr(group, "projection", toString(request.projection));
        file.setAttr(group, "layers", request.layers);
        file.setAttr(group, "seed", static_cast<int64_t>(request.seed));
        file.setAttr(group, "ks", ks);
        file.setAttr(group, "lambda_grid", request.grid.toString());
        file.setAttr(group, "sign_convention", std::string("tau = g'^T (H + lambda I)^-1 g_i; positive = proponent"));
        file.setAttr(group, "curvature_convention",
                     usesLambda(method) ? toString(curvatureConvention(method)) : std::string("none"));
        file.writeStrings(group + "/feature_keys", summary.featureKeys);
        if (!usesLambda(method))
            return;

        const auto tSpec = Clock::now();
        std::map<int64_t, std::shared_ptr<const SpectralCache>> lastCaches;
        std::optional<Eigen::MatrixXd> hessian;
        std::string curvatureKind = "fisher";
        if (method == Method::InfluenceExplicit && exactLrHessian) {
            progress.message("exact Hessian of the mean training loss (" + std::to_string(dimension) + " parameters)");
            hessian = logisticRegressionHessian(rebuildModel(modelRecord), data.train);
            curvatureKind = "hessian";
        } else if (method == Method::InfluenceExplicit) {
            progress.message("generalized Gauss-Newton of the mean training loss (" + std::to_string(dimension)
                             + " parameters, layers " + request.layers + ")");
            hessian = generalizedGaussNewton(rebuildModel(modelRecord), data.train, request.layers, request.batchSize,
                                             cancel);
            curvatureKind = "ggn";
        }
        for (size_t ci = 0; ci < checkpoints.size(); ++ci) {
            for (int64_t k : ks) {
                cancel.throwIfCancelled();
                const auto t0 = Clock::now();
                progress.message("eigendecomposition: checkpoint " + std::to_string(checkpoints[ci]) + ", k " + std::to_string(k));
                std::shared_ptr<const SpectralCache> cache =
                    hessian ? SpectralCache::fromCurvature(*hessian, trainFeatures[ci], testFeatures[ci],
                                                           curvatureConvention(method), weights[ci])
                            : SpectralCache::fromFeatures(trainFeatures[ci].leftCols(k), testFeatures[ci].leftCols(k),
                                                          curvatureConvention(method), weights[ci]);
                SpectrumRecord spectrum;
                spectrum.method = methodName;
                spectrum.k = k;
                spectrum.checkpoint = checkpoints[ci];
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
                if (ci + 1 == checkpoints.size())
                    lastCaches[k] = cache;
            }
        }
        summary.spectrumSeconds = since(tSpec);

        // 3. Sensitivity tables over λ × k (final checkpoint).
        const auto tSweep = Clock::now();
        SensitivityOptions sopt;
        sopt.grid = request.grid;
        sopt.topK = request.topK;
        const int64_t tests = std::min<int64_t>(request.sensitivityTests, data.test.count);
        for (int64_t t = 0; t < tests; ++t)
            sopt.testIndices.push_back(t);
        summary.sensitivity = lambdaSensitivity(lastCaches, sopt, progress, cancel);
        const SensitivityResult& r = *summary.sensitivity;
        writeSweepTable(file, toSweepTable(methodName, "spearman_next_lambda", r.lambdaSpearman, r, true));
        writeSweepTable(file, toSweepTable(methodName, "jaccard_next_lambda", r.lambdaJaccard, r, true));
        if (r.ks.size() > 1) {
            writeSweepTable(file, toSweepTable(methodName, "spearman_next_k", r.kSpearman, r, false));
            writeSweepTable(file, toSweepTable(methodName, "jaccard_next_k", r.kJaccard, r, false));
        }
        summary.sweepSeconds = since(tSweep);
    });
    journal.remove();
    return summary;
}

namespace {

std::optional<StoredMethod> storedMethod(const H5File& file, const std::string& methodName)
{
    // "if" parses as projected IF here (resolveInfluence for a projection, on any architecture).
    const Method method = parseMethod(methodName);
    // "if" may have been computed either way: prefer what the file holds.
    Method resolved = method;
    if (methodName == "if" && file.exists(methodGroup(Method::InfluenceExplicit)) && !file.exists(methodGroup(method)))
        resolved = Method::InfluenceExplicit;
    const std::string group = methodGroup(resolved);
    if (!file.exists(group))
        return std::nullopt;
    return StoredMethod{resolved, file.hasAttr(group, "ks") ? file.attrInts(group, "ks") : std::vector<int64_t>{}};
}

} // namespace

std::optional<StoredMethod> storedMethod(const std::string& experimentPath, const std::string& methodName)
{
    H5File file(experimentPath, H5File::Mode::ReadOnly);
    checkExperimentFile(file);
    return storedMethod(file, methodName);
}

std::shared_ptr<const AttributionSession> AttributionSession::open(const std::string& path, const std::string& methodName,
                                                                   int64_t k, ProgressSink& progress,
                                                                   const CancelToken& cancel)
{
    auto session = std::make_shared<AttributionSession>();
    H5File file(path, H5File::Mode::ReadOnly);
    checkExperimentFile(file);
    session->m_data = readDataRecord(file);
    session->m_model = readModelRecord(file);
    const std::optional<StoredMethod> stored = storedMethod(file, methodName);
    if (!stored)
        throw ConfigError(path + ": no attribution for method '" + methodName + "' yet; run `attriscope-cli attribute "
                          + path + " --method " + methodName + "` first");
    const Method resolved = stored->method;
    const std::string group = methodGroup(resolved);
    session->m_method = resolved;
    std::vector<std::string> keys = file.readStrings(group + "/feature_keys");
    session->m_ks = stored->ks;
    const int64_t dimension = findFeatureRecord(file, keys.back()).value().dimension;
    if (k <= 0)
        k = session->m_ks.empty() ? dimension : session->m_ks.back();
    if (attri::usesLambda(resolved) && std::find(session->m_ks.begin(), session->m_ks.end(), k) == session->m_ks.end())
        throw ConfigError(path + ": method " + toString(resolved) + " has no spectrum at k=" + std::to_string(k)
                          + " (stored: " + joinKs(session->m_ks) + ")");
    if (k > dimension)
        throw ConfigError(path + ": k=" + std::to_string(k) + " exceeds the stored feature dimension " + std::to_string(dimension));
    session->m_k = k;
    const std::string accepted = group + "/accepted";
    const std::string recommended = group + "/recommendation/k" + std::to_string(k);
    if (file.exists(accepted) && file.hasAttr(accepted, "k") && file.attrInt(accepted, "k") == k) {
        session->m_storedLambda = file.attrDouble(accepted, "lambda");
        session->m_storedLambdaSource = "accepted";
    } else if (file.exists(recommended)) {
        session->m_storedLambda = file.attrDouble(recommended, "lambda");
        session->m_storedLambdaSource = "recommended";
    }

    if (resolved == Method::Unrolled)
        checkUnrolledRecipe(path, session->m_model);
    std::vector<PathSegment> segments;
    const int64_t batch = session->m_model.recipe ? session->m_model.recipe->batchSize : 0;
    const int64_t stepsPerEpoch = batch > 0 ? (session->trainCount() + batch - 1) / batch : 0;
    double previousEpoch = 0.0;
    for (const auto& key : keys) {
        auto record = findFeatureRecord(file, key);
        if (!record)
            throw FormatError(path + ": features " + key + " are missing or incomplete");
        session->m_record = *record;
        session->m_lrs.push_back(record->checkpointLr);
        session->m_train.push_back(readFeatures(file, key, "train", k));
        session->m_test.push_back(readFeatures(file, key, "test", k));
        cancel.throwIfCancelled();
        if (resolved == Method::Trak) {
            std::vector<float> w(record->trainStats.trueProb.size());
            for (size_t i = 0; i < w.size(); ++i)
                w[i] = 1.0f - record->trainStats.trueProb[i];
            session->m_weights = w;
            progress.message("eigendecomposition k " + std::to_string(k) + ", checkpoint " + std::to_string(record->checkpoint));
            session->m_caches.push_back(SpectralCache::fromFeatures(session->m_train.back(), session->m_test.back(),
                                                                    CurvatureConvention::Sum, w));
        }
        if (resolved == Method::Unrolled) {
            const auto c = static_cast<size_t>(record->checkpoint);
            if (record->checkpoint < 0 || c >= session->m_model.checkpoints.size())
                throw FormatError(path + ": features " + key + " name checkpoint " + std::to_string(record->checkpoint)
                                  + ", which the model does not have");
            segments.push_back(pathSegmentAt(path, *record, session->m_model.checkpoints[c], stepsPerEpoch,
                                             session->trainCount(), previousEpoch));
        }
    }
    if (resolved == Method::Unrolled) {
        // The features are in place: the segments may now point at them.
        for (size_t s = 0; s < segments.size(); ++s)
            segments[s].trainFeatures = &session->m_train[s];
        progress.message("unrolling the training path: eigendecomposition at each of " + std::to_string(segments.size())
                         + " checkpoints, k " + std::to_string(k));
        session->m_unrolled = std::make_shared<const UnrolledPath>(
            UnrolledPath::build(segments, k, *session->m_model.recipe, kUnrolledSubsetFraction, progress, cancel));
    }
    if (resolved == Method::InfluenceProjected) {
        progress.message("eigendecomposition k " + std::to_string(k));
        session->m_caches.push_back(SpectralCache::fromFeatures(session->m_train.back(), session->m_test.back(),
                                                                CurvatureConvention::Mean));
    } else if (resolved == Method::InfluenceExplicit) {
        auto spectra = listSpectra(file, toString(resolved));
        if (spectra.empty())
            throw FormatError(path + ": explicit IF spectrum missing");
        const std::string base = group + "/explicit";
        std::vector<int64_t> shape;
        std::vector<float> tr = file.readFloats(base + "/train_rotated", &shape);
        RowMatrixF trainRotated = Eigen::Map<RowMatrixF>(tr.data(), shape[0], shape[1]);
        std::vector<float> te = file.readFloats(base + "/test_rotated", &shape);
        RowMatrixF testRotated = Eigen::Map<RowMatrixF>(te.data(), shape[0], shape[1]);
        session->m_caches.push_back(SpectralCache::fromRotated(spectra.back().eigenvalues, std::move(trainRotated),
                                                               std::move(testRotated), CurvatureConvention::Mean, {},
                                                               spectra.back().mostNegativeEigenvalue,
                                                               spectra.back().meanEigenvalue));
    }
    return session;
}

double AttributionSession::meanEigenvalue() const
{
    if (m_caches.empty())
        return 1.0;
    double sum = 0;
    for (const auto& c : m_caches)
        sum += c->meanEigenvalue();
    return sum / static_cast<double>(m_caches.size());
}

RowMatrixF AttributionSession::scores(const std::vector<int64_t>& tests, double lambda) const
{
    auto selectRows = [&](const RowMatrixF& m) {
        if (tests.empty())
            return m;
        RowMatrixF out(static_cast<Eigen::Index>(tests.size()), m.cols());
        for (size_t r = 0; r < tests.size(); ++r) {
            if (tests[r] < 0 || tests[r] >= m.rows())
                throw ConfigError("test index " + std::to_string(tests[r]) + " out of range (0.."
                                  + std::to_string(m.rows() - 1) + ")");
            out.row(static_cast<Eigen::Index>(r)) = m.row(tests[r]);
        }
        return out;
    };
    switch (m_method) {
    case Method::InfluenceExplicit:
    case Method::InfluenceProjected:
        return m_caches.front()->scoreMatrix(tests, lambda);
    case Method::Trak:
        return trakScores(m_caches, tests, lambda);
    case Method::TracIn: {
        std::vector<RowMatrixF> testSel;
        for (const auto& t : m_test)
            testSel.push_back(selectRows(t));
        return tracInScores(m_train, testSel, m_lrs);
    }
    case Method::GradDot:
        return gradDotScores(m_train.back(), selectRows(m_test.back()));
    case Method::GradCos:
        return gradCosScores(m_train.back(), selectRows(m_test.back()));
    case Method::Unrolled: {
        const Eigen::MatrixXf s = m_unrolled->scores(selectRows(m_test.back()).cast<double>(), CancelToken());
        return s;
    }
    }
    throw ConfigError("unknown method");
}

Eigen::VectorXf AttributionSession::scoresFor(int64_t test, double lambda) const
{
    if ((m_method == Method::InfluenceExplicit || m_method == Method::InfluenceProjected))
        return m_caches.front()->scores(test, lambda);
    RowMatrixF m = scores({test}, lambda);
    return m.row(0).transpose();
}

GroupScores::GroupScores(const AttributionSession& session, const RowMatrixF& groups) : m_session(&session)
{
    if (groups.cols() != session.trainCount())
        throw ConfigError("group scores: groups over " + std::to_string(groups.cols())
                          + " training points, the experiment has " + std::to_string(session.trainCount()));
    switch (session.method()) {
    case Method::InfluenceExplicit:
    case Method::InfluenceProjected:
    case Method::Trak:
        for (const auto& cache : session.caches())
            m_sides.push_back(cache->groupTrainSide(groups));
        return;
    default:
        m_fixed = productWithTransposedF(session.scores({}, 1.0), groups);
        return;
    }
}

RowMatrixF GroupScores::at(double lambda) const
{
    if (m_sides.empty())
        return m_fixed;
    const auto& caches = m_session->caches();
    RowMatrixF total = caches[0]->groupScoreMatrix(m_sides[0], lambda);
    for (size_t c = 1; c < caches.size(); ++c)
        total += caches[c]->groupScoreMatrix(m_sides[c], lambda);
    if (caches.size() > 1)
        total /= static_cast<float>(caches.size());
    return total;
}

double defaultLambda(const AttributionSession& session)
{
    if (auto stored = session.storedLambda())
        return *stored;
    return 0.1 * session.meanEigenvalue();
}

} // namespace attri
