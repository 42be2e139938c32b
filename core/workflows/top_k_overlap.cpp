#include "workflows/top_k_overlap.h"

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace attri {

void TopKOverlapRequest::validate() const
{
    if (test < 0)
        throw ConfigError("top-N overlap: the test point must be a row of the test set, got " + std::to_string(test));
    if (count < 1)
        throw ConfigError("top-N overlap: N must be at least 1, got " + std::to_string(count));
    grid.validate();
    if (!grid.relative)
        throw ConfigError("top-N overlap: the λ grid must be relative (multiples of the mean eigenvalue)");
    if (!(referenceRelativeLambda > 0.0) || !std::isfinite(referenceRelativeLambda))
        throw ConfigError("top-N overlap: the reference relative λ must be positive and finite");
}

namespace {

std::set<int64_t> proponentSet(const AttributionSession& session, int64_t test, double relativeLambda, int64_t count)
{
    const TopK top = topK(session.scoresFor(test, relativeLambda * session.meanEigenvalue()), count);
    std::set<int64_t> out;
    for (const RankedPoint& p : top.proponents)
        out.insert(p.index);
    return out;
}

} // namespace

TopKOverlap topKOverlap(const std::vector<std::shared_ptr<const AttributionSession>>& sessions,
                        const TopKOverlapRequest& request, const CancelToken& cancel)
{
    request.validate();
    if (sessions.empty())
        throw ConfigError("top-N overlap: no stored k to compare");
    std::vector<std::shared_ptr<const AttributionSession>> byK = sessions;
    for (const auto& s : byK)
        if (!s)
            throw ConfigError("top-N overlap: a session is missing");
    std::sort(byK.begin(), byK.end(), [](const auto& a, const auto& b) { return a->k() < b->k(); });
    const AttributionSession& first = *byK.front();
    if (!first.usesLambda())
        throw ConfigError("top-N overlap: " + toString(first.method()) + " has no λ to vary");
    for (const auto& s : byK)
        if (s->method() != first.method() || s->trainCount() != first.trainCount()
            || s->testCount() != first.testCount())
            throw ConfigError("top-N overlap: the sessions are not one method on one data set");
    if (request.test >= first.testCount())
        throw ConfigError("top-N overlap: test point " + std::to_string(request.test) + " is out of range (the "
                          "experiment has " + std::to_string(first.testCount()) + " test points)");
    const auto ref = std::find_if(byK.begin(), byK.end(), [&](const auto& s) { return s->k() == request.referenceK; });
    if (ref == byK.end())
        throw ConfigError("top-N overlap: the reference k " + std::to_string(request.referenceK)
                          + " is not stored for " + toString(first.method()));

    TopKOverlap out;
    out.relativeLambdas = request.grid.values;
    out.referenceRelativeLambda = request.referenceRelativeLambda;
    out.referenceK = request.referenceK;
    const int64_t count = std::min(request.count, first.trainCount());
    out.reference = topK((*ref)->scoresFor(request.test, request.referenceRelativeLambda * (*ref)->meanEigenvalue()),
                         count)
                        .proponents;
    std::set<int64_t> referenceSet;
    for (const RankedPoint& p : out.reference)
        referenceSet.insert(p.index);
    const auto rows = static_cast<Eigen::Index>(out.relativeLambdas.size());
    const auto cols = static_cast<Eigen::Index>(byK.size());
    out.overlap.resize(rows, cols);
    out.cellsKept.assign(out.reference.size(), 0);
    for (Eigen::Index c = 0; c < cols; ++c) {
        const AttributionSession& session = *byK[static_cast<size_t>(c)];
        out.ks.push_back(session.k());
        for (Eigen::Index r = 0; r < rows; ++r) {
            cancel.throwIfCancelled();
            const std::set<int64_t> cell =
                proponentSet(session, request.test, out.relativeLambdas[static_cast<size_t>(r)], count);
            int64_t shared = 0;
            for (size_t i = 0; i < out.reference.size(); ++i)
                if (cell.count(out.reference[i].index)) {
                    ++shared;
                    ++out.cellsKept[i];
                }
            out.overlap(r, c) = static_cast<double>(shared) / static_cast<double>(count);
        }
    }
    return out;
}

TopKOverlap topKOverlap(const std::string& experimentPath, const std::string& method,
                        const TopKOverlapRequest& request, ProgressSink& progress, const CancelToken& cancel)
{
    request.validate();
    const std::optional<StoredMethod> stored = storedMethod(experimentPath, method);
    if (!stored)
        throw ConfigError(experimentPath + ": method '" + method + "' was not computed (run `attriscope-cli "
                          "attribute " + experimentPath + " --method " + method + "` first)");
    std::vector<int64_t> ks = stored->ks;
    if (ks.empty())
        ks.push_back(0);
    std::vector<std::shared_ptr<const AttributionSession>> sessions;
    NullProgress quiet;
    progress.begin("loading each k", static_cast<int64_t>(ks.size()));
    for (size_t i = 0; i < ks.size(); ++i) {
        sessions.push_back(AttributionSession::open(experimentPath, method, ks[i], quiet, cancel));
        progress.advance(static_cast<int64_t>(i + 1));
    }
    return topKOverlap(sessions, request, cancel);
}

} // namespace attri
