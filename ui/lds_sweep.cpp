#include "lds_sweep.h"

#include "attribution/attribution_job.h"
#include "eval/ground_truth.h"
#include "eval/lds.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"

#include <cmath>

namespace attri::ui {

SweepTable ldsSweepTable(const std::string& path, const std::string& method, const GroundTruth& truth,
                         const LambdaGrid& grid, ProgressSink& progress, const CancelToken& cancel)
{
    auto probe = AttributionSession::open(path, method, 0, progress, cancel);
    std::vector<int64_t> ks = probe->usesLambda() ? probe->availableKs() : std::vector<int64_t>{probe->k()};
    if (ks.empty() || probe->method() == Method::InfluenceExplicit)
        ks = {probe->k()};
    SweepTable table;
    table.method = method;
    table.quantity = "lds";
    table.relativeLambdas = grid.values;
    table.ks = ks;
    const auto rows = static_cast<Eigen::Index>(grid.values.size());
    table.values.resize(rows, static_cast<Eigen::Index>(ks.size()));
    table.absoluteLambdas.resizeLike(table.values);
    progress.begin("LDS " + method, static_cast<int64_t>(ks.size() * grid.values.size()));
    int64_t done = 0;
    for (size_t c = 0; c < ks.size(); ++c) {
        auto session =
            ks[c] == probe->k() ? probe : AttributionSession::open(path, method, ks[c], progress, cancel);
        const std::vector<double> lambdas = grid.toAbsolute(session->meanEigenvalue());
        for (size_t g = 0; g < lambdas.size(); ++g) {
            cancel.throwIfCancelled();
            const double l = session->usesLambda() ? lambdas[g] : 1.0;
            table.values(static_cast<Eigen::Index>(g), static_cast<Eigen::Index>(c)) =
                computeLds(session->scores({}, l), truth).mean;
            table.absoluteLambdas(static_cast<Eigen::Index>(g), static_cast<Eigen::Index>(c)) =
                session->usesLambda() ? lambdas[g] : std::nan("");
            progress.advance(++done);
        }
    }
    return table;
}

void computeGroundTruthAndLds(const std::string& path, int64_t subsets, ProgressSink& progress,
                              const CancelToken& cancel)
{
    LdsOptions options;
    options.subsets = subsets;
    const GroundTruth truth = computeGroundTruth(path, options, progress, cancel);
    std::vector<std::string> methods;
    {
        H5File file(path, H5File::Mode::ReadOnly);
        if (file.exists("/attribution"))
            methods = file.children("/attribution");
    }
    std::vector<SweepTable> tables;
    for (const auto& m : methods) {
        auto probe = AttributionSession::open(path, m, 0, progress, cancel);
        if (!probe->usesLambda())
            continue;
        tables.push_back(ldsSweepTable(path, m, truth, LambdaGrid::defaultRelative(), progress, cancel));
    }
    if (!tables.empty())
        writeHdf5Atomically(path, true, [&](H5File& file) {
            for (const auto& t : tables)
                writeSweepTable(file, t);
        });
}

} // namespace attri::ui
