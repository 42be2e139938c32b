#include "lds_sweep.h"

#include "attribution/attribution_job.h"
#include "eval/ground_truth.h"
#include "eval/lds.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"
#include "tuning/sweep_tables.h"

#include <cmath>

namespace attri::ui {

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
        // Read what is stored, not opened (opening decomposes the curvature at the largest k).
        const std::optional<StoredMethod> stored = storedMethod(path, m);
        if (!stored || !usesLambda(stored->method))
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
