#include "attribution/attribution_session.h"

#include "attribution/dense_products.h"
#include "attribution/explicit_curvature.h"
#include "attribution/unrolled_path.h"
#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/h5_file.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

namespace attri {

namespace {

std::string joinKs(const std::vector<int64_t>& ks)
{
    std::ostringstream s;
    for (size_t i = 0; i < ks.size(); ++i)
        s << (i ? "," : "") << ks[i];
    return s.str();
}

} // namespace

std::string attributionGroup(Method method) { return "/attribution/" + toString(method); }

void checkUnrolledRecipe(const std::string& path, const ModelRecord& model)
{
    if (!model.recipe)
        throw ConfigError(path + ": the unrolled method needs the model's training recipe (learning rate, momentum, "
                          "batch, epochs); import the model with its recipe options");
    if (model.recipe->optimizer != "sgd")
        throw ConfigError(path + ": the unrolled method unrolls SGD in closed form; this model was trained with "
                          + model.recipe->optimizer);
    if (!model.recipe->constantRate())
        throw ConfigError(path + ": the unrolled method unrolls a constant learning rate; this model's follows the "
                          + model.recipe->scheduleText() + " schedule");
}

namespace {

std::optional<StoredMethod> storedMethod(const H5File& file, const std::string& methodName)
{
    // "if" parses as projected IF here (resolveInfluence for a projection, on any architecture).
    const Method method = parseMethod(methodName);
    // "if" may have been computed either way: prefer what the file holds.
    Method resolved = method;
    if (methodName == "if" && file.exists(attributionGroup(Method::InfluenceExplicit)) && !file.exists(attributionGroup(method)))
        resolved = Method::InfluenceExplicit;
    const std::string group = attributionGroup(resolved);
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
    const std::string group = attributionGroup(resolved);
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
    } else if (usesFullGradients(resolved)) {
        auto spectra = listSpectra(file, toString(resolved));
        if (spectra.empty())
            throw FormatError(path + ": the " + toString(resolved) + " spectrum is missing");
        const std::string base = group + (resolved == Method::InfluenceExplicit ? "/explicit" : "/kronecker");
        if (!file.exists(base + "/train_rotated") || !file.exists(base + "/test_rotated"))
            throw FormatError(path + ": " + base + " lacks its rotated gradients (train_rotated, test_rotated)");
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
    case Method::Kfac:
    case Method::Ekfac:
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
    if (m_method == Method::InfluenceExplicit || m_method == Method::InfluenceProjected || isKronecker(m_method))
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
    case Method::Kfac:
    case Method::Ekfac:
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
