#pragma once

#include "features/featurizer.h"

#include <Eigen/Core>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace attri {

class H5File;

/// Where and how a feature matrix pair (train, test) was stored: /features/<key>.
struct FeatureRecord {
    std::string key;                  ///< group name under /features
    FeatureTarget target = FeatureTarget::Loss;
    ProjectionKind projection = ProjectionKind::Kronecker;
    int64_t dimension = 0;            ///< stored columns (k_max, or p for none)
    int64_t fullDimension = 0;        ///< p of the selected layers
    uint64_t seed = 0;                ///< projection seed
    std::string layers;               ///< comma-separated selected layer names
    int64_t checkpoint = 0;           ///< index into /model/checkpoints
    double checkpointLr = 0.0;        ///< η of that checkpoint (TracIn)
    bool batched = true;              ///< exact batched path
    /// Mean ‖g_i‖² of the full gradient over the first gradientNormSamples training points
    /// (FeatureInfo); attributes gradient_sq_norm_mean and gradient_norm_samples, NaN and 0 when
    /// absent (files written before they were stored).
    double gradientSqNormMean = std::numeric_limits<double>::quiet_NaN();
    int64_t gradientNormSamples = 0;
    /// Device of the run that completed the features ("cpu", "cuda:0"; attribute `device`,
    /// empty when absent).
    std::string device;
    int64_t trainCount = 0;
    int64_t testCount = 0;
    SampleStats trainStats;           ///< loss and true-class probability per training point
    SampleStats testStats;
};

/// The canonical group name, e.g. "loss-kron-k4096-s0-c0".
std::string featureKey(FeatureTarget target, ProjectionKind projection, int64_t dimension, uint64_t seed,
                       const std::string& layers, int64_t checkpoint);

/// Creates /features/<key>/{train,test} as chunked float matrices (rows × dimension) and writes
/// the record's attributes; rows are then filled with writeFeatureRows.
void createFeatureGroup(H5File& file, const FeatureRecord& record);
void writeFeatureRows(H5File& file, const std::string& key, const std::string& split, int64_t firstRow,
                      const RowMatrixF& block);
/// Stores per-sample stats (after featurization finished).
void writeFeatureStats(H5File& file, const FeatureRecord& record);

std::vector<FeatureRecord> listFeatureRecords(const H5File& file);
std::optional<FeatureRecord> findFeatureRecord(const H5File& file, const std::string& key);
/// The first `columns` columns (≤ dimension; 0 = all) of a split ("train" or "test").
RowMatrixF readFeatures(const H5File& file, const std::string& key, const std::string& split,
                        int64_t columns = 0);

/// One stored spectrum: /attribution/<method>/k<k>/ (explicit curvature: k = p).
struct SpectrumRecord {
    std::string method;               ///< "if", "trak", ...
    int64_t k = 0;
    int64_t checkpoint = 0;           ///< TRAK: one spectrum per checkpoint
    std::string featureKey;           ///< the features it was computed from
    std::string convention;           ///< "mean" or "sum"
    std::string curvature;            ///< "fisher" (features), "hessian" (exact, LR) or "ggn" (explicit IF otherwise)
    Eigen::VectorXd eigenvalues;      ///< ascending, clipped at 0
    double meanEigenvalue = 0.0;      ///< tr/d: the unit of relative λ
    double mostNegativeEigenvalue = 0.0;
    double seconds = 0.0;             ///< time of the decomposition
};

void writeSpectrum(H5File& file, const SpectrumRecord& record);
std::vector<SpectrumRecord> listSpectra(const H5File& file, const std::string& method = "");

/// A λ × k table of one quantity (rows λ, columns k), as drawn by the sensitivity heatmap.
struct SweepTable {
    std::string method;
    std::string quantity;             ///< e.g. "spearman_next_lambda", "jaccard10_next_lambda", "lds", "xi"
    std::vector<double> relativeLambdas; ///< rows: c with λ = c · mean eigenvalue of that k
    std::vector<int64_t> ks;          ///< columns
    Eigen::MatrixXd values;           ///< relativeLambdas.size() × ks.size(); NaN where undefined
    Eigen::MatrixXd absoluteLambdas;  ///< same shape: the absolute λ of each cell
};

void writeSweepTable(H5File& file, const SweepTable& table);

/// A λ recommendation with its evidence: /attribution/<method>/recommendation/k<k>.
struct RecommendationRecord {
    std::string method;               ///< "if-explicit", "trak", ...
    int64_t k = 0;
    std::string rule;                 ///< selector rule
    double lambda = 0.0;              ///< absolute λ
    double relativeLambda = 0.0;      ///< λ / mean eigenvalue
    std::string convention;           ///< curvature convention of λ ("mean" or "sum")
    std::string inputs;               ///< one line: what the rule used
    std::string reason;               ///< why this λ, in words (empty in files written before it)
    double seconds = 0.0;             ///< cost of the recommendation
    double peakedness = 0.0;          ///< max − median of mean ξ (0 for rules without ξ)
    double featureScale = std::numeric_limits<double>::quiet_NaN();   ///< c the rule used (NaN: not stored)
    double curvatureRatio = std::numeric_limits<double>::quiet_NaN(); ///< ρ the rule used (NaN: not stored)
    double pathFactor = std::numeric_limits<double>::quiet_NaN();     ///< π the rule used (NaN: not stored)
    /// dynamics prior: η_eff, the subset model's steps T and the weight decay (NaN: another rule, or not stored)
    double priorStepSize = std::numeric_limits<double>::quiet_NaN();
    double priorSteps = std::numeric_limits<double>::quiet_NaN();
    double priorWeightDecay = std::numeric_limits<double>::quiet_NaN();
    /// path-match: the recorded run's step against GD's stability limit (LambdaRecommendation::pathStability)
    double pathStability = std::numeric_limits<double>::quiet_NaN();
    double ldsAtRecommended = std::numeric_limits<double>::quiet_NaN(); ///< when ground truth exists
    double ldsGridBest = std::numeric_limits<double>::quiet_NaN();
    double lambdaGridBest = std::numeric_limits<double>::quiet_NaN();
    /// 90% interval of lds_at_recommended / lds_grid_best under ground-truth noise (bootstrapLdsRatio)
    double ldsRatioLow = std::numeric_limits<double>::quiet_NaN();
    double ldsRatioHigh = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> lambdas;      ///< absolute grid
    std::vector<double> meanXi;       ///< may be empty (rules without ξ)
};

/// Replaces the record's group.
void writeRecommendation(H5File& file, const RecommendationRecord& record);
/// Every stored recommendation (all methods and k).
std::vector<RecommendationRecord> listRecommendations(const H5File& file);
std::vector<SweepTable> listSweepTables(const H5File& file, const std::string& method = "");

} // namespace attri
