#include "report.h"

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "data/data_loader.h"
#include "tuning/top_k.h"
#include "workflows/attribute.h"
#include "workflows/lds_tables.h"
#include "workflows/recommend.h"
#include "workflows/top_k_overlap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace attri::cli {

void printAttributionSummary(const AttributionSummary& s, const std::string& path)
{
    std::printf("method %s: features %.1f s, spectra %.1f s, sweep %.1f s\n", toString(s.method).c_str(),
                s.featurizeSeconds, s.spectrumSeconds, s.sweepSeconds);
    for (const auto& key : s.featureKeys)
        std::printf("  features /features/%s\n", key.c_str());
    for (const auto& sp : s.spectra)
        std::printf("  k %6lld checkpoint %lld: mean eigenvalue %.4g, most negative %.3g, %.2f s\n",
                    static_cast<long long>(sp.k), static_cast<long long>(sp.checkpoint), sp.meanEigenvalue,
                    sp.mostNegativeEigenvalue, sp.seconds);
    if (s.sensitivity) {
        const SensitivityResult& sr = *s.sensitivity;
        std::printf("rank stability between neighbouring λ (mean Spearman over %zu test points):\n  relative λ ",
                    sr.testIndices.size());
        for (int64_t k : sr.ks)
            std::printf(" %8lld", static_cast<long long>(k));
        std::printf("\n");
        for (int64_t j = 0; j < sr.lambdaSpearman.rows; ++j) {
            std::printf("  %10.2e ", sr.grid.values[static_cast<size_t>(j)]);
            for (int64_t c = 0; c < sr.lambdaSpearman.cols; ++c)
                std::printf(" %8.3f", sr.lambdaSpearman.at(j, c));
            std::printf("\n");
        }
    }
    std::printf("stored in %s\n", path.c_str());
}

void printRecommendation(const RecommendResult& result, double pathBudget)
{
    const LambdaRecommendation& rec = result.recommendation;
    std::printf("recommended λ = %.6g (relative %.4g × mean eigenvalue %.4g), rule %s, %.2f s\n", rec.lambda,
                rec.relativeLambda, result.meanEigenvalue, toString(rec.rule).c_str(), rec.seconds);
    if (!rec.reason.empty())
        std::printf("why: %s\n", rec.reason.c_str());
    std::printf("inputs: %s\n", rec.inputs.c_str());
    if (!result.noPathReason.empty())
        std::printf("no training path used: %s\n", result.noPathReason.c_str());
    if (std::isfinite(rec.pathBudgetSeconds) && std::isfinite(rec.retrainSeconds))
        std::printf("path budget: %.3g s (%g of the estimated %.4g s of retraining 50 models, %s)\n",
                    rec.pathBudgetSeconds, pathBudget, rec.retrainSeconds, rec.retrainEstimate.c_str());
    if (rec.pathStability > 1.0)
        std::printf("warning: the recorded run steps beyond gradient descent's stability limit on its own curvature "
                    "(lr·μ_max/c is %.3g × 2(1 + momentum)): it is unstable along its top directions, the unrolled path "
                    "does not describe it, and this λ is not to be trusted; use the default rule\n",
                    rec.pathStability);
    if (rec.meanXi.size() > 0) {
        const bool match = rec.rule == SelectorRule::PathMatch || rec.rule == SelectorRule::PathOrPrior;
        std::printf("%s: peak %.4f, peakedness %.4f, plateau %.2f decades\n",
                    match ? "mean cosine with the unrolled scores (λ)" : "mean ξ(λ)", rec.meanXi.maxCoeff(),
                    rec.peakedness, rec.plateauWidthDecades);
        for (Eigen::Index g = 0; g < rec.meanXi.size(); g += 4)
            std::printf("  λ %10.4g  %s %7.4f\n", rec.lambdas[static_cast<size_t>(g)], match ? "cosine" : "ξ",
                        rec.meanXi[g]);
    }
    if (result.evidence && result.truth) {
        const LdsEvidence& e = *result.evidence;
        std::printf("ground truth: LDS %.4f at the recommended λ, best %.4f at λ %.4g (ratio %.3f; 90%% interval "
                    "%.3f–%.3f and ≥ 0.95 in %.0f%% of %d resamples of the %lld subsets and the test points)\n",
                    e.atLambda.mean, e.bestLds, e.bestLambda, e.ratio, e.interval.low, e.interval.high,
                    100.0 * e.interval.shareAbove, e.interval.resamples, static_cast<long long>(result.truth->subsets));
        if (result.truth->seconds > 0)
            std::printf("cost: %.4g s, %.3g%% of the %.4g s of retraining behind the stored ground truth (%lld models)\n",
                        rec.seconds, 100.0 * rec.seconds / result.truth->seconds, result.truth->seconds,
                        static_cast<long long>(result.truth->subsets));
    }
}

