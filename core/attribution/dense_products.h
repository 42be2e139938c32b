#pragma once

#include "features/featurizer.h"

#include <Eigen/Core>

#include <cstdint>

namespace attri {

// Dense products for code outside the Torch translation units: they run on LibTorch's BLAS
// (OpenBLAS with runtime CPU dispatch and Torch's intra-op threads), since Eigen here is compiled
// for baseline x86-64 and single-threaded (several times slower at these sizes; the spectral
// cache's comment has the measurement). Sizes are checked (ConfigError on a mismatch).

/// A·B in double.
Eigen::MatrixXd productD(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b);

/// The arithmetic a product accumulates in: Single is about twice as fast, for uses that round to
/// float afterwards anyway (a float eigendecomposition).
enum class Accumulation { Double, Single };

/// (diag(s) Φ)ᵀ (diag(s) Φ), Φ the first `k` columns of `phi` and s one scale per row, returned in
/// double and accumulated in `accumulation`. Over rows [begin, end) only when given (end < 0: to
/// the last): the Gram matrix is the sum of its row blocks' (ConfigError for a range outside).
Eigen::MatrixXd weightedGramD(const RowMatrixF& phi, int64_t k, const Eigen::VectorXf& rowScale,
                              Accumulation accumulation = Accumulation::Double, int64_t begin = 0, int64_t end = -1);

/// Y = (diag(s) Φ V)ᵀ in float (b × n, one thin product): Φ (n × k) the first `k` columns of
/// `phi`, V (k × b). Half of a product with the weighted Gram matrix G = (diag(s) Φ)ᵀ (diag(s) Φ)
/// that a caller may stop after: Vᵀ G V = Y Yᵀ, and G V = scaledProductD(Y, s, phi, k)ᵀ.
Eigen::MatrixXf scaledRowsTimes(const RowMatrixF& phi, int64_t k, const Eigen::VectorXf& rowScale,
                                const Eigen::MatrixXd& v);

/// The squared norm of each row of Φ, the first `k` columns of `phi` (one pass, in float).
Eigen::VectorXf rowSquaredNorms(const RowMatrixF& phi, int64_t k);

/// out += A Φᵀ with Φ the first A.cols() columns of `phi` (out: A.rows() × phi.rows()).
void addProductWithTransposed(Eigen::MatrixXf& out, const Eigen::MatrixXf& a, const RowMatrixF& phi);

/// A Bᵀ in float: A (m × c), B (r × c), the result m × r.
RowMatrixF productWithTransposedF(const RowMatrixF& a, const RowMatrixF& b);

/// P diag(s) Φ, accumulated in float and returned in double: P (m × n), s one scale per row of
/// Φ, Φ (n × k) the first `k` columns of `phi`.
Eigen::MatrixXd scaledProductD(const Eigen::MatrixXf& p, const Eigen::VectorXf& rowScale, const RowMatrixF& phi,
                               int64_t k);

} // namespace attri
