#pragma once

#include "data/data_loader.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attri {
class H5File;
class ProgressSink;
class CancelToken;
} // namespace attri

namespace attri::ui {

/// The λ a user accepted for a method, as stored in /attribution/<method>/accepted.
struct AcceptedLambda {
    std::string method;          ///< e.g. "if-projected"
    double lambda = 0.0;         ///< absolute λ
    double relativeLambda = 0.0; ///< λ / mean eigenvalue of that k
    int64_t k = 0;               ///< projection dimension it was chosen at
    std::string rule;            ///< selector rule, or "manual"
    std::string user;            ///< $USER at the time
    std::string time;            ///< ISO-8601 UTC
    std::string convention;      ///< curvature convention ("mean" / "sum")

    bool operator==(const AcceptedLambda& o) const
    {
        return method == o.method && lambda == o.lambda && relativeLambda == o.relativeLambda && k == o.k
               && rule == o.rule && user == o.user && time == o.time && convention == o.convention;
    }
};

/// A λ recommendation with its ξ curve (the store's record).
using StoredRecommendation = RecommendationRecord;

/// Everything the pages show about an experiment besides scores, read once in a job.
/// Immutable; shared as std::shared_ptr<const ExperimentContent>.
struct ExperimentContent {
    std::string path;
    std::string summary; ///< describeExperimentFile
    DataRecord dataRecord;
    ModelRecord modelRecord;
    std::vector<double> checkpointNorms;    ///< ‖θ‖₂ of each checkpoint's parameters
    std::shared_ptr<const DataBundle> data; ///< null when the dataset can no longer be loaded
    std::string dataError;                  ///< why data is null
    std::vector<int64_t> testPredicted;     ///< predicted class per test point (empty if unknown)
    std::vector<double> testLoss;           ///< loss per test point (empty if unknown)
    std::vector<std::string> methods;       ///< children of /attribution
    std::vector<SweepTable> sweeps;
    std::vector<SpectrumRecord> spectra;
    std::map<std::string, AcceptedLambda> accepted; ///< by method
    std::vector<StoredRecommendation> recommendations;
    bool hasGroundTruth = false;
    int64_t groundTruthSubsets = 0;         ///< M of the stored ground truth (0 without one)
    std::string groundTruthImportedFrom;    ///< the file it was imported from (`lds --ground-truth-from`), else empty

    /// Distinct k of a method's spectra, ascending (empty for λ-free methods).
    std::vector<int64_t> ksFor(const std::string& method) const;
    /// Sweep tables of a method.
    std::vector<const SweepTable*> sweepsFor(const std::string& method) const;
    const SweepTable* sweep(const std::string& method, const std::string& quantity) const;
    const StoredRecommendation* recommendation(const std::string& method, int64_t k) const;
    /// Class name for a label ("3" when unnamed).
    std::string className(int64_t label) const;
};

/// Reads an experiment file for display: records, sweep tables, spectra, accepted λ, stored
/// recommendations; reloads the data and evaluates the model on the test points. Throws
/// attri::Error for unreadable or non-AttriScope files (the dataset failing to reload is not fatal).
std::shared_ptr<const ExperimentContent>
loadExperimentContent(const std::string& path, ProgressSink& progress, const CancelToken& cancel);

std::optional<AcceptedLambda> readAcceptedLambda(const H5File& file, const std::string& method);
/// Stores (or, for nullopt, removes) a method's accepted λ, rewriting the file atomically.
void writeAcceptedLambda(const std::string& path, const std::string& method,
                         const std::optional<AcceptedLambda>& value);

std::vector<StoredRecommendation> readRecommendations(const H5File& file);
/// Stores a recommendation in the CLI's layout, atomically.
void writeRecommendation(const std::string& path, const StoredRecommendation& rec);

} // namespace attri::ui
