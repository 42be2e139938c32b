#include "store/attribution_store.h"

#include "common/error.h"
#include "store/h5_file.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace attri {

namespace {

const std::string kFeatures = "/features";
const std::string kAttribution = "/attribution";

std::string group(const std::string& key) { return kFeatures + "/" + key; }

FeatureTarget parseTarget(const std::string& text, const std::string& where)
{
    for (auto t : {FeatureTarget::Loss, FeatureTarget::Margin})
        if (toString(t) == text)
            return t;
    throw FormatError(where + ": unknown feature target '" + text + "'");
}

std::string layersSlug(const std::string& layers)
{
    if (layers.empty() || layers == "all" || layers == "last")
        return layers.empty() ? "all" : layers;
    // Named layer lists become a short stable hash so keys stay readable.
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : layers)
        h = (h ^ c) * 1099511628211ull;
    std::ostringstream s;
    s << "L" << std::hex << (h & 0xffffff);
    return s.str();
}

void writeStats(H5File& file, const std::string& base, const std::string& split, const SampleStats& stats)
{
    file.writeFloats(base + "/" + split + "_loss", {static_cast<int64_t>(stats.loss.size())}, stats.loss.data());
    file.writeFloats(base + "/" + split + "_true_prob", {static_cast<int64_t>(stats.trueProb.size())},
                     stats.trueProb.data());
}

SampleStats readStats(const H5File& file, const std::string& base, const std::string& split)
{
    SampleStats s;
    if (file.exists(base + "/" + split + "_loss"))
        s.loss = file.readFloats(base + "/" + split + "_loss");
    if (file.exists(base + "/" + split + "_true_prob"))
        s.trueProb = file.readFloats(base + "/" + split + "_true_prob");
    return s;
}

std::string spectrumGroup(const SpectrumRecord& r)
{
    return kAttribution + "/" + r.method + "/spectra/k" + std::to_string(r.k) + "-c" + std::to_string(r.checkpoint);
}

} // namespace

std::string featureKey(FeatureTarget target, ProjectionKind projection, int64_t dimension, uint64_t seed,
                       const std::string& layers, int64_t checkpoint)
{
    std::ostringstream s;
    s << toString(target) << "-" << toString(projection) << "-k" << dimension << "-s" << seed << "-"
      << layersSlug(layers) << "-c" << checkpoint;
    return s.str();
}

void createFeatureGroup(H5File& file, const FeatureRecord& r)
{
    const std::string base = group(r.key);
    if (file.exists(base))
        file.remove(base);
    file.createGroup(base);
    file.setAttr(base, "target", toString(r.target));
    file.setAttr(base, "projection", toString(r.projection));
    file.setAttr(base, "dimension", r.dimension);
    file.setAttr(base, "full_dimension", r.fullDimension);
    file.setAttr(base, "seed", static_cast<int64_t>(r.seed));
    file.setAttr(base, "layers", r.layers);
    file.setAttr(base, "checkpoint", r.checkpoint);
    file.setAttr(base, "checkpoint_lr", r.checkpointLr);
    file.setAttr(base, "batched", static_cast<int64_t>(r.batched ? 1 : 0));
    file.setAttr(base, "complete", static_cast<int64_t>(0));
    if (std::isfinite(r.gradientSqNormMean) && r.gradientNormSamples > 0) {
        file.setAttr(base, "gradient_sq_norm_mean", r.gradientSqNormMean);
        file.setAttr(base, "gradient_norm_samples", r.gradientNormSamples);
    }
    if (!r.device.empty())
        file.setAttr(base, "device", r.device);
    const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(256, (1 << 20) / std::max<int64_t>(1, r.dimension)));
    file.createFloatMatrix(base + "/train", r.trainCount, r.dimension, std::min(chunk, std::max<int64_t>(1, r.trainCount)));
    file.createFloatMatrix(base + "/test", r.testCount, r.dimension, std::min(chunk, std::max<int64_t>(1, r.testCount)));
}

void writeFeatureRows(H5File& file, const std::string& key, const std::string& split, int64_t firstRow,
                      const RowMatrixF& block)
{
    file.writeRows(group(key) + "/" + split, firstRow, block.rows(), block.data());
}

