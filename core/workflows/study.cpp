#include "workflows/study.h"

#include "attribution/attribution_session.h"
#include "workflows/attribute.h"
#include "attribution/unrolled_path.h"
#include "common/error.h"
#include "common/hash.h"
#include "data/data_loader.h"
#include "eval/ground_truth.h"
#include "eval/lds.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"
#include "model/trainer.h"
#include "store/atomic_write.h"
#include "workflows/create_experiment.h"
#include "workflows/import_manifest.h"
#include "store/experiment_file.h"
#include "store/h5_file.h"
#include "tuning/sweep_tables.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

namespace attri {

namespace {

const std::vector<double> kDattriGrid = {1, 1e-1, 1e-2, 5e-3, 1e-3, 1e-4, 1e-5};

bool sameRecipe(const TrainRecipe& a, const TrainRecipe& b)
{
    return a.optimizer == b.optimizer && a.lr == b.lr && a.momentum == b.momentum && a.batchSize == b.batchSize
           && a.epochs == b.epochs && a.weightDecay == b.weightDecay && a.seed == b.seed
           && a.checkpoints == b.checkpoints && a.schedule == b.schedule && a.warmupEpochs == b.warmupEpochs
           && a.augment == b.augment && a.tolerance == b.tolerance;
}

/// Trains the setting's model unless the file already holds it (then the study resumes).
void ensureExperiment(const std::string& path, const StudyOptions& o, Architecture arch, const TrainRecipe& recipe,
                      ProgressSink& progress, const CancelToken& cancel)
{
    if (std::filesystem::exists(path)) {
        H5File file(path, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        ModelRecord m = readModelRecord(file);
        DataRecord d = readDataRecord(file);
        if (m.architecture == arch && m.recipe && sameRecipe(*m.recipe, recipe) && d.options.spec == DatasetSpec::parse(o.data).toString()
            && static_cast<int64_t>(d.trainIndices.size()) == o.trainSize && static_cast<int64_t>(d.testIndices.size()) == o.testSize)
            return;
        throw ConfigError(path + " holds a different experiment; remove it or choose another --out");
    }
    DataOptions dataOptions;
    dataOptions.spec = o.data;
    dataOptions.trainSize = o.trainSize;
    dataOptions.testSize = o.testSize;
    DatasetSpec spec = DatasetSpec::parse(o.data);
    dataOptions.mean = spec.standardMean();
    dataOptions.std = spec.standardStd();
    ModelRecord record = trainExperiment(path, dataOptions, arch, recipe, progress, cancel);
    progress.message("trained " + toString(arch) + ": test accuracy " + std::to_string(record.testMetrics.accuracy));
}

std::string fmt(double v, int precision = 4)
{
    if (!std::isfinite(v))
        return "nan";
    std::ostringstream s;
    s << std::setprecision(precision) << v;
    return s.str();
}

} // namespace

TrainRecipe RecipeVariant::apply(Architecture arch) const
{
    TrainRecipe r = TrainRecipe::standardFor(arch);
    if (name == "standard")
        return r;
    if (name == "short-high-lr") {
        // A few epochs at a high rate: far from convergence.
        r.lr = 0.1;
        r.momentum = 0.0;
        r.epochs = std::max<int64_t>(1, r.epochs / 10);
        return r;
    }
    if (name == "momentum-wd") {
        r.momentum = 0.9;
        r.weightDecay = 5e-3;
        return r;
    }
    if (name == "long") {
        // Three times the epochs at the same rate: the same network nearer a minimum (the
        // 10-epoch CNN is still descending; see docs/lambda-selection.md).
        r.epochs *= 3;
        return r;
    }
    throw ConfigError("unknown recipe variant '" + name + "' (expected standard, short-high-lr, momentum-wd, long)");
}

RecipeVariant RecipeVariant::parse(const std::string& name)
{
    RecipeVariant v;
    v.name = name;
    v.apply(Architecture::LogisticRegression); // validates the name
    return v;
}

void StudyOptions::validate() const
{
    if ((models.empty() && fromPyTorch.empty()) || methods.empty() || recipes.empty())
        throw ConfigError("study: --model (or --from-pytorch), --methods and --recipes need at least one value each");
    for (const auto& m : models) {
        Architecture a = parseArchitecture(m);
        if (a == Architecture::TorchScript || a == Architecture::ResNet9)
            throw ConfigError("study: --model takes lr, mlp or cnn, got " + m);
    }
    for (const auto& m : methods)
        if (m != "if" && m != "trak")
            throw ConfigError("study: --methods takes if and trak, got " + m);
    for (const auto& r : recipes)
        RecipeVariant::parse(r);
    if (ks.empty())
        throw ConfigError("study: --k needs at least one value");
    lds.validate(trainSize);
    if (bootstrapResamples < 10)
        throw ConfigError("study: --bootstrap needs at least 10 resamples, got " + std::to_string(bootstrapResamples));
    grid.validate();
    selector.validate();
    if (pathCheckpoints < 0 || pathCheckpoints > 1000)
        throw ConfigError("study: --path-checkpoints takes 0 (off) to 1000, got " + std::to_string(pathCheckpoints));
    if (selector.rule == SelectorRule::PathMatch)
        throw ConfigError("study: the recommended rule cannot be path-match, which explicit IF cannot use; "
                          "--path-checkpoints C scores it beside the recommended rule");
}

namespace {

/// The rows of one experiment: attributes it with every method (unless the file holds that
/// already), then scores every rule at every k against `truth`. `pathExp`, when not empty, is the
/// same run recorded with checkpoints and featurized by TracIn (path-match and `unrolled`).
void studyExperiment(const StudyOptions& o, const std::string& exp, const std::string& modelName,
                     const std::string& recipeName, Architecture arch, const TrainRecipe& recipe,
                     const GroundTruth& truth, const std::string& pathExp, double pathFeaturizeSeconds,
                     std::vector<StudyRow>& rows, ProgressSink& progress, const CancelToken& cancel)
{
    // The unrolled method's LDS per k: the same for every method's row at that k.
    std::map<int64_t, std::pair<double, double>> unrolledAt; // k → (LDS, seconds)
    for (const auto& methodName : o.methods) {
        const bool explicitIf = methodName == "if" && arch == Architecture::LogisticRegression;
        AttributionRequest request;
        request.method = methodName;
        request.projection = explicitIf ? ProjectionKind::None : o.projection;
        request.ks = explicitIf ? std::vector<int64_t>{1} : o.ks;
        request.sensitivityTests = o.sensitivityTests;
        bool stored = false;
        try {
            // What the file holds (opening a session would decompose the largest k).
            const std::optional<StoredMethod> probe = storedMethod(exp, methodName);
            stored = probe
                     && (explicitIf ? probe->method == Method::InfluenceExplicit : probe->ks == request.ks);
        } catch (const ConfigError&) {
        }
        if (!stored)
            runAttribution(exp, request, progress, cancel);

        std::vector<int64_t> ks = explicitIf ? std::vector<int64_t>{0} : o.ks;
        for (int64_t k : ks) {
            auto session = AttributionSession::open(exp, methodName, k, progress, cancel);
            StudyRow row;
            row.model = modelName;
            row.recipe = recipeName;
            row.method = toString(session->method());
            row.k = session->k();
            row.meanEigenvalue = session->meanEigenvalue();
            row.retrainSeconds = truth.seconds;
            row.subsets = truth.subsets;
            const GroupScores subsetSums(*session, ldsMaskMatrix(truth));
            const LdsTargets targets(truth);
            auto ldsAt = [&](double lambda) { return ldsFromSubsetSums(subsetSums.at(lambda), targets); };
            row.gridLambdas = o.grid.toAbsolute(row.meanEigenvalue);

            // Every rule's λ (no retraining), then the default's evidence on the grid. The
            // training path, when recorded, is there for the rules that read it.
            SelectorInputs inputs = selectorInputs(*session);
            inputs.recipe = recipe;
            std::shared_ptr<TrainingPathFeatures> pathFeatures;
            if (!pathExp.empty() && !explicitIf)
                pathFeatures = attachTrainingPath(pathExp, *session, inputs);
            // path-match for its own columns. path-or-prior runs on its own, as `recommend` runs
            // it: whether the path fits its budget, and what it spends before it knows, are
            // timed, not inferred from path-match's time.
            std::optional<LambdaRecommendation> pathMatch;
            if (pathFeatures) {
                SelectorOptions so = selectorOptionsFor(*session, o.selector);
                so.rule = SelectorRule::PathMatch;
                pathMatch = recommendLambda(inputs, row.gridLambdas, so, progress, cancel);
            }
            for (SelectorRule rule : allSelectorRules()) {
                SelectorOptions so = selectorOptionsFor(*session, o.selector);
                so.rule = rule;
                LambdaRecommendation rec = recommendLambda(inputs, row.gridLambdas, so, progress, cancel);
                row.ruleLambda[toString(rule)] = rec.lambda;
                row.ruleSeconds[toString(rule)] = rec.seconds;
                if (rule == o.selector.rule) {
                    row.recommendedLambda = rec.lambda;
                    row.recommendSeconds = rec.seconds;
                }
                if (rule == SelectorRule::SimulatedSgd)
                    row.gridXi.assign(rec.meanXi.data(), rec.meanXi.data() + rec.meanXi.size());
            }
            const LdsEvidence evidence = ldsEvidence(subsetSums, row.gridLambdas, row.recommendedLambda, truth,
                                                     o.bootstrapResamples, progress, cancel);
            row.gridLds = evidence.gridLds;
            row.bestLambda = evidence.bestLambda;
            row.bestLds = evidence.bestLds;
            row.recommendedLds = evidence.atLambda.mean;
            row.recommendedLdsStderr = evidence.atLambda.standardError;
            row.ratio = evidence.ratio;
            row.ratioLow = evidence.interval.low;
            row.ratioHigh = evidence.interval.high;
            row.ratioShareAbove = evidence.interval.shareAbove;
            if (pathFeatures && !unrolledAt.count(row.k)) {
                const auto start = std::chrono::steady_clock::now();
                const UnrolledPath unrolled =
                    UnrolledPath::build(inputs.path, row.k, recipe, kUnrolledSubsetFraction, progress,
                                        cancel);
                const Eigen::MatrixXf scores =
                    unrolled.scores(inputs.pathTestFeatures->leftCols(row.k).cast<double>(), cancel);
                const double seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                unrolledAt[row.k] = {computeLds(RowMatrixF(scores), truth).mean, seconds};
            }
            if (unrolledAt.count(row.k)) {
                row.unrolledLds = unrolledAt[row.k].first;
                row.unrolledSeconds = unrolledAt[row.k].second;
            }
            if (pathMatch) {
                const LambdaRecommendation& rec = *pathMatch;
                row.pathLambda = rec.lambda;
                row.pathSeconds = rec.seconds;
                row.pathStability = rec.pathStability;
                row.pathFeaturizeSeconds = pathFeaturizeSeconds;
                const RowMatrixF sums = subsetSums.at(rec.lambda);
                row.pathLds = ldsFromSubsetSums(sums, targets).mean;
                if (std::isfinite(row.bestLds) && row.bestLds > 0) {
                    row.pathRatio = row.pathLds / row.bestLds;
                    const LdsRatioInterval interval =
                        bootstrapLdsRatio(sums, evidence.bestSums, truth, cancel, o.bootstrapResamples);
                    row.pathRatioLow = interval.low;
                    row.pathRatioHigh = interval.high;
                    row.pathRatioShareAbove = interval.shareAbove;
                }
            }
            // TRAK averages checkpoints: the recommendation is made on the final one, and
            // applied as the same absolute λ.
            for (SelectorRule rule : allSelectorRules())
                row.ruleLds[toString(rule)] = rule == o.selector.rule
                                                  ? row.recommendedLds
                                                  : ldsAt(row.ruleLambda[toString(rule)]).mean;
            row.dattriGridBestLds = -2;
            for (double l : kDattriGrid) {
                double v = ldsAt(l).mean;
                if (std::isfinite(v) && v > row.dattriGridBestLds) {
                    row.dattriGridBestLds = v;
                    row.dattriGridBestLambda = l;
                }
            }
            progress.message(row.model + "/" + row.recipe + " " + row.method + " k " + std::to_string(row.k)
                             + ": best LDS " + fmt(row.bestLds) + " at " + fmt(row.bestLambda, 3)
                             + ", recommended " + fmt(row.recommendedLds) + " at "
                             + fmt(row.recommendedLambda, 3) + " (ratio " + fmt(row.ratio, 3) + ", 90% interval "
                             + fmt(row.ratioLow, 3) + "–" + fmt(row.ratioHigh, 3) + ")"
                             + (std::isfinite(row.pathRatio) ? "; path-match " + fmt(row.pathLds) + " at "
                                                                   + fmt(row.pathLambda, 3) + " (ratio "
                                                                   + fmt(row.pathRatio, 3) + ")"
                                                             : std::string()));
            rows.push_back(row);

            std::string curves = "curves-" + row.model + "-" + row.recipe + "-" + row.method + "-k"
                                 + std::to_string(row.k) + ".svg";
            std::replace_if(curves.begin(), curves.end(), [](char c) { return c == ':' || c == ' '; }, '_');
            writeTextAtomically(fileInFolder(o.outDir, curves), curvesSvg(row));
            // Rewrite the tables after every row so a long study shows its progress.
            writeTextAtomically(fileInFolder(o.outDir, "study.csv"), studyCsv(rows));
            writeTextAtomically(fileInFolder(o.outDir, "study.md"), studyMarkdown(rows, o));
        }
    }
}

/// An imported run's recipe: PyTorch's defaults, then the manifest's "recipe", which must name
/// the rate, the epochs and the batch size (lbfgs: the cap on iterations and the tolerance).
TrainRecipe importedRecipe(const ImportManifest& manifest)
{
    if (!manifest.recipe)
        throw ConfigError("study --from-pytorch: " + manifest.path
                          + " has no \"recipe\"; ground truth and the recommendation need the run's recipe");
    const bool lbfgs = manifest.recipe->has("optimizer") && manifest.recipe->getString("optimizer") == "lbfgs";
    const std::vector<const char*> needed =
        lbfgs ? std::vector<const char*>{"epochs", "tolerance"} : std::vector<const char*>{"lr", "epochs", "batch_size"};
    for (const char* key : needed)
        if (!manifest.recipe->has(key))
            throw ConfigError("study --from-pytorch: " + manifest.path + ": the recipe needs \"" + key + "\"");
    return TrainRecipe::fromJson(*manifest.recipe, TrainRecipe::pytorchDefaults());
}

/// A run's rows: imported into DIR/pytorch-<folder>.h5 (reused when it holds the same run), judged
/// against the folder's ground_truth.h5 (imported afresh each time, so a regenerated file counts).
void studyPyTorchRun(const StudyOptions& o, const std::string& dir, std::vector<StudyRow>& rows,
                     ProgressSink& progress, const CancelToken& cancel)
{
    const ImportManifest manifest = readImportManifest(dir);
    const TrainRecipe recipe = importedRecipe(manifest);
    std::filesystem::path folder(dir);
    if (!folder.has_filename())
        folder = folder.parent_path();
    const std::string name = folder.filename().string();
    const std::string truthFile = (folder / "ground_truth.h5").string();
    if (!std::filesystem::exists(truthFile))
        throw ConfigError("study --from-pytorch: " + dir
                          + " has no ground_truth.h5: make it with docs/examples/train_in_pytorch.py --ground-truth M "
                            "(M models retrained by PyTorch on random halves of the training set)");
    const std::string exp = fileInFolder(o.outDir, "pytorch-" + name + ".h5");
    progress.message("== " + name + " (" + manifest.path + "): " + exp);
    bool reuse = false;
    if (std::filesystem::exists(exp)) {
        H5File file(exp, H5File::Mode::ReadOnly);
        checkExperimentFile(file);
        const ModelRecord m = readModelRecord(file);
        const DataRecord d = readDataRecord(file);
        reuse = m.torchscriptSha256 == sha256File(manifest.sources.torchscript) && m.recipe && sameRecipe(*m.recipe, recipe)
                && d.options.spec == DatasetSpec::parse(o.data).toString()
                && static_cast<int64_t>(d.trainIndices.size()) == o.trainSize
                && static_cast<int64_t>(d.testIndices.size()) == o.testSize;
        if (!reuse)
            throw ConfigError(exp + " holds a different experiment; remove it or choose another --out");
    }
    if (!reuse) {
        DataOptions data; // the images as the run was trained on them: [0, 1], no normalization
        data.spec = o.data;
        data.trainSize = o.trainSize;
        data.testSize = o.testSize;
        importExperiment(exp, manifest.sources, data, recipe, progress, cancel);
    }
    const GroundTruth truth = importGroundTruth(exp, truthFile, /*replace=*/true);
    // e.g. "pytorch-nesterov-cosine-warmup1-hflip+crop:2" (no commas: it is a CSV cell).
    std::ostringstream label;
    label << "pytorch-" << recipe.optimizer;
    if (recipe.schedule != "constant")
        label << "-" << recipe.schedule;
    if (recipe.warmupEpochs > 0)
        label << "-warmup" << recipe.warmupEpochs;
    if (recipe.augmented())
        label << "-" << recipe.augment;
    std::string recipeName = label.str();
    std::replace(recipeName.begin(), recipeName.end(), ',', '+');
    studyExperiment(o, exp, name, recipeName, Architecture::TorchScript, recipe, truth, std::string(),
                    std::numeric_limits<double>::quiet_NaN(), rows, progress, cancel);
}

} // namespace

std::vector<StudyRow> runStudy(const StudyOptions& o, ProgressSink& progress, const CancelToken& cancel)
{
    o.validate();
    std::filesystem::create_directories(o.outDir);
    std::vector<StudyRow> rows;
    for (const auto& modelName : o.models) {
        const Architecture arch = parseArchitecture(modelName);
        for (const auto& recipeName : o.recipes) {
            const TrainRecipe recipe = RecipeVariant::parse(recipeName).apply(arch);
            const std::string exp = fileInFolder(o.outDir, modelName + "-" + recipeName + ".h5");
            progress.message("== " + modelName + " / " + recipeName + ": " + exp);
            ensureExperiment(exp, o, arch, recipe, progress, cancel);

            DataRecord dataRecord;
            ModelRecord modelRecord;
            {
                H5File file(exp, H5File::Mode::ReadOnly);
                dataRecord = readDataRecord(file);
                modelRecord = readModelRecord(file);
            }
            DataBundle data = reloadData(dataRecord);
            GroundTruth truth = computeGroundTruth(exp, rebuildModel(modelRecord), modelRecord.recipe, data.train,
                                                   data.test, o.lds, progress, cancel);

            // The training path for path-match: the same run recorded with checkpoints, in its own
            // file (TRAK on a file with checkpoints would average them), featurized by TracIn.
            const bool anyProjected = std::any_of(o.methods.begin(), o.methods.end(), [&](const std::string& m) {
                return !(m == "if" && arch == Architecture::LogisticRegression);
            });
            std::string pathExp;
            double pathFeaturizeSeconds = std::numeric_limits<double>::quiet_NaN();
            if (o.pathCheckpoints > 0 && anyProjected) {
                pathExp = fileInFolder(o.outDir, modelName + "-" + recipeName + "-path.h5");
                TrainRecipe withPath = recipe;
                withPath.checkpoints = o.pathCheckpoints; // inside epochs when there are more than epochs
                AttributionRequest request;
                request.method = "tracin";
                request.projection = ProjectionKind::Kronecker;
                request.ks = {*std::max_element(o.ks.begin(), o.ks.end())};
                request.sensitivityTests = o.sensitivityTests;
                progress.message("== the training path: " + pathExp + " (" + std::to_string(o.pathCheckpoints)
                                 + " checkpoints)");
                const auto start = std::chrono::steady_clock::now();
                const bool existed = std::filesystem::exists(pathExp);
                ensureExperiment(pathExp, o, arch, withPath, progress, cancel); // refuses another recipe's run
                bool stored = false;
                if (existed) {
                    try {
                        const std::optional<StoredMethod> tracin = storedMethod(pathExp, "tracin");
                        stored = tracin && tracin->ks == request.ks;
                    } catch (const ConfigError&) {
                    }
                }
                if (!stored) {
                    runAttribution(pathExp, request, progress, cancel);
                    pathFeaturizeSeconds =
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                }
            }

            studyExperiment(o, exp, modelName, recipeName, arch, recipe, truth, pathExp, pathFeaturizeSeconds, rows,
                            progress, cancel);
        }
    }
    for (const std::string& dir : o.fromPyTorch)
        studyPyTorchRun(o, dir, rows, progress, cancel);
    return rows;
}

std::string studyCsv(const std::vector<StudyRow>& rows)
{
    std::ostringstream s;
    s << "model,recipe,method,k,mean_eigenvalue,best_lambda,best_lds,recommended_lambda,recommended_lds,"
         "recommended_lds_stderr,ratio,ratio_low,ratio_high,ratio_share_ge_0.95,recommend_seconds,retrain_seconds,"
         "dattri_grid_best_lambda,dattri_grid_best_lds";
    std::vector<std::string> rules;
    for (SelectorRule r : allSelectorRules())
        rules.push_back(toString(r));
    for (const auto& r : rules)
        s << "," << r << "_lambda," << r << "_lds";
    s << ",path-match_lambda,path-match_lds,path-match_ratio,path-match_ratio_low,path-match_ratio_high,"
         "path-match_ratio_share_ge_0.95,path-match_seconds,path-match_stability,path_featurize_seconds,"
         "unrolled_lds,unrolled_seconds";
    for (const auto& r : rules)
        s << "," << r << "_seconds";
    s << "\n";
    s << std::setprecision(6);
    for (const auto& row : rows) {
        s << row.model << "," << row.recipe << "," << row.method << "," << row.k << "," << row.meanEigenvalue << ","
          << row.bestLambda << "," << row.bestLds << "," << row.recommendedLambda << "," << row.recommendedLds << ","
          << row.recommendedLdsStderr << "," << row.ratio << "," << row.ratioLow << "," << row.ratioHigh << ","
          << row.ratioShareAbove << "," << row.recommendSeconds << "," << row.retrainSeconds
          << "," << row.dattriGridBestLambda << "," << row.dattriGridBestLds;
        for (const auto& r : rules)
            s << "," << row.ruleLambda.at(r) << "," << row.ruleLds.at(r);
        s << "," << row.pathLambda << "," << row.pathLds << "," << row.pathRatio << "," << row.pathRatioLow << ","
          << row.pathRatioHigh << "," << row.pathRatioShareAbove << "," << row.pathSeconds << ","
          << row.pathStability << "," << row.pathFeaturizeSeconds << "," << row.unrolledLds << ","
          << row.unrolledSeconds;
        for (const auto& r : rules)
            s << "," << row.ruleSeconds.at(r);
        s << "\n";
    }
    return s.str();
}

std::string studyMarkdown(const std::vector<StudyRow>& rows, const StudyOptions& o)
{
    // The app's rows retrain o.lds.subsets models; a run from --from-pytorch brings its own number.
    std::set<int64_t> counts;
    for (const auto& r : rows)
        if (r.subsets > 0)
            counts.insert(r.subsets);
    if (counts.empty())
        counts.insert(o.lds.subsets);
    std::string subsets;
    for (int64_t m : counts)
        subsets += (subsets.empty() ? "" : " or ") + std::to_string(m);
    std::ostringstream s;
    s << "# λ recommendation study\n\n"
      << "Data `" << o.data << "` " << o.trainSize << " train / " << o.testSize << " test; LDS over M = "
      << subsets << " retrained models (α = " << o.lds.alpha << ")"
      << (o.fromPyTorch.empty() ? "" : "; the runs of --from-pytorch against their own models, retrained by PyTorch")
      << "; recommended by `"
      << toString(o.selector.rule) << "`. λ absolute; best = best of a " << o.grid.values.size()
      << "-point relative grid. Ratio = recommended LDS / best LDS (target ≥ 0.95); cost = recommendation "
         "time / retraining time (target < 5%). Ground-truth noise: the ratio's 90% interval and the share of "
         "resamples where it reaches 0.95, from a paired bootstrap over the subsets and the test points ("
      << o.bootstrapResamples
      << " resamples, against the best grid λ on all the ground truth).\n\n"
      << "| model | recipe | method | k | best λ | best LDS | recommended λ | rec. LDS | ratio | 90% interval | ≥ 0.95 in | "
         "0.1·mean eig | 1e-3 | dattri grid best | rec. s | retrain s | cost |\n"
      << "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : rows) {
        s << "| " << r.model << " | " << r.recipe << " | " << r.method << " | " << r.k << " | " << fmt(r.bestLambda, 3)
          << " | " << fmt(r.bestLds, 3) << " | " << fmt(r.recommendedLambda, 3) << " | " << fmt(r.recommendedLds, 3)
          << " | " << fmt(r.ratio, 3) << (r.ratio >= 0.95 ? "" : " ✗") << " | " << fmt(r.ratioLow, 3) << "–"
          << fmt(r.ratioHigh, 3) << " | " << fmt(100.0 * r.ratioShareAbove, 3) << "% | "
          << fmt(r.ruleLds.at(toString(SelectorRule::FixedRelative)), 3) << " | "
          << fmt(r.ruleLds.at(toString(SelectorRule::FixedAbsolute)), 3) << " | " << fmt(r.dattriGridBestLds, 3)
          << " | " << fmt(r.recommendSeconds, 3) << " | " << fmt(r.retrainSeconds, 4) << " | "
          << fmt(100.0 * r.recommendSeconds / std::max(1e-9, r.retrainSeconds), 2) << "% |\n";
    }
    s << "\nLDS of every rule (same rows):\n\n| model | recipe | method | k |";
    for (SelectorRule rule : allSelectorRules())
        s << " " << toString(rule) << " |";
    s << "\n|---|---|---|---|";
    for (size_t i = 0; i < allSelectorRules().size(); ++i)
        s << "---|";
    s << "\n";
    for (const auto& r : rows) {
        s << "| " << r.model << " | " << r.recipe << " | " << r.method << " | " << r.k << " |";
        for (SelectorRule rule : allSelectorRules())
            s << " " << fmt(r.ruleLds.at(toString(rule)), 3) << " (" << fmt(r.ruleLds.at(toString(rule)) / r.bestLds, 2)
              << ") |";
        s << "\n";
    }
    const bool anyPath = std::any_of(rows.begin(), rows.end(), [](const StudyRow& r) { return std::isfinite(r.pathLambda); });
    if (anyPath) {
        s << "\nThe rule path-match (the influence unrolled along " << o.pathCheckpoints
          << " checkpoints of the same run; docs/lambda-selection.md), same rows; cost = its time / retraining time "
             "(the checkpoints' featurization, once per model and recipe, is listed apart); stability = the run's "
             "largest lr·μ_max/c over gradient descent's limit 2(1 + momentum), above 1 (unstable) the match is not "
             "trusted:\n\n"
          << "The last column is the λ-free method `unrolled` (attribute --method unrolled) on the same "
             "checkpoints and ground truth, and its LDS over the row's best grid LDS.\n\n"
          << "| model | recipe | method | k | path-match λ | LDS | ratio | 90% interval | ≥ 0.95 in | stability | s | "
             "cost | featurization s | unrolled method LDS (/ best) |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
        for (const auto& r : rows) {
            if (!std::isfinite(r.pathLambda))
                continue;
            s << "| " << r.model << " | " << r.recipe << " | " << r.method << " | " << r.k << " | "
              << fmt(r.pathLambda, 3) << " | " << fmt(r.pathLds, 3) << " | " << fmt(r.pathRatio, 3)
              << (r.pathRatio >= 0.95 ? "" : " ✗") << " | " << fmt(r.pathRatioLow, 3) << "–" << fmt(r.pathRatioHigh, 3)
              << " | " << fmt(100.0 * r.pathRatioShareAbove, 3) << "% | " << fmt(r.pathStability, 3)
              << (r.pathStability > 1.0 ? " (unstable)" : "") << " | " << fmt(r.pathSeconds, 3) << " | "
              << fmt(100.0 * r.pathSeconds / std::max(1e-9, r.retrainSeconds), 2) << "% | "
              << (std::isfinite(r.pathFeaturizeSeconds) ? fmt(r.pathFeaturizeSeconds, 4) : std::string("(resumed)"))
              << " | " << fmt(r.unrolledLds, 3) << " (" << fmt(r.unrolledLds / r.bestLds, 3) << ") |\n";
        }
    }
    return s.str();
}

std::string curvesSvg(const StudyRow& row)
{
    const double w = 640, h = 400, left = 60, right = 20, top = 40, bottom = 50;
    const double pw = w - left - right, ph = h - top - bottom;
    double lmin = row.gridLambdas.front(), lmax = row.gridLambdas.back();
    auto x = [&](double l) { return left + pw * (std::log10(l) - std::log10(lmin)) / (std::log10(lmax) - std::log10(lmin)); };
    auto y = [&](double v) { return top + ph * (1.0 - (v + 1.0) / 2.0); }; // [-1, 1]
    std::ostringstream s;
    s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << w << "' height='" << h
      << "' font-family='DejaVu Sans' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n";
    s << "<text x='" << left << "' y='20' font-size='14'>" << row.model << " / " << row.recipe << " / " << row.method
      << " k=" << row.k << ": LDS(λ) (blue) and mean ξ(λ) (orange)</text>\n";
    s << "<rect x='" << left << "' y='" << top << "' width='" << pw << "' height='" << ph
      << "' fill='none' stroke='black'/>\n";
    for (double v : {-1.0, -0.5, 0.0, 0.5, 1.0})
        s << "<line x1='" << left << "' x2='" << left + pw << "' y1='" << y(v) << "' y2='" << y(v)
          << "' stroke='#ddd'/><text x='" << left - 8 << "' y='" << y(v) + 4 << "' text-anchor='end'>" << v << "</text>\n";
    for (int e = static_cast<int>(std::ceil(std::log10(lmin))); e <= static_cast<int>(std::floor(std::log10(lmax))); ++e)
        s << "<text x='" << x(std::pow(10.0, e)) << "' y='" << top + ph + 18 << "' text-anchor='middle'>1e" << e
          << "</text>\n";
    s << "<text x='" << left + pw / 2 << "' y='" << h - 8 << "' text-anchor='middle'>λ (absolute)</text>\n";
    auto polyline = [&](const std::vector<double>& v, const char* colour) {
        s << "<polyline fill='none' stroke='" << colour << "' stroke-width='2' points='";
        for (size_t i = 0; i < v.size() && i < row.gridLambdas.size(); ++i)
            if (std::isfinite(v[i]))
                s << x(row.gridLambdas[i]) << "," << y(v[i]) << " ";
        s << "'/>\n";
    };
    polyline(row.gridLds, "#0072B2");
    polyline(row.gridXi, "#E69F00");
    auto marker = [&](double l, const char* colour, const char* label) {
        if (!(l > 0) || l < lmin || l > lmax)
            return;
        s << "<line x1='" << x(l) << "' x2='" << x(l) << "' y1='" << top << "' y2='" << top + ph << "' stroke='" << colour
          << "' stroke-dasharray='4 3'/><text x='" << x(l) + 3 << "' y='" << top + 12 << "' fill='" << colour << "'>"
          << label << "</text>\n";
    };
    marker(row.bestLambda, "#0072B2", "best");
    marker(row.recommendedLambda, "#D55E00", "recommended");
    s << "</svg>\n";
    return s.str();
}

} // namespace attri
