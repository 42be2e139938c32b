#pragma once

#include "attribution/spectral_cache.h"
#include "common/row_matrix.h"

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

class CancelToken;
class Model;
class ProgressSink;
struct ImageSet;

/// Which Fisher the Kronecker factors approximate (both in the mean-loss convention).
enum class FisherKind {
    True,      ///< labels drawn from the model's predictive distribution, seeded per sample
    Empirical, ///< the training labels: F = (1/n) Σ g_i g_iᵀ of the loss gradients
};
/// "true", "empirical".
std::string toString(FisherKind kind);
/// Inverse of toString (case-insensitive); ConfigError listing the valid names.
FisherKind parseFisherKind(const std::string& name);

/// How λ reaches the Kronecker eigenvalues μ (attribution notes §1: τ = g'ᵀ(F + λI)⁻¹g).
enum class KroneckerDamping {
    /// One λ for every coordinate of every layer; relative λ is a multiple of the mean of all μ.
    Global,
    /// Each layer m is damped by λ·μ̄_m (μ̄_m: mean μ of layer m), so λ is relative per layer
    /// (Kronfluence's default is 0.1). Stored by dividing layer m's μ and rotated gradients by
    /// μ̄_m and √μ̄_m: the cache's mean eigenvalue is then 1 and its λ is this relative λ.
    PerModule,
};
/// "global", "per-module".
std::string toString(KroneckerDamping damping);
/// Inverse of toString (case-insensitive); ConfigError listing the valid names.
KroneckerDamping parseKroneckerDamping(const std::string& name);

/// What fitting the factors needs.
struct KroneckerOptions {
    /// all | last | comma-separated names; every selected layer must be a traced Linear or
    /// (ungrouped) Conv2d layer.
    std::string layers = "all";
    /// Which Fisher the factors estimate.
    FisherKind fisher = FisherKind::True;
    /// Seed of the sampled labels (true Fisher): sample i's label depends on (seed, i) only,
    /// not on the batch size.
    uint64_t seed = 0;
    /// Samples per batched backward pass.
    int64_t batchSize = 250;

    /// Throws ConfigError naming the field.
    void validate() const;
};

/// One layer's Kronecker factors. The per-sample gradient is the out × in matrix
/// M_i = Σ_t δ_{i,t} a_{i,t}ᵀ (t: positions; one for Linear), a with a trailing 1 for the bias,
/// and F_layer ≈ G ⊗ A in the row-major order of M:
///   A = (1/n) Σ_i Σ_t a_{i,t} a_{i,t}ᵀ,   G = (1/n) Σ_i (1/T) Σ_t δ_{i,t} δ_{i,t}ᵀ
/// (T positions per sample; for Conv2d this is KFC's spatially uncorrelated approximation).
struct KroneckerLayer {
    std::string name;   ///< the layer as selectLayers names it
    std::string kind;   ///< "Linear" or "Conv2d"
    int64_t out = 0;    ///< rows of M (output features / channels)
    int64_t in = 0;     ///< columns of M (inputs · kernel, plus 1 with a bias)
    bool bias = false;  ///< whether the last column of M is the bias
    Eigen::MatrixXd activationCovariance; ///< A, in × in
    Eigen::MatrixXd gradientCovariance;   ///< G, out × out
    Eigen::VectorXd activationEigenvalues; ///< of A, ascending, clipped at 0
    Eigen::MatrixXd activationEigenvectors; ///< Q_A (columns)
    Eigen::VectorXd gradientEigenvalues;   ///< of G, ascending, clipped at 0
    Eigen::MatrixXd gradientEigenvectors;  ///< Q_G (columns)
    /// EK-FAC: (1/n) Σ_i ((Q_Gᵀ M_i Q_A) ⊙ (Q_Gᵀ M_i Q_A)), out × in, the Fisher's diagonal in
    /// the basis Q_G ⊗ Q_A.
    Eigen::MatrixXd correctedEigenvalues;
};

