#pragma once

#include "attribution/spectral_cache.h"
#include "features/feature_options.h"
#include "features/featurizer.h"
#include "model/architecture.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attri {

/// The attribution methods (attribution notes §2). Scores follow the project's sign convention:
/// positive = proponent (up-weighting the training point lowers the test loss).
enum class Method {
    InfluenceExplicit,  ///< IF with explicit curvature on the full gradients of the selected layers
                        ///< (projection None): the exact mean-loss Hessian of a logistic
                        ///< regression, the GGN of other models (≤ kMaxExplicitParameters)
    InfluenceProjected, ///< IF in a projected feature space with the empirical Fisher (1/n)ΦᵀΦ
    Trak,               ///< TRAK: margin features, ΦᵀΦ (sum), weights 1 − p_i, checkpoint average
    TracIn,             ///< Σ_t η_t φ'_tᵀ φ_{i,t}
    GradDot,            ///< φ'ᵀ φ_i
    GradCos,            ///< cosine of φ' and φ_i
    Unrolled,           ///< influence of early-stopped SGD unrolled along the recorded checkpoints
                        ///< (UnrolledPath): λ-free, each segment in closed form
    Kfac,               ///< IF with the Kronecker-factored Fisher A ⊗ G of each Linear/Conv2d layer
                        ///< (KroneckerCurvature), eigenvalues λ_G·λ_A
    Ekfac,              ///< K-FAC's eigenbasis with eigenvalue correction: the mean squared
                        ///< per-sample gradient along each Kronecker eigenvector
};

/// "if-explicit", "if-projected", "trak", "tracin", "graddot", "gradcos", "unrolled", "kfac", "ekfac".
std::string toString(Method m);
/// Accepts the toString names and "if" (resolved by resolveInfluence to one of the two IF
/// variants; parseMethod itself returns InfluenceProjected for "if", the caller resolves).
/// Case-insensitive. Throws ConfigError listing the valid names.
Method parseMethod(const std::string& name);
/// What "if" means for a model: explicit when the features are the full gradients of the
/// selected layers (projection None), projected otherwise (the architecture decides the
/// explicit curvature: Hessian for LR, GGN otherwise).
Method resolveInfluence(ProjectionKind projection, Architecture architecture);
/// parseMethod, with "if" resolved by resolveInfluence.
Method parseMethod(const std::string& name, ProjectionKind projection, Architecture architecture);
/// Whether the method's scores depend on λ.
bool usesLambda(Method m);
/// Whether the method works on the full, unprojected gradients with a stored rotation
/// (explicit IF, K-FAC, EK-FAC): one "k" (the parameter count) and no projection scale.
bool usesFullGradients(Method m);
/// K-FAC or EK-FAC.
bool isKronecker(Method m);
/// The curvature convention a λ of this method is stated in (Sum for TRAK, Mean for IF).
CurvatureConvention curvatureConvention(Method m);

/// Grad-Dot: Φ' Φᵀ (rows: test points, columns: training points). ConfigError on mismatched
/// feature dimensions.
RowMatrixF gradDotScores(const RowMatrixF& train, const RowMatrixF& test);
/// Grad-Cos: Φ' Φᵀ with every row of both normalized to unit length. A row of norm zero (or
/// non-finite norm) scores 0 against everything: the cosine is undefined and 0 ranks it neutral.
RowMatrixF gradCosScores(const RowMatrixF& train, const RowMatrixF& test);
/// TracIn: Σ_t η_t Φ'_t Φ_tᵀ over checkpoints t (per-checkpoint train and test features of equal
/// shapes across checkpoints, one learning rate each). ConfigError on mismatched counts/shapes.
RowMatrixF tracInScores(const std::vector<RowMatrixF>& trainPerCheckpoint,
                        const std::vector<RowMatrixF>& testPerCheckpoint,
                        const std::vector<double>& learningRates);

/// TRAK ensemble: the mean over checkpoints (or independently trained models) of each cache's
/// weighted scores (the caches carry the weights 1 − p_i and the Sum convention) at the same
/// absolute λ. Rows: testIndices (all when empty), columns: training points. ConfigError for no
/// caches, a null cache, mismatched counts, invalid λ or indices.
RowMatrixF trakScores(const std::vector<std::shared_ptr<const SpectralCache>>& caches,
                      const std::vector<int64_t>& testIndices, double lambda);
/// The same with a relative λ: each cache uses relativeLambda · its own mean eigenvalue.
RowMatrixF trakScoresRelative(const std::vector<std::shared_ptr<const SpectralCache>>& caches,
                              const std::vector<int64_t>& testIndices, double relativeLambda);

} // namespace attri
