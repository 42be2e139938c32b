#pragma once

#include "common/row_matrix.h"
#include "features/feature_options.h"

#include <Eigen/Core>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace attri {

class Model;
struct ImageSet;
class ProgressSink;
class CancelToken;

/// What a featurization produces besides the rows themselves.
struct FeatureInfo {
    int64_t dimension = 0;           ///< feature columns (kMax, or the full gradient size for None)
    int64_t fullDimension = 0;       ///< parameters of the selected layers (p)
    std::vector<std::string> layers; ///< selected layer names, in order
    bool batched = true;             ///< exact batched path (false: per-sample autograd loop)
    /// Mean of ‖g_i‖², the squared norm of the full (unprojected) per-sample gradient of the
    /// selected layers, over the first gradientNormSamples samples (exact, computed in the same
    /// pass). NaN without samples. The λ selector divides the same samples' mean ‖φ_i‖² by it
    /// to get the feature scale c of the projection (k for a dense projection; for a Kronecker
    /// projection each layer's share of the coordinates weighted by its share of ‖g‖²).
    double gradientSqNormMean = std::numeric_limits<double>::quiet_NaN();
    int64_t gradientNormSamples = 0; ///< min(n, kGradientNormSamples)
};

/// Samples (the first ones of a set) whose exact gradient norms FeatureInfo reports.
constexpr int64_t kGradientNormSamples = 512;

/// The mean over the first `count` samples of `set` of p_i(1 − p_i)‖∇_θ f_i‖², with f_i the
/// margin log(p_i/(1 − p_i)) and θ every parameter: the trace of the loss's Gauss–Newton
/// curvature per sample (in the margin form the λ selector uses). Exact per-sample gradients
/// (batched where the net is traced), on the net's own device, in evaluation mode; the model is
/// not changed. The λ selector compares it along the training path with its end value.
double meanGaussNewtonTrace(const Model& model, const ImageSet& set, int64_t count, const CancelToken& cancel);

/// Receives blocks of consecutive feature rows: (first row, block). Called in row order.
using FeatureBlockSink = std::function<void(int64_t firstRow, const RowMatrixF& block)>;

/// Per-sample extras that methods need (computed in the same pass).
struct SampleStats {
    std::vector<float> loss;     ///< cross-entropy per sample
    std::vector<float> trueProb; ///< p(y_i | x_i); TRAK weights are 1 − trueProb
};

/// Featurizes `set` with `model` in evaluation mode, streaming blocks of rows to `sink`.
/// Memory is O(batchSize · (p_layer + kMax)) beyond the model, never O(n·p).
/// Batched exact per-sample gradients are used when the selected layers are traced Linear/Conv2d
/// layers (ungrouped); otherwise, or with options.perSampleLoop, one autograd call per sample.
/// Dense features are P·g with g flattened per layer (weight, then bias); Kronecker coordinates
/// follow kroneckerLayout() (features/projection.h), layers numbered in selection order.
/// Throws ConfigError for unknown layer names, images or labels that do not fit the model,
/// kMax > the Kronecker feature space Σ o_l·i_l, or a full gradient (None) over 200 000 values;
/// attri::Error naming the sample indices whose gradients are NaN/Inf; Cancelled when cancelled.
FeatureInfo featurize(const Model& model, const ImageSet& set, const FeatureOptions& options,
                      const FeatureBlockSink& sink, SampleStats* stats, ProgressSink& progress,
                      const CancelToken& cancel);

/// Convenience: featurizes into a matrix in memory.
RowMatrixF featurizeToMatrix(const Model& model, const ImageSet& set, const FeatureOptions& options,
                             FeatureInfo* info, SampleStats* stats, ProgressSink& progress,
                             const CancelToken& cancel);

/// Rows [begin, end) of `set` only, with sample indices in messages and progress counted in the
/// whole set's numbering (the caller calls progress.begin). Rows are bitwise those of the whole
/// set's featurization when `begin` is a multiple of options.batchSize (the same batches).
/// FeatureInfo's gradient norms cover the first kGradientNormSamples rows of the range.
RowMatrixF featurizeRows(const Model& model, const ImageSet& set, int64_t begin, int64_t end,
                         const FeatureOptions& options, FeatureInfo* info, SampleStats* stats, ProgressSink& progress,
                         const CancelToken& cancel);

/// The layer names `options.layers` selects for this model, in network order, each once: "all"
/// (every traced Linear/Conv2d layer), "last", or a comma list. A model without traced layers
/// (TorchScript with its own forward) offers its parameters grouped by module prefix instead.
/// Throws ConfigError on unknown names, listing the model's layers.
std::vector<std::string> selectLayers(const Model& model, const std::string& layers);

/// Parameters of the layers `layers` selects (the dimension of features without projection).
/// Same errors as selectLayers.
int64_t selectedParameterCount(const Model& model, const std::string& layers);

} // namespace attri
