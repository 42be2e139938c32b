#include "eval/private/ground_truth_journal.h"

#include "eval/ground_truth.h"

#include "common/error.h"
#include "store/atomic_write.h"
#include "store/h5_file.h"

#include <algorithm>
#include <sstream>

namespace attri {

namespace {

namespace fs = std::filesystem;

constexpr const char* kPartialKind = "attriscope ground truth (partial)";

RowMatrixD toRowMajor(const Eigen::MatrixXd& m)
{
    return RowMatrixD(m);
}

Eigen::MatrixXd fromRowMajor(const std::vector<double>& values, int64_t rows, int64_t cols)
{
    return Eigen::Map<const RowMatrixD>(values.data(), rows, cols);
}

} // namespace

std::string optionsText(const LdsOptions& o)
{
    std::ostringstream s;
    s << "subsets=" << o.subsets << ", alpha=" << o.alpha << ", seed=" << o.seed;
    return s.str();
}

std::string groundTruthPartialPath(const std::string& experimentPath, const Shard& shard)
{
    fs::path p(experimentPath);
    const std::string suffix =
        shard.whole() ? ".h5" : ".r" + std::to_string(shard.rank) + "-of-" + std::to_string(shard.count) + ".h5";
    return (p.parent_path() / (p.stem().string() + ".gt-partial" + suffix)).string();
}

void writePartial(const std::string& path, const LdsOptions& options, const std::string& hash,
                  const std::vector<uint8_t>& masks, int64_t n, int64_t m, const PartialState& state)
{
    writeHdf5Atomically(path, false, [&](H5File& f) {
        f.setAttr("/", "kind", kPartialKind);
        f.setAttr("/", "subsets", options.subsets);
        f.setAttr("/", "alpha", options.alpha);
        f.setAttr("/", "seed", static_cast<int64_t>(options.seed));
        f.setAttr("/", "input_hash", hash);
        f.setAttr("/", "train_count", n);
        f.setAttr("/", "test_count", m);
        f.setAttr("/", "seconds", state.seconds);
        f.writeUInt8("/masks", {options.subsets, n}, masks.data());
        f.writeUInt8("/done", {options.subsets}, state.done.data());
        const RowMatrixD loss = toRowMajor(state.testLoss);
        f.writeDoubles("/test_loss", {options.subsets, m}, loss.data());
    });
}

std::optional<PartialState> readPartial(const std::string& path, const LdsOptions& options,
                                        const std::string& hash, const std::vector<uint8_t>& masks, int64_t n,
                                        int64_t m, std::string& why)
{
    try {
        H5File f(path, H5File::Mode::ReadOnly);
        if (!f.hasAttr("/", "kind") || f.attrString("/", "kind") != kPartialKind) {
            why = "it is not a ground-truth side file";
            return std::nullopt;
        }
        LdsOptions stored;
        stored.subsets = f.attrInt("/", "subsets");
        stored.alpha = f.attrDouble("/", "alpha");
        stored.seed = static_cast<uint64_t>(f.attrInt("/", "seed"));
        if (!stored.sameSubsets(options)) {
            why = "it was computed with other options (" + optionsText(stored) + ")";
            return std::nullopt;
        }
        if (f.attrString("/", "input_hash") != hash || f.attrInt("/", "train_count") != n
            || f.attrInt("/", "test_count") != m) {
            why = "it was computed for other data, model or recipe";
            return std::nullopt;
        }
        if (f.readUInt8("/masks") != masks) {
            why = "its subsets differ from the ones drawn now";
            return std::nullopt;
        }
        PartialState state;
        std::vector<int64_t> shape;
        state.done = f.readUInt8("/done", &shape);
        if (shape != std::vector<int64_t>{options.subsets}) {
            why = "its /done has the wrong shape";
            return std::nullopt;
        }
        const auto loss = f.readDoubles("/test_loss", &shape);
        if (shape != std::vector<int64_t>{options.subsets, m}) {
            why = "its /test_loss has the wrong shape";
            return std::nullopt;
        }
        state.testLoss = fromRowMajor(loss, options.subsets, m);
        state.seconds = f.attrDouble("/", "seconds");
        return state;
    } catch (const Error& e) {
        why = std::string("it cannot be read (") + e.what() + ")";
        return std::nullopt;
    }
}

int64_t mergePartial(PartialState& into, const PartialState& from)
{
    int64_t added = 0;
    for (size_t j = 0; j < into.done.size(); ++j)
        if (from.done[j] && !into.done[j]) {
            into.done[j] = 1;
            into.testLoss.row(static_cast<Eigen::Index>(j)) = from.testLoss.row(static_cast<Eigen::Index>(j));
            ++added;
        }
    return added;
}

std::vector<fs::path> shardPartials(const std::string& experimentPath)
{
    const fs::path p(experimentPath);
    fs::path folder = p.parent_path();
    if (folder.empty())
        folder = ".";
    const std::string prefix = p.stem().string() + ".gt-partial.r";
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(folder, ec)) {
        const std::string name = e.path().filename().string();
        if (name.compare(0, prefix.size(), prefix) == 0 && name.size() > prefix.size() + 3
            && name.compare(name.size() - 3, 3, ".h5") == 0 && name.find("-of-") != std::string::npos
            && !e.is_symlink())
            out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace attri
