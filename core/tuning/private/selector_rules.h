#pragma once
// Private to the tuning stage: the rules of the λ selector, one file each in core/tuning/selector/,
// and what they share. recommendLambda (lambda_selector.cpp) validates the inputs and dispatches.

#include "attribution/unrolled_path.h"
#include "tuning/lambda_selector.h"

#include <Eigen/Core>

#include <chrono>
#include <cstdint>
#include <limits>

namespace attri {

// --- shared (lambda_selector.cpp) ---

/// Steps one subset model takes under the recipe.
int64_t subsetSteps(const TrainRecipe& recipe, int64_t subsetSize);
/// n for a curvature summed over the training points, else 1.
double conventionFactor(const SpectralCache& cache, int64_t n);
/// The λ at the peak of rec.meanXi, with the curve's peakedness and plateau width.
void summarizeCurve(LambdaRecommendation& rec);

// --- the rules: each fills rec.lambda (or the grid index) and rec.inputs ---

/// simulated-sgd (simulated_sgd.cpp).
void recommendBySimulation(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                           ProgressSink& progress, const CancelToken& cancel);
/// dynamics-prior, calibrated (ρ, π and the measured feature scale) or not (dynamics_prior.cpp).
void recommendByDynamicsPrior(const SelectorInputs& in, const SelectorOptions& o, bool calibrated,
                              LambdaRecommendation& rec);
/// effective-dimension (effective_dimension.cpp).
void recommendByEffectiveDimension(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec);
/// stability-plateau (stability_plateau.cpp).
void recommendByStability(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                          ProgressSink& progress, const CancelToken& cancel);
/// path-match (path_match.cpp); `limit` bounds its time (PathBudgetExceeded past it).
void recommendByPathMatch(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                          ProgressSink& progress, const CancelToken& cancel, const PathTimeLimit& limit = {});
/// path-or-prior (path_or_prior.cpp), timed from `start` (the budget counts from there).
void recommendByPathOrPrior(const SelectorInputs& in, const SelectorOptions& o, LambdaRecommendation& rec,
                            ProgressSink& progress, const CancelToken& cancel,
                            std::chrono::steady_clock::time_point start);

// --- the training path (path_match.cpp), also read by path-or-prior ---

/// The training path's features, as PathMatch needs them: every checkpoint with n training rows
/// of dimension at least k, their losses and a positive span of epochs, and `tests` test rows.
void checkPath(const SelectorInputs& in, int64_t n, int64_t k, int64_t tests);
/// A lower bound on PathMatch's stability figure (LambdaRecommendation::pathStability) without
/// forming or decomposing any segment's curvature: block power iteration (a block of 8) on each
/// H_s through the features, where the products with the features are the cost. A step reads
/// them once for its Ritz values and, only to go on, once more for the next block. A segment whose
/// trace (an upper bound on μ_max, from one pass of row norms) keeps it under `limit` takes no
/// step. The others start at the top eigenvectors of the curvature of a sample of their training
/// rows (the first 64: a 64 × 64 eigenproblem), so that the first step counts, and take that step
/// first, in path order (a run past the limit is decided there, at one product per segment
/// visited); then, in the order of that first value (largest first), each goes on until 8 steps,
/// until its top Ritz value gains less than 0.1%, or until it could not reach `limit` even by
/// gaining as much as its last step did at every step left. Ritz values never exceed the top
/// eigenvalue whatever the start, so the bound never exceeds the figure, and a bound above
/// `limit` decides that the run is past it (the search stops there); the starts, the order and
/// ending a segment early only change what it costs, or leave the decision to path-match. A
/// segment visited with non-finite features is named (FormatError). NaN for optimizers other
/// than sgd, which have no such limit.
double pathStabilityLowerBound(const SelectorInputs& in, int64_t n, int64_t k, double limit);

} // namespace attri
