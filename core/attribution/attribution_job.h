#pragma once

#include "attribution/methods.h"
#include "attribution/spectral_cache.h"
#include "common/shard.h"
#include "data/data_loader.h"
#include "features/feature_options.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"
#include "tuning/lambda_grid.h"
#include "tuning/sensitivity.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;
class UnrolledPath;

/// What `attriscope-cli attribute` (and the GUI's Attribute page) computes.
struct AttributionRequest {
    std::string method = "if";                          ///< if | trak | tracin | graddot | gradcos | unrolled
    ProjectionKind projection = ProjectionKind::Kronecker; ///< none only for small models
    std::vector<int64_t> ks = {128, 256, 512, 1024};    ///< projection dimensions; features at max(ks)
    LambdaGrid grid = LambdaGrid::defaultRelative();    ///< λ grid of the sensitivity tables
    std::string layers = "all";                         ///< all | last | comma-separated names
    uint64_t seed = 0;                                  ///< projection seed
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

/// What an experiment file holds for a method, read without loading features or decomposing:
/// the method a name resolves to (as AttributionSession::open resolves "if") and its stored k.
struct StoredMethod {
    Method method = Method::InfluenceProjected;
    std::vector<int64_t> ks; ///< empty for methods stored without a k list
};
/// nullopt when the method was not computed. Throws as opening the file does (IoError,
/// FormatError) and ConfigError for an unknown method name.
std::optional<StoredMethod> storedMethod(const std::string& experimentPath, const std::string& methodName);

/// A method's stored attribution, loaded for scoring at any λ (and the chosen k) without
/// recomputing features. Immutable; share as std::shared_ptr<const AttributionSession> (not
/// copyable: the unrolled method's spectra point into the session's own features). The unrolled
/// method decomposes every checkpoint's k × k curvature when it opens (seconds at k = 1024).
class AttributionSession {
public:
    AttributionSession() = default;
    AttributionSession(const AttributionSession&) = delete;
    AttributionSession& operator=(const AttributionSession&) = delete;

    /// Loads /attribution/<method> at dimension k (0: the largest stored). Throws ConfigError when
    /// the method was not computed (naming the command that computes it) or k is not available.
    static std::shared_ptr<const AttributionSession> open(const std::string& experimentPath,
                                                          const std::string& method, int64_t k,
                                                          ProgressSink& progress, const CancelToken& cancel);

    Method method() const { return m_method; }
    int64_t k() const { return m_k; }
    bool usesLambda() const { return attri::usesLambda(m_method); }
    /// Mean eigenvalue (the relative-λ unit); averaged over checkpoints for TRAK; 1 for λ-free methods.
    double meanEigenvalue() const;
    /// Scores (rows: tests, all when empty; columns: training points) at absolute λ.
    RowMatrixF scores(const std::vector<int64_t>& tests, double lambda) const;
    Eigen::VectorXf scoresFor(int64_t test, double lambda) const;

    const std::vector<std::shared_ptr<const SpectralCache>>& caches() const { return m_caches; }
    /// Features of the final checkpoint truncated to k (what the caches were built from).
    const RowMatrixF& trainFeatures() const { return m_train.back(); }
    const RowMatrixF& testFeatures() const { return m_test.back(); }
    const std::vector<float>& trainWeights() const { return m_weights; }
    const FeatureRecord& featureRecord() const { return m_record; }
    const DataRecord& data() const { return m_data; }
    const ModelRecord& model() const { return m_model; }
    /// Stored stats of the final checkpoint's features.
    int64_t trainCount() const { return static_cast<int64_t>(m_data.trainIndices.size()); }
    int64_t testCount() const { return static_cast<int64_t>(m_data.testIndices.size()); }
    /// All k stored for this method.
    const std::vector<int64_t>& availableKs() const { return m_ks; }
    /// The λ the file settles on for this method and k: the accepted one (GUI "Accept"), else the
    /// stored recommendation (`recommend`); empty when neither exists.
    std::optional<double> storedLambda() const { return m_storedLambda; }
    /// Where storedLambda() came from: "accepted", "recommended" or "".
    const std::string& storedLambdaSource() const { return m_storedLambdaSource; }

private:
    Method m_method = Method::InfluenceProjected;
    int64_t m_k = 0;
    std::vector<int64_t> m_ks;
    std::optional<double> m_storedLambda;
    std::string m_storedLambdaSource;
    std::vector<RowMatrixF> m_train, m_test; // per checkpoint (TracIn/TRAK), else one
    std::vector<double> m_lrs;
    std::vector<float> m_weights;
    std::vector<std::shared_ptr<const SpectralCache>> m_caches;
    std::shared_ptr<const UnrolledPath> m_unrolled; ///< Unrolled: the segments' spectra (points into m_train)
    FeatureRecord m_record;
    DataRecord m_data;
    ModelRecord m_model;
};

/// A session's scores summed over fixed groups of training points, at any λ: scores({}, λ) Gᵀ,
/// G M × n (row j the weights of group j over the training points, e.g. the LDS's 0/1 subset
/// masks); rows: all test points, columns: groups. For IF and TRAK each cache's λ-free training
/// side (SpectralCache::groupTrainSide) is formed once, so a λ costs O(m·k·M) instead of the
/// O(m·n·(k + M)) of scoring then summing (TRAK: the mean over its caches, as trakScores). λ-free
/// methods are scored and summed once. The session must outlive this object.
class GroupScores {
public:
    /// ConfigError when G's columns are not the session's training points.
    GroupScores(const AttributionSession& session, const RowMatrixF& groups);
    /// At absolute λ (ignored by λ-free methods); ConfigError for an invalid λ, as scores().
    RowMatrixF at(double lambda) const;

private:
    const AttributionSession* m_session = nullptr;
    std::vector<RowMatrixF> m_sides; ///< per cache: G diag(w) ΦQ (M × k)
    RowMatrixF m_fixed;              ///< λ-free methods: scores Gᵀ
};

/// The λ commands use when none is given: the stored (accepted, else recommended) λ, else
/// 0.1 × mean eigenvalue.
double defaultLambda(const AttributionSession& session);

} // namespace attri
