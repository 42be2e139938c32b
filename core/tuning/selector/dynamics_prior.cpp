#include "tuning/private/selector_rules.h"

#include "attribution/dense_products.h"
#include "features/featurizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace attri {

double selectorFeatureScale(const SelectorInputs& in, const SelectorOptions& o)
{
    if (o.scale > 0)
        return o.scale;
    return featureScaleOf(*in.trainFeatures, in.gradientSqNormMean, in.gradientNormSamples);
}

double selectorCurvatureRatio(const SelectorInputs& in)
{
    const RowMatrixF& phi = *in.trainFeatures;
    if (in.curvature == SelectorCurvature::LossGaussNewton
        || static_cast<Eigen::Index>(in.trainLoss.size()) != phi.rows())
        return 1.0;
    // Per sample, with p = exp(−ℓ) and 1 − p = −expm1(−ℓ) (accurate when p is close to 1):
    // TRAK's margin features carry the loss's Gauss–Newton weight p(1−p) outside the features;
    // loss features are (1−p) × margin features, so their GN weight is p/(1−p) per unit of ‖g‖².
    const Eigen::VectorXf norms = rowSquaredNorms(phi, phi.cols()); // one pass on BLAS threads
    double used = 0, gaussNewton = 0;
    for (Eigen::Index i = 0; i < phi.rows(); ++i) {
        const double sq = static_cast<double>(norms[i]);
        const double loss = in.trainLoss[static_cast<size_t>(i)];
        if (!(loss >= 0) || !std::isfinite(loss) || !std::isfinite(sq))
            continue;
        const double p = std::exp(-loss), q = -std::expm1(-loss);
        used += sq;
        if (in.curvature == SelectorCurvature::MarginFisher)
            gaussNewton += p * q * sq;
        else if (q > 0)
            gaussNewton += p / q * sq;
    }
    const double rho = used / gaussNewton;
    return rho > 0 && std::isfinite(rho) ? rho : 1.0;
}

double selectorPathFactor(const SelectorInputs& in)
{
    if (in.pathTrace.empty() || !(in.finalTrace > 0) || !std::isfinite(in.finalTrace))
        return 1.0;
    double sum = 0.0;
    for (double t : in.pathTrace) {
        if (!(t > 0) || !std::isfinite(t))
            return 1.0;
        sum += t;
    }
    const double pi = in.finalTrace / (sum / static_cast<double>(in.pathTrace.size()));
    return pi > 0 && std::isfinite(pi) ? pi : 1.0;
}

namespace {

/// Adam's rate as SGD's: the rate whose steps are as long as Adam's at the end of training
/// (NaN where the gradient's size is not recorded).
double adamEffectiveStep(const SelectorInputs& in)
{
    const RowMatrixF& phi = *in.trainFeatures;
    const double p = static_cast<double>(in.gradientDimension);
    double lossGradSq = in.gradientSqNormMean;
    if (!(p > 0) || !(lossGradSq > 0) || !std::isfinite(lossGradSq))
        return std::numeric_limits<double>::quiet_NaN();
    if (in.curvature == SelectorCurvature::MarginFisher) {
        // TRAK's features and their recorded norms are margin gradients ∇f; the optimizer saw
        // loss gradients −(1 − p)∇f. Their ratio of mean squared norms, in feature space.
        if (static_cast<Eigen::Index>(in.trainLoss.size()) != phi.rows())
            return std::numeric_limits<double>::quiet_NaN();
        const Eigen::VectorXf norms = rowSquaredNorms(phi, phi.cols());
        double margin = 0, loss = 0;
        for (Eigen::Index i = 0; i < phi.rows(); ++i) {
            const double q = -std::expm1(-static_cast<double>(in.trainLoss[static_cast<size_t>(i)]));
            if (!std::isfinite(q) || !std::isfinite(norms[i]))
                continue;
            margin += norms[i];
            loss += q * q * norms[i];
        }
        if (!(margin > 0) || !(loss > 0))
            return std::numeric_limits<double>::quiet_NaN();
        lossGradSq *= loss / margin;
    }
    const double batch = static_cast<double>(in.recipe.batchSize);
    return in.recipe.lr * std::sqrt(p * batch / lossGradSq);
}

} // namespace

