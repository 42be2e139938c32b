#pragma once

#include "features/featurizer.h"

#include <Eigen/Core>

#include <cstdint>
#include <string>

namespace attri {

class CancelToken;
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

/// Largest parameter count the explicit curvature paths accept (a p×p double matrix and its
/// eigendecomposition: 10000 parameters take 800 MB).
inline constexpr int64_t kMaxExplicitParameters = 10000;

/// The generalized Gauss-Newton matrix of the MEAN training cross-entropy with respect to the
/// parameters of the selected layers (the featurizer's layer selection, e.g. "last" or names),
/// in double, in the order of the features stage's projection None:
///   G = (1/n) Σ_i J_iᵀ (diag(p_i) − p_i p_iᵀ) J_i,   J_i = ∂logits_i/∂θ (K × p),
/// computed without forming J_i: with s_c = √p_c (e_c − p), Σ_c s_c s_cᵀ = diag(p) − p pᵀ, and the
/// per-sample gradient of the pseudo-target s_cᵀ logits (s detached) is J_iᵀ s_c, so
/// G = (1/n) Σ_c Γ_cᵀ Γ_c with Γ_c the per-sample gradient matrix of class c (batched exact
/// per-sample gradients, K backward passes per batch). G is positive semi-definite, equals the
/// Hessian for a logistic regression, and drops the Hessian's second-order term of the network
/// otherwise. No weight decay term (fold it into λ), like logisticRegressionHessian.
/// Throws ConfigError for an unknown layer, more than kMaxExplicitParameters parameters, or a
/// set that does not fit the model; Cancelled when `cancel` fires.
Eigen::MatrixXd generalizedGaussNewton(const Model& model, const ImageSet& train, const std::string& layers,
                                       int64_t batchSize, const CancelToken& cancel);

} // namespace attri
