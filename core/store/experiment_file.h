#pragma once

#include "data/data_loader.h"
#include "model/model.h"
#include "model/trainer.h"

#include <cstdint>
#include <optional>
#include <limits>
#include <string>
#include <vector>

namespace attri {

class H5File;

/// Schema version written to the root attribute `schema_version`.
inline constexpr int64_t kSchemaVersion = 1;

/// What an experiment file says about its model.
struct ModelRecord {
    Architecture architecture = Architecture::LogisticRegression;
    InputShape input;                       ///< image shape the model takes
    int numClasses = 10;
    std::string torchscriptPath;            ///< imported models: the source file
    std::string torchscriptSha256;          ///< imported models: hash of that file
    std::optional<TrainRecipe> recipe;      ///< how it was trained (absent for imports without one)
    std::vector<Checkpoint> checkpoints;    ///< the last is the model attributions use
    /// Imported with --init: the run's own initial parameters and buffers, where retraining starts
    /// (empty: retraining re-initializes from the recipe's seed). Stored under /model/initial.
    ParamSet initialParams;
    ParamSet initialBuffers;
    std::vector<double> epochLoss;          ///< training curve
    /// Gauss–Newton trace per sample (meanGaussNewtonTrace over the first 512 training points)
    /// at the training run's observation marks, and of the final model: the λ selector's path
    /// factor is final / mean(path). Empty / NaN for imported models and older files.
    std::vector<double> pathGaussNewtonTrace;
    double finalGaussNewtonTrace = std::numeric_limits<double>::quiet_NaN();
    /// lbfgs runs: max |g| of the objective L + wd/2·‖θ‖² at the final model (trained in the app:
    /// training converged iff it is <= the recipe's tolerance). NaN when not recorded.
    double gradientMaxAbs = std::numeric_limits<double>::quiet_NaN();
    EvalMetrics trainMetrics;               ///< on the experiment's training points
    EvalMetrics testMetrics;                ///< on the experiment's test points
    double trainSeconds = 0.0;
    std::string trainDevice; ///< where training ran ("cpu", "cuda:0"); empty when not recorded
    int64_t trainThreads = 0; ///< LibTorch threads training ran with; 0 when not recorded
    int64_t parameterCount = 0;
};

/// Dataset provenance as stored (enough to reload the exact same points).
struct DataRecord {
    DataOptions options;                    ///< spec, sizes, seed, normalization
    std::vector<int64_t> trainIndices;
    std::vector<int64_t> testIndices;
    std::string name;
    int numClasses = 0;
    std::vector<std::string> classNames;
    std::string contentHash;
};

/// Writes /data and /model (replacing them) into an open file, plus root attributes.
void writeDataRecord(H5File& file, const DataBundle& data, const DataOptions& options);
void writeModelRecord(H5File& file, const ModelRecord& model);
DataRecord readDataRecord(const H5File& file);
ModelRecord readModelRecord(const H5File& file);

/// Checks schema_version; throws FormatError naming the file for non-AttriScope files or newer schemas.
void checkExperimentFile(const H5File& file);

/// Creates a new experiment file atomically with data and model.
void createExperimentFile(const std::string& path, const DataBundle& data, const DataOptions& options,
                          const ModelRecord& model);

/// The data of an experiment reloaded from its spec and indices; throws FormatError when the
/// content hash no longer matches (the dataset files changed).
DataBundle reloadData(const DataRecord& record);

/// The model at a checkpoint (default: the last) rebuilt from the record.
Model rebuildModel(const ModelRecord& record, int checkpoint = -1);

/// A human-readable summary of everything in the file (for `attriscope-cli info`).
std::string describeExperimentFile(const std::string& path);

} // namespace attri