void printTopK(const AttributionSession& session, int64_t test, double lambda, int64_t n)
{
    if (test < 0 || test >= session.testCount())
        throw ConfigError("--test " + std::to_string(test) + " out of range (0.." + std::to_string(session.testCount() - 1) + ")");
    const Eigen::VectorXf s = session.scoresFor(test, lambda);
    const TopK top = topK(s, n);
    const DataBundle data = reloadData(session.data());
    const auto& names = session.data().classNames;
    auto label = [&](int64_t y) {
        return y >= 0 && y < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(y)] : std::to_string(y);
    };
    std::printf("test point %lld (label %s), %s k=%lld lambda=%.6g (relative %.6g)\n", static_cast<long long>(test),
                label(data.test.labels[static_cast<size_t>(test)]).c_str(), toString(session.method()).c_str(),
                static_cast<long long>(session.k()), lambda, lambda / session.meanEigenvalue());
    std::printf("proponents (up-weighting lowers the test loss):\n");
    for (const auto& r : top.proponents)
        std::printf("  train %6lld  score %+.6g  label %s\n", static_cast<long long>(r.index), r.score,
                    label(data.train.labels[static_cast<size_t>(r.index)]).c_str());
    std::printf("opponents:\n");
    for (const auto& r : top.opponents)
        std::printf("  train %6lld  score %+.6g  label %s\n", static_cast<long long>(r.index), r.score,
                    label(data.train.labels[static_cast<size_t>(r.index)]).c_str());
}

void printTopKOverlap(const TopKOverlap& o)
{
    const auto n = static_cast<long long>(o.reference.size());
    std::printf("\nshare of these %lld proponents still in the top %lld (reference: k=%lld, relative lambda %.3g):\n",
                n, n, static_cast<long long>(o.referenceK), o.referenceRelativeLambda);
    std::printf("  %-12s", "rel. lambda");
    for (int64_t k : o.ks)
        std::printf(" %7s", ("k=" + std::to_string(k)).c_str());
    std::printf("\n");
    for (Eigen::Index r = 0; r < o.overlap.rows(); ++r) {
        std::printf("  %-12.3g", o.relativeLambdas[static_cast<size_t>(r)]);
        for (Eigen::Index c = 0; c < o.overlap.cols(); ++c)
            std::printf(" %7.2f", o.overlap(r, c));
        std::printf("\n");
    }
    std::printf("robustness: settings (of %lld) whose top %lld still holds each proponent:\n",
                static_cast<long long>(o.cells()), n);
    for (size_t i = 0; i < o.reference.size(); ++i)
        std::printf("  train %6lld  %4lld  (%.0f%%)\n", static_cast<long long>(o.reference[i].index),
                    static_cast<long long>(o.cellsKept[i]),
                    100.0 * static_cast<double>(o.cellsKept[i]) / static_cast<double>(std::max<int64_t>(1, o.cells())));
}

void printLdsTable(const SweepTable& table, bool curve)
{
    for (Eigen::Index c = 0; c < table.values.cols(); ++c) {
        const LdsBest b = bestOfColumn(table, c);
        const auto k = static_cast<long long>(b.k);
        if (b.row < 0)
            std::printf("%-14s k %6lld: no finite LDS\n", table.method.c_str(), k);
        else if (!b.hasLambda)
            std::printf("%-14s k %6lld: LDS %.4f (no λ)\n", table.method.c_str(), k, b.lds);
        else
            std::printf("%-14s k %6lld: best LDS %.4f at λ %.4g (relative %.3g)\n", table.method.c_str(), k, b.lds,
                        b.lambda, b.relativeLambda);
        if (curve && b.row >= 0 && b.hasLambda) {
            std::printf("  %12s %12s %8s\n", "relative", "lambda", "LDS");
            for (Eigen::Index g = 0; g < table.values.rows(); ++g)
                std::printf("  %12.4g %12.4g %8.4f%s\n", table.relativeLambdas[static_cast<size_t>(g)],
                            table.absoluteLambdas(g, c), table.values(g, c), g == b.row ? "  best" : "");
        }
    }
}

} // namespace attri::cli
