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

/// (diag(s) Φ)ᵀ (diag(s) Φ) V without forming the Gram matrix (two thin products in float):
/// Φ (n × k) the first `k` columns of `phi`, V (k × b).
Eigen::MatrixXd weightedGramTimes(const RowMatrixF& phi, int64_t k, const Eigen::VectorXf& rowScale,
                                  const Eigen::MatrixXd& v);

/// out += A Φᵀ with Φ the first A.cols() columns of `phi` (out: A.rows() × phi.rows()).
void addProductWithTransposed(Eigen::MatrixXf& out, const Eigen::MatrixXf& a, const RowMatrixF& phi);

/// A Bᵀ in float: A (m × c), B (r × c), the result m × r.
RowMatrixF productWithTransposedF(const RowMatrixF& a, const RowMatrixF& b);

/// P diag(s) Φ, accumulated in float and returned in double: P (m × n), s one scale per row of
/// Φ, Φ (n × k) the first `k` columns of `phi`.
Eigen::MatrixXd scaledProductD(const Eigen::MatrixXf& p, const Eigen::VectorXf& rowScale, const RowMatrixF& phi,
                               int64_t k);

} // namespace attri
