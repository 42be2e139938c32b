#pragma once

#include "features/featurizer.h"

#include <Eigen/Core>

namespace attri {

class Model;
struct ImageSet;

/// Whether `model` is a zoo logistic regression: one Linear layer (weight K×d, bias K) on the
/// flattened input, d = the input size, K = numClasses.
bool isLogisticRegression(const Model& model);

/// The exact Hessian of the MEAN training cross-entropy (1/n) Σ ℓ_i of a logistic regression,
/// in double, in the parameter order of the features stage's projection None: weight (row-major
/// K×d) then bias (K), dimension p = K·(d+1):
///   H = (1/n) Σ_i (diag(p_i) − p_i p_iᵀ) ⊗ x̃_i x̃_iᵀ,   x̃_i = [x_i, 1],
/// built block-wise with K(K+1)/2 matrix products. It has no weight decay term: a training
/// objective with L2 coefficient w has Hessian H + w·I, i.e. fold w into λ.
/// Note softmax's invariance makes H singular (at least d+1 zero eigenvalues).
/// Throws ConfigError when the model is not LR-shaped (isLogisticRegression) or the set does not
/// fit it (image size, labels), or the set is empty.
Eigen::MatrixXd logisticRegressionHessian(const Model& model, const ImageSet& train);

/// Closed-form per-sample gradients of the cross-entropy of a logistic regression, same order
/// as logisticRegressionHessian: row i = [(p_i − e_{y_i}) ⊗ x_i, p_i − e_{y_i}]. Same errors.
RowMatrixF logisticRegressionGradients(const Model& model, const ImageSet& set);

} // namespace attri