void writeFeatureStats(H5File& file, const FeatureRecord& r)
{
    const std::string base = group(r.key);
    writeStats(file, base, "train", r.trainStats);
    writeStats(file, base, "test", r.testStats);
    file.setAttr(base, "complete", static_cast<int64_t>(1));
}

std::optional<FeatureRecord> findFeatureRecord(const H5File& file, const std::string& key)
{
    const std::string base = group(key);
    if (!file.exists(base) || !file.hasAttr(base, "complete") || file.attrInt(base, "complete") != 1)
        return std::nullopt;
    FeatureRecord r;
    r.key = key;
    const std::string where = file.path() + ":" + base;
    r.target = parseTarget(file.attrString(base, "target"), where);
    r.projection = parseProjectionKind(file.attrString(base, "projection"));
    r.dimension = file.attrInt(base, "dimension");
    r.fullDimension = file.attrInt(base, "full_dimension");
    r.seed = static_cast<uint64_t>(file.attrInt(base, "seed"));
    r.layers = file.attrString(base, "layers");
    r.checkpoint = file.attrInt(base, "checkpoint");
    r.checkpointLr = file.attrDouble(base, "checkpoint_lr");
    r.batched = file.attrInt(base, "batched") != 0;
    if (file.hasAttr(base, "gradient_sq_norm_mean") && file.hasAttr(base, "gradient_norm_samples")) {
        r.gradientSqNormMean = file.attrDouble(base, "gradient_sq_norm_mean");
        r.gradientNormSamples = file.attrInt(base, "gradient_norm_samples");
    }
    if (file.hasAttr(base, "device"))
        r.device = file.attrString(base, "device");
    r.trainCount = file.info(base + "/train").shape.at(0);
    r.testCount = file.info(base + "/test").shape.at(0);
    r.trainStats = readStats(file, base, "train");
    r.testStats = readStats(file, base, "test");
    return r;
}

std::vector<FeatureRecord> listFeatureRecords(const H5File& file)
{
    std::vector<FeatureRecord> out;
    if (!file.exists(kFeatures))
        return out;
    for (const auto& key : file.children(kFeatures))
        if (auto r = findFeatureRecord(file, key))
            out.push_back(std::move(*r));
    return out;
}

RowMatrixF readFeatures(const H5File& file, const std::string& key, const std::string& split, int64_t columns)
{
    const std::string path = group(key) + "/" + split;
    H5DatasetInfo info = file.info(path);
    if (info.shape.size() != 2)
        throw FormatError(file.path() + ":" + path + ": expected a 2-D feature matrix");
    const int64_t rows = info.shape[0];
    const int64_t cols = columns <= 0 ? info.shape[1] : columns;
    if (cols > info.shape[1])
        throw ConfigError(file.path() + ":" + path + ": k=" + std::to_string(cols) + " exceeds the stored k_max="
                          + std::to_string(info.shape[1]));
    std::vector<float> values = file.readRows(path, 0, rows, cols);
    RowMatrixF m(rows, cols);
    std::copy(values.begin(), values.end(), m.data());
    return m;
}

void writeSpectrum(H5File& file, const SpectrumRecord& r)
{
    const std::string base = spectrumGroup(r);
    if (file.exists(base))
        file.remove(base);
    file.createGroup(base);
    file.setAttr(base, "method", r.method);
    file.setAttr(base, "k", r.k);
    file.setAttr(base, "checkpoint", r.checkpoint);
    file.setAttr(base, "feature_key", r.featureKey);
    file.setAttr(base, "curvature_convention", r.convention);
    file.setAttr(base, "curvature", r.curvature);
    file.setAttr(base, "mean_eigenvalue", r.meanEigenvalue);
    file.setAttr(base, "most_negative_eigenvalue", r.mostNegativeEigenvalue);
    file.setAttr(base, "seconds", r.seconds);
    file.writeDoubles(base + "/eigenvalues", {static_cast<int64_t>(r.eigenvalues.size())}, r.eigenvalues.data());
}

