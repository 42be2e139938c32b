#include "workflows/lds_tables.h"

#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "store/atomic_write.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"

#include <cmath>

namespace attri {

LdsTablesResult computeLdsTables(const std::string& path, const LdsTablesRequest& request, ProgressSink& progress,
                                 const CancelToken& cancel)
{
    request.grid.validate();
    if (!request.importFrom.empty() && (request.subsets || request.alpha || request.seed || !request.shard.whole()))
        throw ConfigError("ground truth imported from " + request.importFrom
                          + " comes with its own subsets: --subsets, --alpha, --lds-seed and --shard do not apply");
    LdsTablesResult out;
    LdsOptions& o = out.options;
    o.workers = request.workers;
    o.replace = request.replace;
    DataRecord dataRecord;
    ModelRecord modelRecord;
    std::vector<std::string> methods;
    {
        H5File file(path, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        dataRecord = readDataRecord(file);
        modelRecord = readModelRecord(file);
        if (file.exists("/attribution"))
            methods = file.children("/attribution");
        if (!request.replace)
            if (auto stored = readGroundTruth(file)) {
                o.subsets = stored->options.subsets;
                o.alpha = stored->options.alpha;
                o.seed = stored->options.seed;
                // Models trained elsewhere cannot be retrained here (computeGroundTruth says so
                // when other subsets are asked for): read back as they are.
                if (!stored->importedFrom.empty() && !request.subsets && !request.alpha && !request.seed
                    && request.shard.whole() && request.importFrom.empty())
                    out.truth = std::move(stored);
            }
    }
    if (request.subsets)
        o.subsets = *request.subsets;
    if (request.alpha)
        o.alpha = *request.alpha;
    if (request.seed)
        o.seed = *request.seed;

    if (!request.importFrom.empty()) {
        out.truth = importGroundTruth(path, request.importFrom, request.replace);
        out.options = out.truth->options;
        progress.message("imported ground truth from " + request.importFrom + ": " + std::to_string(out.truth->subsets)
                         + " subset models (" + out.truth->recipeSummary + ")");
    } else if (!out.truth) {
        const DataBundle data = reloadData(dataRecord);
        if (!request.shard.whole()) {
            out.shardSubsetsTrained = computeGroundTruthShard(path, rebuildModel(modelRecord), modelRecord.recipe,
                                                              data.train, data.test, o, request.shard, progress,
                                                              cancel);
            out.shardFile = groundTruthPartialPath(path, request.shard);
            return out;
        }
        out.truth = computeGroundTruth(path, rebuildModel(modelRecord), modelRecord.recipe, data.train, data.test, o,
                                       progress, cancel);
    }
    for (const auto& method : methods)
        out.tables.push_back(ldsSweepTable(path, method, *out.truth, request.grid, progress, cancel));
    if (!out.tables.empty())
        writeHdf5Atomically(path, true, [&](H5File& file) {
            for (const auto& t : out.tables)
                writeSweepTable(file, t);
        });
    return out;
}

LdsBest bestOfColumn(const SweepTable& table, Eigen::Index column)
{
    LdsBest b;
    b.method = table.method;
    b.k = table.ks[static_cast<size_t>(column)];
    for (Eigen::Index g = 0; g < table.values.rows(); ++g)
        if (std::isfinite(table.values(g, column)) && (b.row < 0 || table.values(g, column) > table.values(b.row, column)))
            b.row = g;
    if (b.row < 0)
        return b;
    b.lds = table.values(b.row, column);
    b.lambda = table.absoluteLambdas(b.row, column);
    b.hasLambda = std::isfinite(b.lambda);
    b.relativeLambda = table.relativeLambdas[static_cast<size_t>(b.row)];
    return b;
}

} // namespace attri
