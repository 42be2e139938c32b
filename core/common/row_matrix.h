#pragma once

#include <Eigen/Core>

namespace attri {

/// Row-major float matrix: one row per sample (features, scores).
using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

} // namespace attri