std::vector<SpectrumRecord> listSpectra(const H5File& file, const std::string& method)
{
    std::vector<SpectrumRecord> out;
    if (!file.exists(kAttribution))
        return out;
    for (const auto& m : file.children(kAttribution)) {
        if (!method.empty() && m != method)
            continue;
        const std::string spectra = kAttribution + "/" + m + "/spectra";
        if (!file.exists(spectra))
            continue;
        for (const auto& name : file.children(spectra)) {
            const std::string base = spectra + "/" + name;
            SpectrumRecord r;
            r.method = file.attrString(base, "method");
            r.k = file.attrInt(base, "k");
            r.checkpoint = file.attrInt(base, "checkpoint");
            r.featureKey = file.attrString(base, "feature_key");
            r.convention = file.attrString(base, "curvature_convention");
            r.curvature = file.attrString(base, "curvature");
            r.meanEigenvalue = file.attrDouble(base, "mean_eigenvalue");
            r.mostNegativeEigenvalue = file.attrDouble(base, "most_negative_eigenvalue");
            r.seconds = file.attrDouble(base, "seconds");
            std::vector<double> ev = file.readDoubles(base + "/eigenvalues");
            r.eigenvalues = Eigen::Map<Eigen::VectorXd>(ev.data(), static_cast<Eigen::Index>(ev.size()));
            out.push_back(std::move(r));
        }
    }
    std::sort(out.begin(), out.end(), [](const SpectrumRecord& a, const SpectrumRecord& b) {
        return std::tie(a.method, a.k, a.checkpoint) < std::tie(b.method, b.k, b.checkpoint);
    });
    return out;
}

void writeSweepTable(H5File& file, const SweepTable& t)
{
    const std::string base = kAttribution + "/" + t.method + "/sweeps/" + t.quantity;
    if (file.exists(base))
        file.remove(base);
    file.createGroup(base);
    file.setAttr(base, "method", t.method);
    file.setAttr(base, "quantity", t.quantity);
    file.setAttr(base, "rows", std::string("relative lambda c (lambda = c * mean eigenvalue of that k)"));
    file.setAttr(base, "columns", std::string("projection dimension k"));
    file.writeDoubles(base + "/relative_lambda", {static_cast<int64_t>(t.relativeLambdas.size())},
                      t.relativeLambdas.data());
    file.writeInt64(base + "/k", {static_cast<int64_t>(t.ks.size())}, t.ks.data());
    // Stored row-major (rows λ, columns k), as h5py users expect.
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> v = t.values;
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> a = t.absoluteLambdas;
    file.writeDoubles(base + "/values", {v.rows(), v.cols()}, v.data());
    file.writeDoubles(base + "/absolute_lambda", {a.rows(), a.cols()}, a.data());
}

std::vector<SweepTable> listSweepTables(const H5File& file, const std::string& method)
{
    std::vector<SweepTable> out;
    if (!file.exists(kAttribution))
        return out;
    for (const auto& m : file.children(kAttribution)) {
        if (!method.empty() && m != method)
            continue;
        const std::string sweeps = kAttribution + "/" + m + "/sweeps";
        if (!file.exists(sweeps))
            continue;
        for (const auto& q : file.children(sweeps)) {
            const std::string base = sweeps + "/" + q;
            SweepTable t;
            t.method = m;
            t.quantity = q;
            t.relativeLambdas = file.readDoubles(base + "/relative_lambda");
            t.ks = file.readInt64(base + "/k");
            std::vector<int64_t> shape;
            std::vector<double> v = file.readDoubles(base + "/values", &shape);
            std::vector<double> a = file.readDoubles(base + "/absolute_lambda");
            if (shape.size() != 2 || shape[0] != static_cast<int64_t>(t.relativeLambdas.size())
                || shape[1] != static_cast<int64_t>(t.ks.size()) || a.size() != v.size())
                throw FormatError(file.path() + ":" + base + ": sweep table shape does not match its axes");
            using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
            t.values = Eigen::Map<RowMat>(v.data(), shape[0], shape[1]);
            t.absoluteLambdas = Eigen::Map<RowMat>(a.data(), shape[0], shape[1]);
            out.push_back(std::move(t));
        }
    }
    return out;
}

