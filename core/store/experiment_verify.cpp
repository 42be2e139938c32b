// `verify`: every checksum, then the schema, shapes and finiteness of each record; and the
// removal of damaged parts that the rest of the file can recompute.
#include "store/experiment_verify.h"

#include "common/error.h"
#include "store/atomic_write.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

namespace attri {

namespace {

std::vector<std::string> components(const std::string& path)
{
    std::vector<std::string> out;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '/'))
        if (!part.empty())
            out.push_back(part);
    return out;
}

/// The record a damaged object belongs to, and what recomputes it.
DamagedPart classify(const std::string& object, const std::string& problem)
{
    DamagedPart part;
    part.object = object;
    part.problem = problem;
    const std::vector<std::string> c = components(object);
    if (c.empty() || c[0] == "data" || c[0] == "model") {
        part.unit = c.empty() ? "/" : "/" + c[0];
        part.remedy = DamagedPart::Remedy::Source;
    } else if (c[0] == "features" && c.size() >= 2) {
        part.unit = "/features/" + c[1];
        part.remedy = DamagedPart::Remedy::Features;
    } else if (c[0] == "attribution" && c.size() >= 4 && c[2] == "recommendation") {
        part.unit = "/attribution/" + c[1] + "/recommendation/" + c[3];
        part.remedy = DamagedPart::Remedy::Recommendation;
        part.method = c[1];
        try {
            part.k = c[3].size() > 1 && c[3][0] == 'k' ? std::stoll(c[3].substr(1)) : 0;
        } catch (const std::exception&) {
            part.k = 0;
        }
    } else if (c[0] == "attribution" && c.size() >= 2) {
        part.unit = "/attribution/" + c[1];
        part.remedy = DamagedPart::Remedy::Attribution;
        part.method = c[1];
    } else if (c[0] == "ground_truth") {
        part.unit = "/ground_truth";
        part.remedy = DamagedPart::Remedy::GroundTruth;
    } else if (c[0] == "checks" && c.size() >= 3) {
        part.unit = "/checks/" + c[1] + "/" + c[2];
        part.remedy = DamagedPart::Remedy::Check;
    } else {
        // A whole group of records (/features, /attribution, /checks) or something unknown.
        part.unit = "/" + c[0];
        part.remedy = c[0] == "features"      ? DamagedPart::Remedy::Features
                      : c[0] == "attribution" ? DamagedPart::Remedy::Attribution
                      : c[0] == "checks"      ? DamagedPart::Remedy::Check
                                              : DamagedPart::Remedy::Source;
    }
    return part;
}

bool within(const std::string& path, const std::string& unit)
{
    return unit == "/" || path == unit || path.rfind(unit + "/", 0) == 0;
}

template <typename T> bool allFinite(const T* values, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (!std::isfinite(values[i]))
            return false;
    return true;
}

