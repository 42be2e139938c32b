#pragma once

#include "common/shard.h"
#include "eval/retraining.h"
#include "eval/subset_sampler.h"
#include "model/model.h"
#include "model/train_recipe.h"

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace attri {

class H5File;
struct ImageSet;
class ProgressSink;
class CancelToken;

/// The LDS ground truth of an experiment: M models retrained on random subsets and the loss
/// each gives every test point. Targets are y_j(z') = −testLoss(j, z') (attribution notes §4).
struct GroundTruth {
    /// The options it was computed with (workers/threadsPerWorker as run; replace is not stored).
    LdsOptions options;
    int64_t subsets = 0;         ///< M
    int64_t trainCount = 0;      ///< n
    int64_t testCount = 0;       ///< m
    std::vector<uint8_t> masks;  ///< M×n row-major, 1 where training point i is in subset j
    Eigen::MatrixXd testLoss;    ///< M×m cross-entropy of test point t under model j
    std::string recipeSummary;   ///< the training recipe, human-readable
    std::string dataContentHash; ///< the experiment's /data content hash (empty if it has none)
    std::string inputHash;       ///< SHA-256 of everything the result depends on (see computeGroundTruth)
    double seconds = 0.0;        ///< wall time spent, summed over resumed runs
    /// Empty when AttriScope retrained the models; else the file the ground truth was imported
    /// from (importGroundTruth), whose models were trained elsewhere (e.g. by PyTorch).
    std::string importedFrom;

    bool inSubset(int64_t subset, int64_t trainIndex) const
    {
        return masks[static_cast<size_t>(subset * trainCount + trainIndex)] != 0;
    }
};

/// The side file that keeps a run's finished subsets: `<dir>/<stem>.gt-partial.h5` next to the
/// experiment `<dir>/<stem>.h5`; a shard's is `<stem>.gt-partial.r<R>-of-<N>.h5`.
std::string groundTruthPartialPath(const std::string& experimentPath, const Shard& shard = {});

/// Computes the LDS ground truth of the experiment file `experimentPath` (which must exist; its
/// /data content hash is recorded) and stores it there as /ground_truth:
/// attributes subsets, alpha, seed, recipe, data_content_hash, input_hash, seconds; datasets
/// masks (M×n uint8) and test_loss (M×m float64).
///
/// Every subset model is trained with `recipe` (the experiment's own) from
/// retrainingStart(model, recipe): the same initialization and the same training seed
/// (recipe.seed, which also drives shuffling) for every subset, like the full model.
///
/// Resumable: after each finished subset the progress is saved to
/// groundTruthPartialPath(experimentPath) (written atomically). A later run with the same
/// subsets/alpha/seed and the same inputs (input hash over training and test data, recipe,
/// architecture and initial parameters) trains only the missing subsets; a side file for other
/// options or inputs is discarded. The side file is deleted once /ground_truth is written.
///
/// If the experiment already holds ground truth: same options and inputs → it is returned
/// without retraining (unless options.replace); different → ConfigError, unless
/// options.replace. Progress: stage "ground truth" with M steps; advance(k) after each subset
/// finished in this run (k counts all finished subsets, earlier runs included).
/// Cancel → Cancelled, with finished subsets kept in the side file.
GroundTruth computeGroundTruth(const std::string& experimentPath, const Model& model,
                               const std::optional<TrainRecipe>& recipe, const ImageSet& train,
                               const ImageSet& test, const LdsOptions& options, ProgressSink& progress,
                               const CancelToken& cancel);

/// Convenience for the CLI and GUI: reads the experiment's model record and data, reloads the
/// data from its spec, and calls the function above with the recorded recipe.
GroundTruth computeGroundTruth(const std::string& experimentPath, const LdsOptions& options,
                               ProgressSink& progress, const CancelToken& cancel);

/// A shard's part of the ground truth (MPI rank, Slurm array task, `lds --shard R/N`): trains the
/// subsets j with j mod N = R that are not finished yet (in this shard's side file or the whole
/// run's), saving each to groundTruthPartialPath(experimentPath, shard); never writes the
/// experiment file. A later computeGroundTruth takes every shard's subsets (and deletes their
/// side files), trains what is still missing and stores the result. Returns the subsets trained;
/// 0 when the file already holds this ground truth. Same errors as computeGroundTruth.
int64_t computeGroundTruthShard(const std::string& experimentPath, const Model& model,
                                const std::optional<TrainRecipe>& recipe, const ImageSet& train, const ImageSet& test,
                                const LdsOptions& options, const Shard& shard, ProgressSink& progress,
                                const CancelToken& cancel);

/// Imports ground truth computed outside AttriScope (e.g. subset models retrained by PyTorch with
/// the user's own recipe: docs/examples/ground_truth_in_pytorch.py) from the HDF5 file
/// `truthPath` into the experiment `experimentPath` as its /ground_truth, and returns it.
///
/// The file holds datasets `masks` (M×n, 1 where training point i is in subset j; any integer
/// type) and `test_loss` (M×m cross-entropy of test point t under model j; any float type), with
/// n and m the experiment's training and test counts; optionally `train_labels` (n) and
/// `test_labels` (m), which must equal the experiment's labels (a check that the points are the
/// same and in the same order), and attributes `recipe` (text), `alpha`, `seed` and `seconds`
/// (the retraining's time). M ≥ 2; masks are 0/1 with at least one point in and one out of each
/// subset; losses are finite and ≥ 0. Every violation is a FormatError naming the file and the
/// dataset. An experiment that already holds ground truth keeps it (ConfigError) unless
/// `replace`. Later `lds` runs read the imported ground truth back as long as they ask for no
/// other subsets (they refuse to extend it: its models cannot be retrained here).
GroundTruth importGroundTruth(const std::string& experimentPath, const std::string& truthPath, bool replace);

/// The /ground_truth of an experiment file, or nullopt when it has none. Throws FormatError
/// naming the file and the field when it is malformed.
std::optional<GroundTruth> readGroundTruth(const H5File& file);

/// Writes (replacing) /ground_truth into an open file.
void writeGroundTruth(H5File& file, const GroundTruth& truth);

} // namespace attri
