#pragma once

#include "features/featurizer.h"

#include <Eigen/Core>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace attri {

/// How the curvature relates to the per-sample losses; a λ tuned under one convention does not
/// transfer to another, so it is stored with every λ.
enum class CurvatureConvention {
    Mean, ///< Hessian/Fisher of the mean loss (1/n) Σ ℓ_i — IF
    Sum,  ///< ΦᵀΦ, a sum over samples — TRAK
};
std::string toString(CurvatureConvention c);

/// One eigendecomposition of the curvature C = Q diag(μ) Qᵀ (μ clipped at 0), with the train and
/// test features rotated once (Φ Q, Φ' Q; formed in double, stored in float, so each component is
/// exact to one float rounding even where C is singular). Any λ then costs a diagonal rescaling:
///   τ_λ(z'_t, z_i) = Σ_j (Φ'Q)_tj (ΦQ)_ij / (μ_j + λ) · w_i
/// where w_i are optional per-training-sample weights (TRAK's 1 − p_i; 1 otherwise).
/// Immutable after construction; share as std::shared_ptr<const SpectralCache>.
/// The arithmetic of symmetricEigen: Single rounds the matrix to float and solves in float (about
/// twice as fast; eigenvalues to about 1e-7 of the largest, so only for uses insensitive to the
/// smallest ones).
enum class EigenPrecision { Double, Single };

/// Eigenvalues (ascending) and orthonormal eigenvectors (columns) of the symmetric matrix `c`,
/// by the same single-threaded LAPACK solver the cache uses (ConfigError for a non-finite matrix).
void symmetricEigen(const Eigen::MatrixXd& c, Eigen::VectorXd* values, Eigen::MatrixXd* vectors,
                    EigenPrecision precision = EigenPrecision::Double);

/// The OpenMP team size that solver's LAPACK call runs with, as seen after one solve (1 is
/// intended, whatever the process-wide thread count; for tests).
int symmetricEigenThreads();

class SpectralCache {
public:
    /// Curvature from the features: C = (1/n) ΦᵀΦ (Mean) or ΦᵀΦ (Sum), built in double.
    /// Throws ConfigError for mismatched dimensions, weights of the wrong length, NaN/Inf.
    static std::shared_ptr<const SpectralCache> fromFeatures(const RowMatrixF& train, const RowMatrixF& test,
                                                             CurvatureConvention convention,
                                                             std::vector<float> trainWeights = {});
    /// An explicit curvature matrix (e.g. the exact Hessian of the mean loss), k×k symmetric
    /// (ConfigError otherwise). Negative eigenvalues are recorded, then clipped at 0.
    static std::shared_ptr<const SpectralCache> fromCurvature(const Eigen::MatrixXd& curvature,
                                                              const RowMatrixF& train, const RowMatrixF& test,
                                                              CurvatureConvention convention,
                                                              std::vector<float> trainWeights = {});

    /// Reassembles a cache from stored parts (e.g. an experiment file): eigenvalues μ (ascending;
    /// negative values are clipped at 0), the rotated features ΦQ and Φ'Q, and the recorded most
    /// negative eigenvalue. `meanEigenvalue` is tr(C)/d of the original curvature; NaN (the
    /// default) takes the mean of the given eigenvalues, which is the same for a PSD curvature.
    /// Throws ConfigError for mismatched dimensions or non-finite values.
    static std::shared_ptr<const SpectralCache>
    fromRotated(Eigen::VectorXd eigenvalues, RowMatrixF trainRotated, RowMatrixF testRotated,
                CurvatureConvention convention, std::vector<float> trainWeights = {},
                double mostNegativeEigenvalue = 0.0,
                double meanEigenvalue = std::numeric_limits<double>::quiet_NaN());

    int64_t dimension() const { return m_eigenvalues.size(); }
    int64_t trainCount() const { return m_trainRot.rows(); }
    int64_t testCount() const { return m_testRot.rows(); }
    CurvatureConvention convention() const { return m_convention; }
    /// Eigenvalues μ (ascending, ≥ 0), double precision.
    const Eigen::VectorXd& eigenvalues() const { return m_eigenvalues; }
    /// tr(C)/d: the relative-λ unit (λ = c · meanEigenvalue).
    double meanEigenvalue() const;
    /// The most negative eigenvalue before clipping (0 if none): a sign of non-convexity.
    double mostNegativeEigenvalue() const { return m_mostNegative; }

    /// Scores of one test point against all training points at absolute λ (> 0, finite).
    /// O(n·k); throws ConfigError for invalid λ or index.
    Eigen::VectorXf scores(int64_t testIndex, double lambda) const;
    /// Rows: the given test points (all when empty); columns: training points. One GEMM.
    RowMatrixF scoreMatrix(const std::vector<int64_t>& testIndices, double lambda) const;

    /// Scores summed over groups of training points (e.g. the LDS's subsets), at any λ without
    /// forming the m × n scores: with G (M × n, row j the weights of group j over the training
    /// points), scoreMatrix({}, λ) Gᵀ = (Φ'Q) diag(1/(μ + λ)) Pᵀ, where P = G diag(w) (ΦQ) is
    /// M × k and independent of λ. groupTrainSide forms P once, O(M·n·k); groupScoreMatrix then
    /// costs O(m·k·M) per λ instead of O(m·n·(k + M)). ConfigError when G's columns are not the
    /// training points, or P's shape is not M × k.
    RowMatrixF groupTrainSide(const RowMatrixF& groups) const;
    /// Rows: all test points; columns: the M groups of `trainSide` (from groupTrainSide).
    RowMatrixF groupScoreMatrix(const RowMatrixF& trainSide, double lambda) const;

    const RowMatrixF& trainRotated() const { return m_trainRot; }
    const RowMatrixF& testRotated() const { return m_testRot; }
    const std::vector<float>& trainWeights() const { return m_weights; }

private:
    SpectralCache() = default;
    /// 1/(μ + λ) as floats; throws ConfigError unless λ is positive and finite.
    Eigen::VectorXf inverseDiagonal(double lambda) const;
    /// Throws ConfigError naming the index and the number of test points.
    void checkTestIndex(int64_t testIndex) const;
    /// The given test rows (all when empty) of Φ'Q scaled by 1/(μ + λ), times rightᵀ: one GEMM.
    RowMatrixF scaledTestTimes(const std::vector<int64_t>& testIndices, double lambda,
                               const RowMatrixF& right) const;

    Eigen::VectorXd m_eigenvalues;
    RowMatrixF m_trainRot;
    RowMatrixF m_testRot;
    std::vector<float> m_weights;
    CurvatureConvention m_convention = CurvatureConvention::Mean;
    double m_mostNegative = 0.0;
    double m_meanEigenvalue = 0.0; ///< tr(C)/d of the curvature as given (before clipping)
};

} // namespace attri