/// The schema, shapes and finiteness of each record; each problem is reported against the
/// object it concerns.
void checkRecords(const H5File& file,
                  const std::function<void(const std::string&, const std::string&)>& report)
{
    auto attempt = [&](const std::string& object, const std::function<void()>& check) {
        try {
            check();
        } catch (const DamagedDataError& e) {
            report(e.object(), e.what());
        } catch (const Error& e) {
            report(object, e.what());
        }
    };
    attempt("/", [&] { checkExperimentFile(file); });
    int64_t trainCount = -1;
    int64_t testCount = -1;
    attempt("/data", [&] {
        const DataRecord data = readDataRecord(file);
        trainCount = static_cast<int64_t>(data.trainIndices.size());
        testCount = static_cast<int64_t>(data.testIndices.size());
    });
    attempt("/model", [&] { readModelRecord(file); });
    std::vector<FeatureRecord> features;
    attempt("/features", [&] { features = listFeatureRecords(file); });
    for (const FeatureRecord& r : features) {
        for (const char* split : {"train", "test"}) {
            const std::string path = "/features/" + r.key + "/" + split;
            attempt(path, [&] {
                const RowMatrixF m = readFeatures(file, r.key, split);
                const int64_t expected = std::string(split) == "train" ? trainCount : testCount;
                if (expected >= 0 && m.rows() != expected)
                    throw FormatError(file.path() + ": " + path + " has " + std::to_string(m.rows())
                                      + " rows but the data record holds " + std::to_string(expected)
                                      + " points");
                if (m.cols() != r.dimension)
                    throw FormatError(file.path() + ": " + path + " has " + std::to_string(m.cols())
                                      + " columns but its record says dimension "
                                      + std::to_string(r.dimension));
                if (!allFinite(m.data(), static_cast<size_t>(m.size())))
                    throw FormatError(file.path() + ": " + path + " holds non-finite values");
            });
        }
    }
    std::vector<SpectrumRecord> spectra;
    attempt("/attribution", [&] { spectra = listSpectra(file); });
    for (const SpectrumRecord& s : spectra) {
        const std::string path = "/attribution/" + s.method + "/spectra";
        attempt(path, [&] {
            if (!allFinite(s.eigenvalues.data(), static_cast<size_t>(s.eigenvalues.size()))
                || !std::isfinite(s.meanEigenvalue))
                throw FormatError(file.path() + ": a spectrum under " + path + " (k " + std::to_string(s.k)
                                  + ") holds non-finite eigenvalues");
        });
    }
    attempt("/attribution", [&] {
        for (const SweepTable& t : listSweepTables(file))
            if (t.values.rows() != static_cast<int64_t>(t.relativeLambdas.size())
                || t.values.cols() != static_cast<int64_t>(t.ks.size()))
                throw FormatError(file.path() + ": /attribution/" + t.method + "/sweeps/" + t.quantity
                                  + " does not match its λ and k axes");
    });
    std::vector<RecommendationRecord> recommendations;
    attempt("/attribution", [&] { recommendations = listRecommendations(file); });
    for (const RecommendationRecord& r : recommendations) {
        const std::string path = "/attribution/" + r.method + "/recommendation/k" + std::to_string(r.k);
        attempt(path, [&] {
            if (!std::isfinite(r.lambda) || r.lambda <= 0 || !allFinite(r.lambdas.data(), r.lambdas.size()))
                throw FormatError(file.path() + ": " + path + " holds a λ that is not positive and finite");
        });
    }
    if (file.exists("/ground_truth"))
        attempt("/ground_truth", [&] {
            std::vector<int64_t> shape;
            const std::vector<double> loss = file.readDoubles("/ground_truth/test_loss", &shape);
            if (shape.size() != 2 || (testCount >= 0 && shape[1] != testCount))
                throw FormatError(file.path()
                                  + ": /ground_truth/test_loss does not have one column per test point");
            if (!allFinite(loss.data(), loss.size()))
                throw FormatError(file.path() + ": /ground_truth/test_loss holds non-finite values");
        });
}

} // namespace

ExperimentVerification verifyExperimentFile(const std::string& path)
{
    ExperimentVerification out;
    out.path = path;
    auto add = [&](const std::string& object, const std::string& problem) {
        for (const DamagedPart& p : out.damaged)
            if (within(object, p.unit))
                return; // one finding per record: the first says what is wrong
        out.damaged.push_back(classify(object, problem));
    };
    try {
        H5File file(path, H5File::Mode::ReadOnly);
        out.opened = true;
        out.checksummed = file.checksummed();
        for (const H5Damage& d : file.checkIntegrity([&](const std::string&) { ++out.objectsChecked; }))
            add(d.object, d.problem);
        checkRecords(file, add);
    } catch (const DamagedDataError& e) {
        add(e.object(), e.what());
    } catch (const FormatError& e) {
        add("/", e.what());
    }
    return out;
}

std::vector<DamagedPart> removeDamagedParts(const ExperimentVerification& verification)
{
    std::vector<DamagedPart> removed;
    for (const DamagedPart& p : verification.damaged)
        if (p.remedy == DamagedPart::Remedy::Source)
            throw DamagedDataError(
                verification.path, p.object,
                "the experiment's data record, model or file structure; nothing in the file "
                "can recompute it: train or import the model again");
    for (const DamagedPart& p : verification.damaged)
        if (std::none_of(removed.begin(), removed.end(),
                         [&](const DamagedPart& r) { return within(p.unit, r.unit); }))
            removed.push_back(p);
    if (removed.empty())
        return removed;
    writeHdf5Atomically(verification.path, false, [&](H5File& file) {
        const H5File source(verification.path, H5File::Mode::ReadOnly);
        H5File::copyContents(source, file, [&](const std::string& p) {
            return std::any_of(removed.begin(), removed.end(),
                               [&](const DamagedPart& r) { return within(p, r.unit); });
        });
    });
    return removed;
}

} // namespace attri