/// K-FAC and EK-FAC factors of the selected layers, fitted by streaming the training set in
/// batches (memory: the factors and one batch, never p × p). Immutable; share as
/// std::shared_ptr<const KroneckerCurvature>.
///
/// Rotated coordinates: per layer in selection order, the entries of Q_Gᵀ M Q_A row-major;
/// eigenvalues() and rotate() use this order. Scores in that basis are
///   τ_λ(z', z_i) = Σ_j r'_j r_{i,j} / (μ_j + λ),   r = (Q_G ⊗ Q_A)ᵀ g,
/// with μ = λ_G ⊗ λ_A (K-FAC) or the corrected eigenvalues (EK-FAC).
class KroneckerCurvature {
public:
    /// Fits A and G (one pass over `train`), decomposes them, and (with `corrected`) measures
    /// the EK-FAC eigenvalues (a second pass with the same labels). The model runs in
    /// evaluation mode and is not changed. Throws ConfigError for an empty or ill-fitting set,
    /// unknown layers, or a selected layer whose inputs and output gradients cannot be traced
    /// (naming it); Cancelled when `cancel` fires.
    static std::shared_ptr<const KroneckerCurvature> fit(const Model& model, const ImageSet& train,
                                                        const KroneckerOptions& options, bool corrected,
                                                        ProgressSink& progress, const CancelToken& cancel);

    const std::vector<KroneckerLayer>& layers() const { return m_layers; }
    const KroneckerOptions& options() const { return m_options; }
    int64_t trainCount() const { return m_trainCount; }
    /// Whether the EK-FAC eigenvalues were measured.
    bool hasCorrection() const { return m_corrected; }
    /// Σ out·in over the layers (p).
    int64_t dimension() const;

    /// μ in rotated order: λ_G[o]·λ_A[i] (K-FAC) or the corrected eigenvalues (EK-FAC;
    /// ConfigError when not measured).
    Eigen::VectorXd eigenvalues(bool corrected) const;
    /// Index ranges of each layer in rotated order: layer l owns [offsets[l], offsets[l+1]).
    std::vector<int64_t> offsets() const;

    /// Rotates rows of per-sample gradients given in the features' order for projection None
    /// (per layer the weight flattened row-major, then the bias) into rotated coordinates, in
    /// double, returned in float. ConfigError when the column count is not dimension().
    RowMatrixF rotate(const RowMatrixF& gradients) const;

    /// The per-sample loss gradients of `set` (its own labels) under `model` (the model the
    /// factors were fitted on), rotated as rotate() does (in double, stored in float), from each
    /// layer's inputs and output gradients: for Linear layers (Q_Gᵀδ)(Q_Aᵀa)ᵀ, never the out × in
    /// gradient, so the cost is about one backward pass. Batches of options().batchSize;
    /// ConfigError as fit().
    RowMatrixF rotatedGradients(const Model& model, const ImageSet& set, ProgressSink& progress,
                                const CancelToken& cancel) const;

    /// The dense approximation (Q_G ⊗ Q_A) diag(μ) (Q_G ⊗ Q_A)ᵀ, block-diagonal over layers,
    /// in the features' order (as rotate's input). For checks on small layers: p × p.
    Eigen::MatrixXd dense(bool corrected) const;

private:
    KroneckerCurvature() = default;

    std::vector<KroneckerLayer> m_layers;
    KroneckerOptions m_options;
    int64_t m_trainCount = 0;
    bool m_corrected = false;
};

/// The same from gradients already rotated (rotate() or rotatedGradients()).
std::shared_ptr<const SpectralCache> kroneckerCacheFromRotated(const KroneckerCurvature& curvature, bool corrected,
                                                               RowMatrixF trainRotated, RowMatrixF testRotated,
                                                               KroneckerDamping damping);

/// The spectral cache of K-FAC or EK-FAC (corrected) for given train and test gradients (rows in
/// the features' order, projection None): μ and the rotated rows, coordinates sorted by μ
/// ascending, under `damping` (PerModule rescales each layer, see KroneckerDamping). Scores at
/// any λ are then a diagonal rescaling, as for every other method.
std::shared_ptr<const SpectralCache> kroneckerCache(const KroneckerCurvature& curvature, bool corrected,
                                                    const RowMatrixF& trainGradients,
                                                    const RowMatrixF& testGradients, KroneckerDamping damping);

} // namespace attri
