// The experiment file's schema in one place: each record's writer beside its reader (data,
// model, checkpoints, metrics), so that the format a file holds is read from one file.
#include "store/experiment_file.h"

#include "common/error.h"
#include "common/text.h"
#include "common/hash.h"
#include "data/dataset_spec.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>

// The layout written here is documented in docs/hdf5-layout.md; keep the two in step.

namespace attri {

namespace {

constexpr const char* kFormat = "attriscope-experiment";
constexpr const char* kConventions = "images float32 in [0,1] then (x-mean)/std";

std::string isoUtcNow()
{
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

/// HDF5 attributes are signed; a uint64 seed is stored by its bit pattern (seeds ≥ 2^63 read
/// back negative in h5py but round-trip exactly here).
int64_t seedToInt(uint64_t seed)
{
    int64_t out;
    std::memcpy(&out, &seed, sizeof out);
    return out;
}

uint64_t intToSeed(int64_t value)
{
    uint64_t out;
    std::memcpy(&out, &value, sizeof out);
    return out;
}

void writeRootAttributes(H5File& file)
{
    file.setAttr("/", "schema_version", kSchemaVersion);
    file.setAttr("/", "format", kFormat);
    file.setAttr("/", "created_by", std::string("AttriScope ") + ATTRI_VERSION);
    // Creation time survives later rewrites of /data or /model.
    if (!file.hasAttr("/", "created_at"))
        file.setAttr("/", "created_at", isoUtcNow());
}

std::string checkpointName(size_t index)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04zu", index);
    return buf;
}

void writeParamSet(H5File& file, const std::string& group, const ParamSet& set)
{
    file.createGroup(group);
    std::vector<std::string> order;
    order.reserve(set.size());
    for (const ParamTensor& t : set) {
        if (t.name.empty() || t.name.find('/') != std::string::npos || t.name == "." || t.name == "..")
            throw ConfigError(file.path() + ": tensor name '" + t.name + "' in " + group
                              + " cannot be stored (expected a non-empty name without '/')");
        int64_t n = 1;
        for (int64_t d : t.shape)
            n *= d;
        if (n != static_cast<int64_t>(t.values.size()))
            throw ConfigError(file.path() + ": tensor " + t.name + " in " + group + " has "
                              + std::to_string(t.values.size()) + " values but its shape holds "
                              + std::to_string(n));
        file.writeFloats(group + "/" + t.name, t.shape, t.values.data());
        order.push_back(t.name);
    }
    // HDF5 lists children sorted by name; `order` keeps the model's own order.
    file.setAttr(group, "order", order);
}

ParamSet readParamSet(const H5File& file, const std::string& group)
{
    ParamSet out;
    if (!file.exists(group))
        return out;
    std::vector<std::string> names =
        file.hasAttr(group, "order") ? file.attrStrings(group, "order") : file.children(group);
    for (const std::string& name : names) {
        ParamTensor t;
        t.name = name;
        t.values = file.readFloats(group + "/" + name, &t.shape);
        out.push_back(std::move(t));
    }
    return out;
}


} // namespace

// ---------------------------------------------------------------------------------------------
// /data

void writeDataRecord(H5File& file, const DataBundle& data, const DataOptions& options)
{
    if (options.sampleSeed && *options.sampleSeed == std::numeric_limits<uint64_t>::max())
        throw ConfigError(file.path() + ": sample seed 2^64-1 cannot be stored (it reads as 'no seed')");
    writeRootAttributes(file);
    if (file.exists("/data"))
        file.remove("/data");
    file.createGroup("/data");
    file.setAttr("/data", "spec", data.spec.empty() ? options.spec : data.spec);
    file.setAttr("/data", "name", data.name);
    file.setAttr("/data", "num_classes", int64_t{data.numClasses});
    file.setAttr("/data", "content_hash", data.contentHash);
    // Limits are stored as what they selected, so that the data reloads the same.
    file.setAttr("/data", "train_size",
                 options.trainSizeIsLimit ? static_cast<int64_t>(data.trainIndices.size()) : options.trainSize);
    file.setAttr("/data", "test_size",
                 options.testSizeIsLimit ? static_cast<int64_t>(data.testIndices.size()) : options.testSize);
    file.setAttr("/data", "sample_seed", options.sampleSeed ? seedToInt(*options.sampleSeed) : int64_t{-1});
    file.setAttr("/data", "conventions", kConventions);
    file.writeInt64("/data/train_indices", {static_cast<int64_t>(data.trainIndices.size())},
                    data.trainIndices.data());
    file.writeInt64("/data/test_indices", {static_cast<int64_t>(data.testIndices.size())},
                    data.testIndices.data());
    file.writeFloats("/data/mean", {static_cast<int64_t>(data.mean.size())}, data.mean.data());
    file.writeFloats("/data/std", {static_cast<int64_t>(data.std.size())}, data.std.data());
    file.writeStrings("/data/class_names", data.classNames);
}

DataRecord readDataRecord(const H5File& file)
{
    if (!file.exists("/data"))
        throw FormatError(file.path() + " has no /data group (expected the experiment's dataset record)");
    DataRecord r;
    r.options.spec = file.attrString("/data", "spec");
    r.options.trainSize = file.attrInt("/data", "train_size");
    r.options.testSize = file.attrInt("/data", "test_size");
    const int64_t seed = file.attrInt("/data", "sample_seed");
    if (seed != -1)
        r.options.sampleSeed = intToSeed(seed);
    r.options.mean = file.readFloats("/data/mean");
    r.options.std = file.readFloats("/data/std");
    r.trainIndices = file.readInt64("/data/train_indices");
    r.testIndices = file.readInt64("/data/test_indices");
    r.name = file.attrString("/data", "name");
    r.numClasses = static_cast<int>(file.attrInt("/data", "num_classes"));
    r.classNames = file.readStrings("/data/class_names");
    r.contentHash = file.attrString("/data", "content_hash");
    return r;
}

// ---------------------------------------------------------------------------------------------
// /model

void writeModelRecord(H5File& file, const ModelRecord& model)
{
    writeRootAttributes(file);
    if (file.exists("/model"))
        file.remove("/model");
    file.createGroup("/model");
    file.setAttr("/model", "architecture", toString(model.architecture));
    file.setAttr("/model", "input_shape",
                 std::vector<int64_t>{model.input.channels, model.input.height, model.input.width});
    file.setAttr("/model", "num_classes", int64_t{model.numClasses});
    file.setAttr("/model", "parameter_count", model.parameterCount);
    file.setAttr("/model", "torchscript_path", model.torchscriptPath);
    file.setAttr("/model", "torchscript_sha256", model.torchscriptSha256);
    file.setAttr("/model", "train_seconds", model.trainSeconds);
    if (!model.trainDevice.empty())
        file.setAttr("/model", "train_device", model.trainDevice);
    if (model.trainThreads > 0)
        file.setAttr("/model", "train_threads", model.trainThreads);

    if (model.recipe) {
        const TrainRecipe& rc = *model.recipe;
        const std::string g = "/model/recipe";
        file.createGroup(g);
        file.setAttr(g, "optimizer", rc.optimizer);
        file.setAttr(g, "lr", rc.lr);
        file.setAttr(g, "momentum", rc.momentum);
        file.setAttr(g, "batch_size", rc.batchSize);
        file.setAttr(g, "epochs", rc.epochs);
        file.setAttr(g, "weight_decay", rc.weightDecay);
        file.setAttr(g, "seed", seedToInt(rc.seed));
        file.setAttr(g, "checkpoints", rc.checkpoints);
        file.setAttr(g, "schedule", rc.schedule);
        file.setAttr(g, "warmup_epochs", rc.warmupEpochs);
        file.setAttr(g, "augment", rc.augment);
        file.setAttr(g, "tolerance", rc.tolerance);
    }

    const std::string m = "/model/metrics";
    file.createGroup(m);
    file.setAttr(m, "train_accuracy", model.trainMetrics.accuracy);
    file.setAttr(m, "train_loss", model.trainMetrics.meanLoss);
    file.setAttr(m, "test_accuracy", model.testMetrics.accuracy);
    file.setAttr(m, "test_loss", model.testMetrics.meanLoss);
    file.writeDoubles(m + "/epoch_loss", {static_cast<int64_t>(model.epochLoss.size())},
                      model.epochLoss.data());
    if (!model.pathGaussNewtonTrace.empty() && std::isfinite(model.finalGaussNewtonTrace)) {
        file.writeDoubles(m + "/path_gauss_newton_trace", {static_cast<int64_t>(model.pathGaussNewtonTrace.size())},
                          model.pathGaussNewtonTrace.data());
        file.setAttr(m, "final_gauss_newton_trace", model.finalGaussNewtonTrace);
    }
    if (std::isfinite(model.gradientMaxAbs))
        file.setAttr(m, "gradient_max_abs", model.gradientMaxAbs);

    if (!model.initialParams.empty()) {
        file.createGroup("/model/initial");
        writeParamSet(file, "/model/initial/params", model.initialParams);
        writeParamSet(file, "/model/initial/buffers", model.initialBuffers);
    }

    file.createGroup("/model/checkpoints");
    for (size_t i = 0; i < model.checkpoints.size(); ++i) {
        const Checkpoint& cp = model.checkpoints[i];
        const std::string g = "/model/checkpoints/" + checkpointName(i);
        file.createGroup(g);
        file.setAttr(g, "epoch", cp.epoch);
        file.setAttr(g, "step", cp.step);
        file.setAttr(g, "lr", cp.lr);
        writeParamSet(file, g + "/params", cp.params);
        writeParamSet(file, g + "/buffers", cp.buffers);
    }
}

ModelRecord readModelRecord(const H5File& file)
{
    if (!file.exists("/model"))
        throw FormatError(file.path() + " has no /model group (expected the experiment's model record)");
    ModelRecord r;
    const std::string archName = file.attrString("/model", "architecture");
    try {
        r.architecture = parseArchitecture(archName);
    } catch (const ConfigError& e) {
        throw FormatError(file.path() + ": /model attribute 'architecture' is '" + archName
                          + "', which this build does not know (" + e.what() + ")");
    }
    const std::vector<int64_t> shape = file.attrInts("/model", "input_shape");
    if (shape.size() != 3)
        throw FormatError(file.path() + ": /model attribute 'input_shape' has " + std::to_string(shape.size())
                          + " values, expected 3 (C, H, W)");
    r.input = InputShape{shape[0], shape[1], shape[2]};
    r.numClasses = static_cast<int>(file.attrInt("/model", "num_classes"));
    r.parameterCount = file.attrInt("/model", "parameter_count");
    r.torchscriptPath = file.attrString("/model", "torchscript_path");
    r.torchscriptSha256 = file.attrString("/model", "torchscript_sha256");
    r.trainSeconds = file.attrDouble("/model", "train_seconds");
    if (file.hasAttr("/model", "train_device"))
        r.trainDevice = file.attrString("/model", "train_device");
    if (file.hasAttr("/model", "train_threads"))
        r.trainThreads = file.attrInt("/model", "train_threads");

    if (file.exists("/model/recipe")) {
        const std::string g = "/model/recipe";
        TrainRecipe rc;
        rc.optimizer = file.attrString(g, "optimizer");
        rc.lr = file.attrDouble(g, "lr");
        rc.momentum = file.attrDouble(g, "momentum");
        rc.batchSize = file.attrInt(g, "batch_size");
        rc.epochs = file.attrInt(g, "epochs");
        rc.weightDecay = file.attrDouble(g, "weight_decay");
        rc.seed = intToSeed(file.attrInt(g, "seed"));
        rc.checkpoints = file.attrInt(g, "checkpoints");
        // Files written before schedules were recorded ran at a constant rate.
        if (file.hasAttr(g, "schedule"))
            rc.schedule = file.attrString(g, "schedule");
        if (file.hasAttr(g, "warmup_epochs"))
            rc.warmupEpochs = file.attrDouble(g, "warmup_epochs");
        // ... and without augmentation before it was recorded.
        if (file.hasAttr(g, "augment"))
            rc.augment = file.attrString(g, "augment");
        // Files written before lbfgs was a recipe hold no tolerance (and no lbfgs run).
        if (file.hasAttr(g, "tolerance"))
            rc.tolerance = file.attrDouble(g, "tolerance");
        r.recipe = rc;
    }

    const std::string m = "/model/metrics";
    r.trainMetrics.accuracy = file.attrDouble(m, "train_accuracy");
    r.trainMetrics.meanLoss = file.attrDouble(m, "train_loss");
    r.testMetrics.accuracy = file.attrDouble(m, "test_accuracy");
    r.testMetrics.meanLoss = file.attrDouble(m, "test_loss");
    r.epochLoss = file.readDoubles(m + "/epoch_loss");
    if (file.exists(m + "/path_gauss_newton_trace") && file.hasAttr(m, "final_gauss_newton_trace")) {
        r.pathGaussNewtonTrace = file.readDoubles(m + "/path_gauss_newton_trace");
        r.finalGaussNewtonTrace = file.attrDouble(m, "final_gauss_newton_trace");
    }
    if (file.hasAttr(m, "gradient_max_abs"))
        r.gradientMaxAbs = file.attrDouble(m, "gradient_max_abs");

    if (file.exists("/model/checkpoints")) {
        std::vector<std::string> names = file.children("/model/checkpoints");
        // Numeric order (names are zero-padded, but do not rely on the padding width).
        for (const std::string& n : names)
            if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos)
                throw FormatError(file.path() + ": /model/checkpoints/" + n
                                  + " is not a checkpoint (expected a numbered group such as 0000)");
        // Compared as digit strings: std::stoll would throw out_of_range on a name of 20 digits.
        std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
            const std::string x = a.substr(std::min(a.find_first_not_of('0'), a.size()));
            const std::string y = b.substr(std::min(b.find_first_not_of('0'), b.size()));
            return x.size() != y.size() ? x.size() < y.size() : x < y;
        });
        for (const std::string& n : names) {
            const std::string g = "/model/checkpoints/" + n;
            Checkpoint cp;
            cp.epoch = file.attrInt(g, "epoch");
            cp.step = file.hasAttr(g, "step") ? file.attrInt(g, "step") : 0; // older files: not recorded
            cp.lr = file.attrDouble(g, "lr");
            cp.params = readParamSet(file, g + "/params");
            cp.buffers = readParamSet(file, g + "/buffers");
            r.checkpoints.push_back(std::move(cp));
        }
    }
    if (file.exists("/model/initial/params")) {
        r.initialParams = readParamSet(file, "/model/initial/params");
        if (file.exists("/model/initial/buffers"))
            r.initialBuffers = readParamSet(file, "/model/initial/buffers");
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// Whole files

void checkExperimentFile(const H5File& file)
{
    if (!file.hasAttr("/", "schema_version"))
        throw FormatError(file.path() + " is not an AttriScope experiment file (no schema_version)");
    int64_t version = 0;
    try {
        version = file.attrInt("/", "schema_version");
    } catch (const DamagedDataError&) {
        throw;
    } catch (const FormatError&) {
        throw FormatError(file.path()
                          + " is not an AttriScope experiment file (schema_version is not a number)");
    }
    if (version > kSchemaVersion)
        throw FormatError(file.path() + " has schema version " + std::to_string(version)
                          + "; this build of AttriScope reads schema versions up to "
                          + std::to_string(kSchemaVersion) + " (open it with a newer AttriScope)");
    if (version < 1)
        throw FormatError(file.path() + " has invalid schema version " + std::to_string(version)
                          + " (expected 1 to " + std::to_string(kSchemaVersion) + ")");
}

void createExperimentFile(const std::string& path, const DataBundle& data, const DataOptions& options,
                          const ModelRecord& model)
{
    writeHdf5Atomically(path, false, [&](H5File& file) {
        writeDataRecord(file, data, options);
        writeModelRecord(file, model);
    });
}

DataBundle reloadData(const DataRecord& record)
{
    // Load the whole raw splits, then take exactly the stored rows: the stored indices, not
    // the selection algorithm, define the experiment's points. Only the rows taken are hashed
    // (the whole of Fashion-MNIST is 220 MB of floats, over a second of SHA-256).
    const DatasetSpec spec = DatasetSpec::parse(record.options.spec);
    RawDataset full = loadRawDataset(spec);

    auto checkIndices = [&](const std::vector<int64_t>& indices, int64_t available, const char* split) {
        for (int64_t i : indices)
            if (i < 0 || i >= available)
                throw FormatError("dataset " + record.options.spec + " has " + std::to_string(available) + " "
                                  + split + " images but the experiment uses row " + std::to_string(i)
                                  + ": the dataset files changed since the experiment was made");
    };
    checkIndices(record.trainIndices, full.train.count, "training");
    checkIndices(record.testIndices, full.test.count, "test");

    DataBundle out;
    out.spec = spec.toString();
    out.name = full.name;
    out.numClasses = full.numClasses;
    out.classNames = full.classNames;
    out.train = full.train.select(record.trainIndices);
    out.test = full.test.select(record.testIndices);
    full = RawDataset(); // release the whole splits early
    out.trainIndices = record.trainIndices;
    out.testIndices = record.testIndices;
    out.contentHash = contentHash(out.train, out.test);
    if (out.contentHash != record.contentHash)
        throw FormatError("dataset " + record.options.spec
                          + ": the dataset files changed since the experiment was made (content hash "
                          + out.contentHash + ", the experiment recorded " + record.contentHash + ")");
    out.mean = record.options.mean;
    out.std = record.options.std;
    normalizeImages(out.train, out.mean, out.std);
    normalizeImages(out.test, out.mean, out.std);
    return out;
}

Model rebuildModel(const ModelRecord& record, int checkpoint)
{
    const int count = static_cast<int>(record.checkpoints.size());
    if (count == 0)
        throw FormatError(
            "the experiment's model has no checkpoints (expected at least one under /model/checkpoints)");
    const int index = checkpoint == -1 ? count - 1 : checkpoint;
    if (index < 0 || index >= count)
        throw ConfigError("checkpoint " + std::to_string(checkpoint) + " does not exist (the experiment has "
                          + std::to_string(count) + ": 0 to " + std::to_string(count - 1)
                          + ", or -1 for the last)");
    const Checkpoint& cp = record.checkpoints[static_cast<size_t>(index)];

    if (record.architecture == Architecture::TorchScript) {
        if (!record.torchscriptSha256.empty()) {
            const std::string actual = sha256File(record.torchscriptPath);
            if (actual != record.torchscriptSha256)
                throw FormatError(
                    record.torchscriptPath
                    + " changed since the experiment was made (SHA-256 differs from the recorded one)");
        }
        Model model = Model::importTorchScript(record.torchscriptPath);
        model.setParameters(cp.params, cp.buffers);
        // A TorchScript archive does not say what it takes: the recorded data's shape and classes
        // do (checked against one forward pass, as at import), so stages that size their work
        // from the model (explicit curvature, CG, retraining) see the same shape as a zoo model.
        model.checkCompatible(record.input, record.numClasses);
        if (!record.initialParams.empty())
            model.setInitialState(record.initialParams, record.initialBuffers);
        return model;
    }
    // The initialization seed does not matter (every parameter is overwritten) but keeps
    // anything not stored deterministic.
    Model model = Model::create(record.architecture, record.input, record.numClasses,
                                record.recipe ? record.recipe->seed : 0);
    model.setParameters(cp.params, cp.buffers);
    return model;
}

// ---------------------------------------------------------------------------------------------
// Summary

namespace {

std::string shapeText(const std::vector<int64_t>& shape)
{
    return shape.empty() ? "scalar" : dimsText(shape);
}

/// Attribute as text for the summary, or "?" when missing or unreadable.
std::string attrText(const H5File& f, const std::string& obj, const std::string& name)
{
    if (!f.hasAttr(obj, name))
        return "?";
    try {
        return f.attrString(obj, name);
    } catch (const DamagedDataError&) {
        throw;
    } catch (const Error&) {
    }
    try {
        std::vector<double> v = f.attrDoubles(obj, name);
        std::vector<int64_t> ints = f.attrInts(obj, name);
        std::ostringstream ss;
        for (size_t i = 0; i < v.size(); ++i) {
            ss << (i ? "×" : "");
            // Integers print exactly (a double would round large ones).
            if (i < ints.size() && static_cast<double>(ints[i]) == v[i])
                ss << ints[i];
            else
                ss << v[i];
        }
        return ss.str();
    } catch (const DamagedDataError&) {
        throw;
    } catch (const Error&) {
        return "?";
    }
}

std::string seedText(const H5File& f, const std::string& obj, const std::string& name)
{
    try {
        return std::to_string(intToSeed(f.attrInt(obj, name)));
    } catch (const DamagedDataError&) {
        throw;
    } catch (const Error&) {
        return "?";
    }
}

std::string entries(size_t n)
{
    return std::to_string(n) + (n == 1 ? " entry" : " entries");
}

std::string datasetText(const H5File& f, const std::string& path)
{
    try {
        H5DatasetInfo info = f.info(path);
        const char* kind = info.kind == H5DatasetInfo::Kind::Float     ? "float"
                           : info.kind == H5DatasetInfo::Kind::Integer ? "int"
                           : info.kind == H5DatasetInfo::Kind::String  ? "string"
                                                                       : "other";
        return "  " + shapeText(info.shape) + " " + kind;
    } catch (const DamagedDataError&) {
        throw;
    } catch (const Error&) {
        return "";
    }
}

/// One line per child of `group`, recursing `depth` levels.
void describeTree(const H5File& f, const std::string& group, int depth, const std::string& indent,
                  std::ostringstream& out)
{
    std::vector<std::string> names;
    try {
        names = f.children(group);
    } catch (const DamagedDataError&) {
        throw;
    } catch (const Error&) {
        return; // a dataset, not a group
    }
    for (const std::string& n : names) {
        const std::string p = (group == "/" ? "" : group) + "/" + n;
        std::vector<std::string> sub;
        bool isGroup = true;
        try {
            sub = f.children(p);
        } catch (const DamagedDataError&) {
            throw;
        } catch (const Error&) {
            isGroup = false;
        }
        if (isGroup) {
            out << indent << n << "/ (" << entries(sub.size()) << ")\n";
            if (depth > 0)
                describeTree(f, p, depth - 1, indent + "  ", out);
        } else {
            out << indent << n << datasetText(f, p) << "\n";
        }
    }
}

} // namespace

std::string describeExperimentFile(const std::string& path)
{
    H5File f(path, H5File::Mode::ReadOnly);
    std::ostringstream out;
    out << path << "\n";
    out << "  schema version " << attrText(f, "/", "schema_version") << ", " << attrText(f, "/", "format")
        << ", created " << attrText(f, "/", "created_at") << " by " << attrText(f, "/", "created_by") << "\n";

    if (f.exists("/data")) {
        auto count = [&](const std::string& p) -> std::string {
            try {
                return std::to_string(f.info(p).shape.empty() ? 1 : f.info(p).shape[0]);
            } catch (const DamagedDataError&) {
                throw;
            } catch (const Error&) {
                return "?";
            }
        };
        std::string seed = attrText(f, "/data", "sample_seed");
        out << "data\n";
        out << "  spec " << attrText(f, "/data", "spec") << " (" << attrText(f, "/data", "name") << ", "
            << attrText(f, "/data", "num_classes") << " classes)\n";
        out << "  " << count("/data/train_indices") << " training points, " << count("/data/test_indices")
            << " test points, "
            << (seed == "-1" ? std::string("first N") : "sample seed " + seedText(f, "/data", "sample_seed"))
            << "\n";
        out << "  content hash " << attrText(f, "/data", "content_hash") << "\n";
    } else {
        out << "data: none\n";
    }

    if (f.exists("/model")) {
        out << "model\n";
        out << "  architecture " << attrText(f, "/model", "architecture") << ", input "
            << attrText(f, "/model", "input_shape") << ", " << attrText(f, "/model", "num_classes")
            << " classes, " << attrText(f, "/model", "parameter_count") << " parameters\n";
        const std::string ts = attrText(f, "/model", "torchscript_path");
        if (!ts.empty() && ts != "?")
            out << "  imported from " << ts << "\n";
        if (f.exists("/model/initial/params"))
            out << "  retraining starts from the run's own initial weights (/model/initial)\n";
        if (f.exists("/model/recipe")) {
            const std::string g = "/model/recipe";
            out << "  recipe " << attrText(f, g, "optimizer") << " lr " << attrText(f, g, "lr")
                << " momentum " << attrText(f, g, "momentum") << " batch " << attrText(f, g, "batch_size")
                << " epochs " << attrText(f, g, "epochs") << " weight decay "
                << attrText(f, g, "weight_decay") << " seed " << seedText(f, g, "seed");
            if (f.hasAttr(g, "schedule"))
                out << " schedule " << attrText(f, g, "schedule") << " warm-up epochs " << attrText(f, g, "warmup_epochs");
            if (f.hasAttr(g, "augment"))
                out << " augment " << attrText(f, g, "augment");
            if (f.hasAttr(g, "tolerance") && attrText(f, g, "optimizer") == "lbfgs")
                out << " tolerance " << attrText(f, g, "tolerance");
            out << "\n";
        }
        if (f.exists("/model/metrics")) {
            const std::string g = "/model/metrics";
            out << "  train accuracy " << attrText(f, g, "train_accuracy") << " loss "
                << attrText(f, g, "train_loss") << "; test accuracy " << attrText(f, g, "test_accuracy")
                << " loss " << attrText(f, g, "test_loss") << "; trained in "
                << attrText(f, "/model", "train_seconds") << " s"
                << (f.hasAttr("/model", "train_device") ? " on " + attrText(f, "/model", "train_device") : "")
                << (f.hasAttr("/model", "train_threads") ? " with " + attrText(f, "/model", "train_threads") + " threads"
                                                         : "")
                << "\n";
            if (f.hasAttr(g, "gradient_max_abs"))
                out << "  final gradient max |g| " << attrText(f, g, "gradient_max_abs")
                    << " (of the L-BFGS objective, loss + wd/2*|theta|^2)\n";
        }
        size_t checkpoints = 0;
        if (f.exists("/model/checkpoints")) {
            try {
                checkpoints = f.children("/model/checkpoints").size();
            } catch (const DamagedDataError&) {
                throw;
            } catch (const Error&) {
            }
        }
        out << "  " << checkpoints << " checkpoint(s)\n";
    } else {
        out << "model: none\n";
    }

    for (const std::string& top : f.children("/")) {
        if (top == "data" || top == "model")
            continue;
        std::vector<std::string> sub;
        try {
            sub = f.children("/" + top);
        } catch (const DamagedDataError&) {
            throw;
        } catch (const Error&) {
            out << top << datasetText(f, "/" + top) << "\n"; // a top-level dataset
            continue;
        }
        out << top << "/ (" << entries(sub.size()) << ")\n";
        describeTree(f, "/" + top, 1, "  ", out);
    }
    return out.str();
}

} // namespace attri
