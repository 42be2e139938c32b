#include "experiment_content.h"

#include "common/error.h"
#include "eval/ground_truth.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/trainer.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace attri::ui {

namespace {
const std::string kAttribution = "/attribution";
std::string acceptedGroup(const std::string& method)
{
    return kAttribution + "/" + method + "/accepted";
}
} // namespace

std::vector<int64_t> ExperimentContent::ksFor(const std::string& method) const
{
    std::set<int64_t> ks;
    for (const auto& s : spectra)
        if (s.method == method)
            ks.insert(s.k);
    return {ks.begin(), ks.end()};
}

std::vector<const SweepTable*> ExperimentContent::sweepsFor(const std::string& method) const
{
    std::vector<const SweepTable*> out;
    for (const auto& t : sweeps)
        if (t.method == method)
            out.push_back(&t);
    return out;
}

const SweepTable* ExperimentContent::sweep(const std::string& method, const std::string& quantity) const
{
    for (const auto& t : sweeps)
        if (t.method == method && t.quantity == quantity)
            return &t;
    return nullptr;
}

const StoredRecommendation* ExperimentContent::recommendation(const std::string& method, int64_t k) const
{
    for (const auto& r : recommendations)
        if (r.method == method && r.k == k)
            return &r;
    return nullptr;
}

std::string ExperimentContent::className(int64_t label) const
{
    const auto& names = dataRecord.classNames;
    if (label >= 0 && label < static_cast<int64_t>(names.size())
        && !names[static_cast<size_t>(label)].empty())
        return names[static_cast<size_t>(label)];
    return std::to_string(label);
}

std::optional<AcceptedLambda> readAcceptedLambda(const H5File& file, const std::string& method)
{
    const std::string g = acceptedGroup(method);
    if (!file.exists(g))
        return std::nullopt;
    AcceptedLambda a;
    a.method = method;
    a.lambda = file.attrDouble(g, "lambda");
    a.relativeLambda = file.attrDouble(g, "relative_lambda");
    a.k = file.attrInt(g, "k");
    a.rule = file.attrString(g, "rule");
    a.user = file.hasAttr(g, "user") ? file.attrString(g, "user") : std::string();
    a.time = file.hasAttr(g, "time") ? file.attrString(g, "time") : std::string();
    a.convention =
        file.hasAttr(g, "curvature_convention") ? file.attrString(g, "curvature_convention") : std::string();
    return a;
}

void writeAcceptedLambda(const std::string& path, const std::string& method,
                         const std::optional<AcceptedLambda>& value)
{
    writeHdf5Atomically(path, true, [&](H5File& file) {
        checkExperimentFile(file);
        const std::string g = acceptedGroup(method);
        if (file.exists(g))
            file.remove(g);
        if (!value)
            return;
        file.createGroup(g);
        file.setAttr(g, "lambda", value->lambda);
        file.setAttr(g, "relative_lambda", value->relativeLambda);
        file.setAttr(g, "k", value->k);
        file.setAttr(g, "rule", value->rule);
        file.setAttr(g, "user", value->user);
        file.setAttr(g, "time", value->time);
        file.setAttr(g, "curvature_convention", value->convention);
    });
}

std::vector<StoredRecommendation> readRecommendations(const H5File& file) { return listRecommendations(file); }

void writeRecommendation(const std::string& path, const StoredRecommendation& rec)
{
    writeHdf5Atomically(path, true, [&](H5File& file) {
        checkExperimentFile(file);
        attri::writeRecommendation(file, rec);
    });
}

std::shared_ptr<const ExperimentContent>
loadExperimentContent(const std::string& path, ProgressSink& progress, const CancelToken& cancel)
{
    auto c = std::make_shared<ExperimentContent>();
    c->path = path;
    progress.begin("reading the experiment", 3);
    {
        H5File file(path, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        c->dataRecord = readDataRecord(file);
        c->modelRecord = readModelRecord(file);
        for (const Checkpoint& cp : c->modelRecord.checkpoints) {
            double squares = 0;
            for (const ParamTensor& t : cp.params)
                for (float v : t.values)
                    squares += static_cast<double>(v) * v;
            c->checkpointNorms.push_back(std::sqrt(squares));
        }
        if (file.exists(kAttribution))
            c->methods = file.children(kAttribution);
        c->sweeps = listSweepTables(file);
        c->spectra = listSpectra(file);
        for (const auto& m : c->methods)
            if (auto a = readAcceptedLambda(file, m))
                c->accepted[m] = *a;
        c->recommendations = readRecommendations(file);
        c->hasGroundTruth = file.exists("/ground_truth");
        if (c->hasGroundTruth && file.hasAttr("/ground_truth", "subsets"))
            c->groundTruthSubsets = file.attrInt("/ground_truth", "subsets");
        if (c->hasGroundTruth && file.hasAttr("/ground_truth", "imported_from"))
            c->groundTruthImportedFrom = file.attrString("/ground_truth", "imported_from");
    }
    c->summary = describeExperimentFile(path);
    progress.advance(1);
    cancel.throwIfCancelled();
    try {
        auto data = std::make_shared<DataBundle>(reloadData(c->dataRecord));
        progress.advance(2);
        cancel.throwIfCancelled();
        try {
            Model model = rebuildModel(c->modelRecord);
            c->testPredicted = predictLabels(model, data->test);
            c->testLoss = perSampleLoss(model, data->test);
        } catch (const Cancelled&) {
            throw;
        } catch (const std::exception&) {
            // An imported model whose source moved: images still show, without predictions.
        }
        c->data = std::move(data);
    } catch (const Cancelled&) {
        throw;
    } catch (const std::exception& e) {
        c->dataError = e.what();
    }
    progress.advance(3);
    return c;
}

} // namespace attri::ui