void writeRecommendation(H5File& file, const RecommendationRecord& r)
{
    const std::string base = kAttribution + "/" + r.method + "/recommendation/k" + std::to_string(r.k);
    if (file.exists(base))
        file.remove(base);
    file.createGroup(base);
    file.setAttr(base, "rule", r.rule);
    file.setAttr(base, "lambda", r.lambda);
    file.setAttr(base, "relative_lambda", r.relativeLambda);
    file.setAttr(base, "curvature_convention", r.convention);
    file.setAttr(base, "inputs", r.inputs);
    file.setAttr(base, "reason", r.reason);
    file.setAttr(base, "seconds", r.seconds);
    file.setAttr(base, "peakedness", r.peakedness);
    file.setAttr(base, "feature_scale", r.featureScale);
    file.setAttr(base, "curvature_ratio", r.curvatureRatio);
    file.setAttr(base, "path_factor", r.pathFactor);
    file.setAttr(base, "prior_step_size", r.priorStepSize);
    file.setAttr(base, "prior_steps", r.priorSteps);
    file.setAttr(base, "prior_weight_decay", r.priorWeightDecay);
    file.setAttr(base, "path_stability", r.pathStability);
    file.setAttr(base, "lds_at_recommended", r.ldsAtRecommended);
    file.setAttr(base, "lds_grid_best", r.ldsGridBest);
    file.setAttr(base, "lambda_grid_best", r.lambdaGridBest);
    file.setAttr(base, "lds_ratio_low", r.ldsRatioLow);
    file.setAttr(base, "lds_ratio_high", r.ldsRatioHigh);
    file.writeDoubles(base + "/lambdas", {static_cast<int64_t>(r.lambdas.size())}, r.lambdas.data());
    if (!r.meanXi.empty())
        file.writeDoubles(base + "/mean_xi", {static_cast<int64_t>(r.meanXi.size())}, r.meanXi.data());
}

std::vector<RecommendationRecord> listRecommendations(const H5File& file)
{
    std::vector<RecommendationRecord> out;
    if (!file.exists(kAttribution))
        return out;
    auto number = [&](const std::string& g, const char* name, double fallback) {
        return file.hasAttr(g, name) ? file.attrDouble(g, name) : fallback;
    };
    auto text = [&](const std::string& g, const char* name) {
        return file.hasAttr(g, name) ? file.attrString(g, name) : std::string();
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const auto& m : file.children(kAttribution)) {
        const std::string base = kAttribution + "/" + m + "/recommendation";
        if (!file.exists(base))
            continue;
        for (const auto& name : file.children(base)) {
            if (name.size() < 2 || name[0] != 'k' || name.find_first_not_of("0123456789", 1) != std::string::npos)
                continue;
            const std::string g = base + "/" + name;
            RecommendationRecord r;
            r.method = m;
            r.k = std::stoll(name.substr(1));
            r.rule = text(g, "rule");
            r.lambda = number(g, "lambda", 0.0);
            r.relativeLambda = number(g, "relative_lambda", 0.0);
            r.convention = text(g, "curvature_convention");
            r.inputs = text(g, "inputs");
            r.reason = text(g, "reason");
            r.seconds = number(g, "seconds", 0.0);
            r.peakedness = number(g, "peakedness", 0.0);
            r.featureScale = number(g, "feature_scale", nan);
            r.curvatureRatio = number(g, "curvature_ratio", nan);
            r.pathFactor = number(g, "path_factor", nan);
            r.priorStepSize = number(g, "prior_step_size", nan);
            r.priorSteps = number(g, "prior_steps", nan);
            r.priorWeightDecay = number(g, "prior_weight_decay", nan);
            r.pathStability = number(g, "path_stability", nan);
            r.ldsAtRecommended = number(g, "lds_at_recommended", nan);
            r.ldsGridBest = number(g, "lds_grid_best", nan);
            r.lambdaGridBest = number(g, "lambda_grid_best", nan);
            r.ldsRatioLow = number(g, "lds_ratio_low", nan);
            r.ldsRatioHigh = number(g, "lds_ratio_high", nan);
            if (file.exists(g + "/lambdas"))
                r.lambdas = file.readDoubles(g + "/lambdas");
            if (file.exists(g + "/mean_xi"))
                r.meanXi = file.readDoubles(g + "/mean_xi");
            out.push_back(std::move(r));
        }
    }
    return out;
}

} // namespace attri
