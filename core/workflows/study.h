#pragma once

#include "eval/subset_sampler.h"
#include "features/feature_options.h"
#include "tuning/lambda_grid.h"
#include "tuning/lambda_selector.h"

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace attri {

class ProgressSink;
class CancelToken;

/// A named variation of the standard recipe, so the selector is validated across training regimes.
struct RecipeVariant {
    std::string name = "standard"; ///< "standard", "short-high-lr", "momentum-wd", "long"
    /// Applies the variant to the architecture's standard recipe.
    TrainRecipe apply(Architecture arch) const;
    static RecipeVariant parse(const std::string& name);
};

/// `attriscope-cli study`: train → attribute → recommend → LDS ground truth → table.
struct StudyOptions {
    std::string data = "fashion-mnist";          ///< dataset spec
    int64_t trainSize = 5000;                    ///< training points
    int64_t testSize = 500;                      ///< test points
    std::vector<std::string> models = {"lr"};    ///< lr | mlp | cnn (may be empty with fromPyTorch)
    std::vector<std::string> recipes = {"standard"}; ///< recipe variants
    std::vector<std::string> methods = {"if", "trak"}; ///< if (explicit on lr, projected otherwise) | trak
    std::vector<int64_t> ks = {256, 1024, 4096}; ///< projection dimensions (projected methods)
    /// The projection of the projected rows (explicit IF on the app's logistic regression has none).
    ProjectionKind projection = ProjectionKind::Kronecker;
    /// Runs trained outside the app, each a folder as docs/examples/train_in_pytorch.py writes it
    /// with --ground-truth: manifest.json (model, initial weights, checkpoints, recipe) and
    /// ground_truth.h5 (its models retrained by PyTorch). Each is imported into
    /// DIR/pytorch-<folder>.h5 on the study's data, judged against that ground truth, and gives rows
    /// named after the folder.
    std::vector<std::string> fromPyTorch;
    LdsOptions lds;                              ///< ground truth (M, α, seed, workers)
    LambdaGrid grid = LambdaGrid::logSpaced(1e-6, 1e2, 33); ///< dense relative grid for the best LDS
    SelectorOptions selector;                    ///< the recommendation's settings
    std::string outDir = "study";                ///< where files go
    int64_t sensitivityTests = 50;               ///< test points for the stored sensitivity tables
    int bootstrapResamples = 200;                ///< for the ratio's interval (bootstrapLdsRatio)
    /// > 0: also score the rule path-match. Each model is trained a second time with this many
    /// checkpoints (inside epochs when there are more checkpoints than epochs) (DIR/<model>-<recipe>-path.h5, the same run: attachTrainingPath checks its final
    /// parameters) and featurized there by TracIn at the largest k; the study's own experiment
    /// keeps one checkpoint, so its TRAK is unchanged. Explicit IF rows get none (NaN).
    int64_t pathCheckpoints = 0;

    void validate() const;
};

/// One setting's outcome (λ absolute, LDS means over test points).
struct StudyRow {
    std::string model, recipe, method;
    int64_t k = 0;
    double meanEigenvalue = 0.0;
    double bestLambda = 0.0, bestLds = 0.0;
    double recommendedLambda = 0.0, recommendedLds = 0.0, recommendedLdsStderr = 0.0;
    double ratio = 0.0;                          ///< recommended / best
    /// Ground-truth noise in `ratio`: a 90% paired bootstrap interval over subsets and test points
    /// (bootstrapLdsRatio), and the share of resamples where the ratio reaches 0.95.
    double ratioLow = 0.0, ratioHigh = 0.0, ratioShareAbove = 0.0;
    double recommendSeconds = 0.0, retrainSeconds = 0.0;
    int64_t subsets = 0; ///< M of the ground truth the row is judged against
    std::map<std::string, double> ruleLambda;    ///< every selector rule's λ
    std::map<std::string, double> ruleLds;       ///< and its LDS
    std::map<std::string, double> ruleSeconds;   ///< and its cost
    double dattriGridBestLambda = 0.0, dattriGridBestLds = 0.0;
    /// path-match (StudyOptions::pathCheckpoints > 0, projected methods): its λ, LDS, ratio to the
    /// best grid LDS with the same bootstrap interval and share as `ratio`, and its cost; NaN otherwise.
    double pathLambda = std::numeric_limits<double>::quiet_NaN(), pathLds = std::numeric_limits<double>::quiet_NaN();
    double pathRatio = std::numeric_limits<double>::quiet_NaN(), pathRatioLow = std::numeric_limits<double>::quiet_NaN();
    double pathRatioHigh = std::numeric_limits<double>::quiet_NaN();
    double pathRatioShareAbove = std::numeric_limits<double>::quiet_NaN();
    double pathSeconds = std::numeric_limits<double>::quiet_NaN();
    double pathStability = std::numeric_limits<double>::quiet_NaN(); ///< LambdaRecommendation::pathStability
    /// Featurizing the checkpoints (TracIn at the largest k on the companion), once per model and
    /// recipe, and training that companion; NaN when not done in this run (resumed from files).
    double pathFeaturizeSeconds = std::numeric_limits<double>::quiet_NaN();
    /// The unrolled method (Method::Unrolled, λ-free) on the same path at this k: its LDS on the
    /// same ground truth and the seconds it took (the segments' spectra and the scores); NaN
    /// without a path. It does not depend on the method of the row.
    double unrolledLds = std::numeric_limits<double>::quiet_NaN();
    double unrolledSeconds = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> gridLambdas, gridLds, gridXi; ///< the curves
};

/// Runs the study; writes DIR/study.csv, DIR/study.md and DIR/curves-*.svg. Experiment files
/// (DIR/<model>-<recipe>.h5) are reused when present, so an interrupted study resumes.
std::vector<StudyRow> runStudy(const StudyOptions& options, ProgressSink& progress, const CancelToken& cancel);

/// The files' contents (exposed for tests).
std::string studyCsv(const std::vector<StudyRow>& rows);
std::string studyMarkdown(const std::vector<StudyRow>& rows, const StudyOptions& options);
std::string curvesSvg(const StudyRow& row);

} // namespace attri
