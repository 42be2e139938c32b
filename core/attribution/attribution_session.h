#pragma once

#include "attribution/methods.h"
#include "attribution/spectral_cache.h"
#include "common/row_matrix.h"
#include "data/data_loader.h"
#include "store/attribution_store.h"
#include "store/experiment_file.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;
class UnrolledPath;

/// The group of a method's results in an experiment file: /attribution/<method>.
std::string attributionGroup(Method method);

/// The unrolled method replays the recorded SGD run: ConfigError (naming `path`) when the model has
/// no recipe or was not trained with SGD.
void checkUnrolledRecipe(const std::string& path, const ModelRecord& model);

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
