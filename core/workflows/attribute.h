#pragma once
// The attribute task: featurize, decompose, sweep and store one method's attribution.

#include "attribution/kronecker_curvature.h"
#include "attribution/methods.h"
#include "common/shard.h"
#include "features/feature_options.h"
#include "store/attribution_store.h"
#include "tuning/lambda_grid.h"
#include "tuning/sensitivity.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;

/// What `attriscope-cli attribute` (and the GUI's Attribute page) computes.
struct AttributionRequest {
    std::string method = "if";                          ///< if | trak | tracin | graddot | gradcos | unrolled | kfac | ekfac
    ProjectionKind projection = ProjectionKind::Kronecker; ///< none only for small models
    std::vector<int64_t> ks = {128, 256, 512, 1024};    ///< projection dimensions; features at max(ks)
    LambdaGrid grid = LambdaGrid::defaultRelative();    ///< λ grid of the sensitivity tables
    std::string layers = "all";                         ///< all | last | comma-separated names
    uint64_t seed = 0;                                  ///< projection seed; K-FAC/EK-FAC: seed of the sampled labels
    FisherKind fisher = FisherKind::True;               ///< K-FAC/EK-FAC: which Fisher the factors estimate
    KroneckerDamping damping = KroneckerDamping::Global; ///< K-FAC/EK-FAC: how λ reaches the eigenvalues
    int64_t batchSize = 250;                            ///< featurization batch
    int64_t sensitivityTests = 100;                     ///< test points behind the sensitivity tables
    int64_t topK = 10;                                  ///< Jaccard set size
    /// Take a checkpoint's features from the file when it already holds them complete under the
    /// same key (target, projection, k_max, seed, layers, checkpoint) for the same points, e.g.
    /// TracIn's for the unrolled method, instead of computing them again. False: always featurize.
    bool reuseFeatures = true;
    /// Featurize only this process's share of the row blocks into its own journal and stop
    /// (count > 1); a later whole run (count 1) takes every shard's rows and finishes the job.
    Shard shard;

    /// Throws ConfigError naming the field.
    void validate() const;
};

/// What a run stored, for printing.
struct AttributionSummary {
    Method method = Method::InfluenceProjected;
    std::vector<std::string> featureKeys;
    std::vector<SpectrumRecord> spectra;
    std::shared_ptr<const SensitivityResult> sensitivity; ///< null for λ-free methods
    double featurizeSeconds = 0.0;
    double spectrumSeconds = 0.0;
    double sweepSeconds = 0.0;
    int64_t shardRows = 0;       ///< rows this shard featurized (shard runs only)
    std::string shardJournal;    ///< where they are (shard runs only)
};

/// Featurizes, decomposes and sweeps, storing features (/features), spectra and sweep tables
/// (/attribution/<method>) in the experiment file. The file is rewritten atomically: a cancel or
/// an error leaves it exactly as it was. Finished row blocks go to a journal first (see
/// FeatureJournal), together with those of any shard runs, so an interrupted run resumes. With
/// request.shard.count > 1 only that shard's blocks are featurized (into its own journal) and
/// the experiment file is not touched.
AttributionSummary runAttribution(const std::string& experimentPath, const AttributionRequest& request,
                                  ProgressSink& progress, const CancelToken& cancel);

} // namespace attri