namespace {

/// Converged training (lbfgs; docs/lambda-selection.md, "Converged training"): the model minimises
/// L + wd/2·‖θ‖², whose exact influence damping is wd. With wd = 0, or a run that stopped short of
/// its tolerance, the damping is what K iterations of L-BFGS resolve, μ_max/K² in the method's own
/// units (a Krylov method's K-step filter, K the recipe's cap), when that is larger.
void recommendConverged(const SelectorInputs& in, const SelectorOptions& o, bool calibrated,
                        LambdaRecommendation& rec)
{
    const SpectralCache& cache = *in.cache;
    const int64_t n = in.trainFeatures->rows(), k = in.trainFeatures->cols();
    const TrainRecipe& r = in.recipe;
    if (!calibrated)
        rec.featureScale = o.scale > 0 ? o.scale : static_cast<double>(k);
    rec.curvatureRatio = calibrated ? selectorCurvatureRatio(in) : 1.0;
    rec.pathFactor = 1.0; // no dynamics: the objective, not the path, sets the damping
    const double units = rec.featureScale * rec.curvatureRatio * conventionFactor(cache, n);
    const bool reached = !(in.gradientMaxAbs > r.tolerance); // NaN (not recorded): taken as reached
    const double muMax = cache.eigenvalues().size() ? std::max(0.0, static_cast<double>(cache.eigenvalues().maxCoeff()))
                                                    : 0.0;
    const double iterations = static_cast<double>(r.epochs);
    const double floor = muMax / (iterations * iterations); // method units
    const bool exact = r.weightDecay > 0 && reached;
    const bool useFloor = !exact && floor > r.weightDecay * units;
    rec.priorStepSize = std::nan("");
    rec.priorSteps = std::nan("");
    rec.priorWeightDecay = useFloor ? floor / units : r.weightDecay;
    rec.lambda = useFloor ? floor : r.weightDecay * units;
    std::ostringstream text;
    text << "converged training: lambda_true = ";
    if (exact)
        text << "wd " << r.weightDecay << " (the exact damping of the minimised L + wd/2|theta|^2";
    else
        text << (useFloor ? "mu_max/K^2 " : "wd ") << rec.priorWeightDecay << " (max of wd " << r.weightDecay
             << " and mu_max/K^2 with mu_max " << muMax << " in the method's units, K " << r.epochs
             << " L-BFGS iterations, the cap; "
             << (r.weightDecay > 0 ? "the run stopped short of its tolerance" : "no weight decay");
    if (std::isfinite(in.gradientMaxAbs))
        text << "; final max |g| " << in.gradientMaxAbs << ", tolerance " << r.tolerance;
    text << "); feature scale c " << rec.featureScale
         << (calibrated && o.scale <= 0 && !(in.gradientSqNormMean > 0) ? " (= k: no stored gradient norm)" : "")
         << ", curvature ratio rho " << rec.curvatureRatio << ", path factor pi 1 (no dynamics)";
    rec.inputs = text.str();
}

} // namespace

void recommendByDynamicsPrior(const SelectorInputs& in, const SelectorOptions& o, bool calibrated,
                              LambdaRecommendation& rec)
{
    if (in.recipe.converged()) {
        recommendConverged(in, o, calibrated, rec);
        return;
    }
    const SpectralCache& cache = *in.cache;
    const int64_t n = in.trainFeatures->rows(), k = in.trainFeatures->cols();
    const int64_t s = static_cast<int64_t>(std::floor(o.alpha * static_cast<double>(n)));
    const TrainRecipe& r = in.recipe;
    const double steps = static_cast<double>(subsetSteps(r, s));
    // A schedule: the run's integrated step size, lr × Σ_t multiplier_t, in place of lr × T
    // (docs/lambda-selection.md, "Schedules"); T for a constant rate.
    const int64_t perEpoch = (std::max<int64_t>(1, s) + r.batchSize - 1) / r.batchSize;
    const double integrated = r.lrMultiplierSum(perEpoch, r.epochs * perEpoch);
    // Adam: the SGD rate whose steps are as long as Adam's (docs/lambda-selection.md, "Adam"); where
    // the gradient's size is not recorded, its rate read as SGD's.
    const double adamStep = r.adamFamily() ? adamEffectiveStep(in) : std::nan("");
    const double effectiveLr = r.adamFamily() ? (std::isfinite(adamStep) ? adamStep : r.lr)
                                              : r.lr / (1.0 - r.momentum);
    // AdamW's decay is decoupled: θ shrinks by lr·wd a step whatever the gradient, which is the
    // ridge wd·lr/η_eff for steps of length η_eff.
    const double ridge = r.optimizer == "adamw" ? r.weightDecay * r.lr / effectiveLr : r.weightDecay;
    const double trueLambda = 1.0 / (effectiveLr * integrated) + ridge;
    if (!calibrated)
        rec.featureScale = o.scale > 0 ? o.scale : static_cast<double>(k);
    rec.curvatureRatio = calibrated ? selectorCurvatureRatio(in) : 1.0;
    rec.pathFactor = calibrated ? selectorPathFactor(in) : 1.0;
    rec.priorStepSize = effectiveLr;
    rec.priorSteps = integrated;
    rec.priorWeightDecay = ridge;
    rec.lambda = trueLambda * rec.featureScale * rec.curvatureRatio * rec.pathFactor * conventionFactor(cache, n);
    std::ostringstream text;
    text << "1/(eta_eff*T) + wd with eta_eff " << effectiveLr
         << (!r.adamFamily()           ? ""
             : std::isfinite(adamStep) ? " (Adam's lr*sqrt(p*B/E|g|^2))"
                                       : " (Adam's lr read as SGD's: no recorded gradient norm)")
         << ", T " << (r.constantRate() ? static_cast<double>(static_cast<int64_t>(steps)) : integrated)
         << (r.constantRate() ? " subset steps" : " (the " + r.scheduleText() + " schedule's integrated steps of "
                                                      + std::to_string(static_cast<int64_t>(steps)) + ")")
         << ", wd " << ridge << (r.optimizer == "adamw" ? " (AdamW's decoupled wd*lr/eta_eff)" : "")
         << "; feature scale c " << rec.featureScale
         << (calibrated && o.scale <= 0 && !(in.gradientSqNormMean > 0) ? " (= k: no stored gradient norm)" : "")
         << ", curvature ratio rho " << rec.curvatureRatio << ", path factor pi " << rec.pathFactor
         << (calibrated && in.pathTrace.empty() ? " (no recorded training path)" : "");
    rec.inputs = text.str();
}

} // namespace attri
