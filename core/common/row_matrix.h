#pragma once

#include <Eigen/Core>

namespace attri {

/// Row-major float matrix: one row per sample (features, scores).
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// Row-major double matrix (ground-truth losses, reference computations).
using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

} // namespace attri
