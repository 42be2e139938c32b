#pragma once

#include "features/featurizer.h"

#include <Eigen/Core>

#include <cstdint>
#include <memory>
#include <vector>

namespace attri {

class Model;
struct ImageSet;
class ProgressSink;
class CancelToken;

/// Conjugate-gradient influence: solves (H + λI) x = g' on the full parameters with
/// Hessian-vector products of the MEAN training loss (double backward), then τ_i = xᵀ g_i.
/// A cross-check path for small models (each solve costs up to maxIterations passes over the
/// training set); scores follow the project's sign convention (positive = proponent).
struct CgOptions {
    int64_t maxIterations = 200; ///< CG iterations per test point (≥ 1)
    double tolerance = 1e-6;     ///< stop when ‖r‖ ≤ tolerance · ‖g'‖ (> 0)
    int64_t batchSize = 512;     ///< training samples per Hessian-vector-product batch (≥ 1)

    /// Throws ConfigError naming the field and the valid range.
    void validate() const;
};

/// How one solve went.
struct CgSolveInfo {
    int64_t testIndex = 0;         ///< the test point
    int64_t iterations = 0;        ///< CG iterations used
    double relativeResidual = 0.0; ///< ‖(H+λI)x − g'‖ / ‖g'‖ of the recursively updated residual
    bool converged = false;        ///< relativeResidual ≤ tolerance (or g' = 0)
};

/// Scores and diagnostics of a CG influence run. Immutable once returned.
struct CgInfluenceResult {
    RowMatrixF scores;                ///< rows: testIndices, columns: training points
    std::vector<int64_t> testIndices; ///< test points, in row order
    double lambda = 0.0;              ///< absolute λ (mean-loss convention)
    int64_t parameterCount = 0;       ///< p, the dimension of the solves
    std::vector<CgSolveInfo> solves;  ///< one per test point
};

/// Flattened per-sample loss gradients over all parameters (Model::parameters() order, each
/// tensor row-major), by a per-sample autograd loop in evaluation mode. n × p floats: small
/// models only. Polls cancel per sample.
RowMatrixF fullPerSampleGradients(const Model& model, const ImageSet& set, ProgressSink& progress,
                                  const CancelToken& cancel);

/// H v for the Hessian of the mean training cross-entropy at the model's parameters, by double
/// backward over batches of `batchSize` samples. v has p entries (ConfigError otherwise).
Eigen::VectorXd meanLossHessianVectorProduct(const Model& model, const ImageSet& train,
                                             const Eigen::VectorXd& v, int64_t batchSize = 512);

/// CG influence of every training point on each of `testIndices` (rows of `test`; all when
/// empty) at absolute λ (> 0, finite). `trainGradients` (n × p, from fullPerSampleGradients or
/// projection None with every layer) is computed when null. Throws ConfigError for invalid
/// λ, indices, options or gradient shapes; Cancelled when cancelled.
std::shared_ptr<const CgInfluenceResult>
cgInfluence(const Model& model, const ImageSet& train, const ImageSet& test,
            const std::vector<int64_t>& testIndices, double lambda, const CgOptions& options,
            ProgressSink& progress, const CancelToken& cancel, const RowMatrixF* trainGradients = nullptr);

} // namespace attri
