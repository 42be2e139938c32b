#include "features/feature_journal.h"

#include "common/error.h"
#include "common/hash.h"
#include "data/image_set.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "model/model.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace attri {

namespace {

const std::string kMagic = "attriscope feature journal v1 ";
constexpr int kHeaderInts = 8;

uint64_t fnv1a(const char* data, size_t size, uint64_t h = 1469598103934665603ull)
{
    for (size_t i = 0; i < size; ++i)
        h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ull;
    return h;
}

std::string errnoText() { return std::strerror(errno); }

/// Reads exactly `size` bytes; false at a clean or partial end of file.
bool readExactly(int fd, void* out, size_t size)
{
    auto* p = static_cast<char*>(out);
    while (size > 0) {
        const ssize_t r = ::read(fd, p, size);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        size -= static_cast<size_t>(r);
    }
    return true;
}

void writeExactly(int fd, const std::string& path, const char* data, size_t size)
{
    while (size > 0) {
        const ssize_t w = ::write(fd, data, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            throw IoError("cannot write the featurization journal " + path + ": "
                          + (w < 0 ? errnoText() : std::string("no space written")));
        data += w;
        size -= static_cast<size_t>(w);
    }
}

const char* splitName(int split) { return split == 0 ? "train" : "test"; }

} // namespace

std::string featureJournalPath(const std::string& experimentPath, const Shard& shard)
{
    const fs::path p(experimentPath);
    const std::string suffix =
        shard.whole() ? ".bin" : ".r" + std::to_string(shard.rank) + "-of-" + std::to_string(shard.count) + ".bin";
    return (p.parent_path() / (p.stem().string() + ".features-partial" + suffix)).string();
}

std::string featureInputHash(const std::vector<const Model*>& checkpoints, const ImageSet& train, const ImageSet& test,
                             const FeatureOptions& o)
{
    Sha256 h;
    h.updateString("attriscope feature inputs v1");
    h.updateString(toString(o.target));
    h.updateString(toString(o.projection));
    h.updateInt(o.kMax);
    h.updateInt(static_cast<int64_t>(o.seed));
    h.updateString(o.layers);
    h.updateInt(o.batchSize);
    h.updateInt(o.perSampleLoop ? 1 : 0);
    h.updateInt(static_cast<int64_t>(checkpoints.size()));
    for (const Model* m : checkpoints)
        hashModelState(h, *m);
    hashImageSet(h, train);
    hashImageSet(h, test);
    return h.hexDigest();
}

int64_t FeatureJournal::blockRows(int64_t batchSize)
{
    const int64_t b = std::max<int64_t>(1, batchSize);
    return (kGradientNormSamples + b - 1) / b * b;
}

FeatureJournal::FeatureJournal(std::string path, std::string inputHash, ProgressSink& progress)
    : m_path(std::move(path)), m_hash(std::move(inputHash))
{
    std::error_code ec;
    if (fs::is_symlink(m_path, ec))
        throw IoError("refusing to use " + m_path + ": it is a symbolic link; AttriScope writes only regular files "
                      "in the folder you chose");
    m_fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (m_fd < 0)
        throw IoError("cannot create the featurization journal " + m_path + ": " + errnoText());
    // One featurization per journal: a second run on the same experiment at the same time (the
    // GUI and the CLI, say) works without one rather than disturb the first's.
    if (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(m_fd);
        m_fd = -1;
        progress.message("another featurization of this experiment is running (" + m_path
                         + " is locked); this one keeps no journal and cannot resume if interrupted");
        return;
    }
    load(progress);
}

FeatureJournal::~FeatureJournal()
{
    if (m_fd >= 0)
        ::close(m_fd); // releases the lock
}

void FeatureJournal::startEmpty()
{
    m_blocks.clear();
    if (::ftruncate(m_fd, 0) != 0 || ::lseek(m_fd, 0, SEEK_SET) != 0)
        throw IoError("cannot reset the featurization journal " + m_path + ": " + errnoText());
    const std::string header = kMagic + m_hash + "\n";
    writeExactly(m_fd, m_path, header.data(), header.size());
    ::fdatasync(m_fd);
}

int64_t FeatureJournal::readRecords(int fd, int64_t offset, std::map<Key, std::map<int64_t, Block>>& out)
{
    int64_t good = offset;
    for (;;) {
        int64_t ints[kHeaderInts];
        double norm = 0;
        if (!readExactly(fd, ints, sizeof ints) || !readExactly(fd, &norm, sizeof norm))
            break;
        const int64_t checkpoint = ints[0], split = ints[1], first = ints[2], rows = ints[3], dim = ints[4];
        if (split < 0 || split > 1 || first < 0 || rows <= 0 || dim <= 0 || rows > (int64_t(1) << 31) / dim)
            break;
        Block b;
        b.firstRow = first;
        b.rows = rows;
        b.dimension = dim;
        b.fullDimension = ints[5];
        b.batched = ints[6] != 0;
        b.gradientNormSamples = ints[7];
        b.gradientSqNormMean = norm;
        b.features.resize(static_cast<size_t>(rows * dim));
        b.loss.resize(static_cast<size_t>(rows));
        b.prob.resize(static_cast<size_t>(rows));
        uint64_t checksum = 0;
        if (!readExactly(fd, b.features.data(), b.features.size() * sizeof(float))
            || !readExactly(fd, b.loss.data(), b.loss.size() * sizeof(float))
            || !readExactly(fd, b.prob.data(), b.prob.size() * sizeof(float)) || !readExactly(fd, &checksum, sizeof checksum))
            break;
        uint64_t h = fnv1a(reinterpret_cast<const char*>(ints), sizeof ints);
        h = fnv1a(reinterpret_cast<const char*>(&norm), sizeof norm, h);
        h = fnv1a(reinterpret_cast<const char*>(b.features.data()), b.features.size() * sizeof(float), h);
        h = fnv1a(reinterpret_cast<const char*>(b.loss.data()), b.loss.size() * sizeof(float), h);
        h = fnv1a(reinterpret_cast<const char*>(b.prob.data()), b.prob.size() * sizeof(float), h);
        if (h != checksum)
            break;
        out[{checkpoint, static_cast<int>(split)}][first] = std::move(b);
        good = ::lseek(fd, 0, SEEK_CUR);
    }
    return good;
}

namespace {

/// Opens a journal and checks its header; -1 (and `why`) when it is not one for `hash`.
int openJournal(const std::string& path, const std::string& hash, int flags, std::string& why)
{
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        why = "it cannot be opened (" + errnoText() + ")";
        return -1;
    }
    const std::string expected = kMagic + hash + "\n";
    std::string header(expected.size(), '\0');
    if (!readExactly(fd, header.data(), header.size()) || header != expected) {
        ::close(fd);
        why = "it belongs to other inputs (model, data or feature options)";
        return -1;
    }
    return fd;
}

} // namespace

void FeatureJournal::load(ProgressSink& progress)
{
    const std::string expected = kMagic + m_hash + "\n";
    std::string header(expected.size(), '\0');
    const off_t size = ::lseek(m_fd, 0, SEEK_END);
    const bool empty = size == 0;
    ::lseek(m_fd, 0, SEEK_SET);
    if (empty || !readExactly(m_fd, header.data(), header.size()) || header != expected) {
        if (!empty)
            progress.message("discarding " + m_path + ": it belongs to other inputs (model, data or feature options)");
        startEmpty();
        return;
    }
    const off_t good = static_cast<off_t>(readRecords(m_fd, static_cast<int64_t>(expected.size()), m_blocks));
    if (size > good)
        progress.message("featurization journal " + m_path + ": dropping " + std::to_string(size - good)
                         + " bytes after its last whole block (a write cut short)");
    // Drop whatever follows the last whole record (a write cut short by a crash).
    if (::ftruncate(m_fd, good) != 0 || ::lseek(m_fd, good, SEEK_SET) != good) {
        m_blocks.clear();
        startEmpty();
        return;
    }
    int64_t kept = 0;
    for (const auto& [key, blocks] : m_blocks)
        for (const auto& [first, b] : blocks)
            kept += b.rows;
    if (kept > 0)
        progress.message("featurization journal " + m_path + ": " + std::to_string(kept) + " rows already done");
}

int64_t FeatureJournal::absorbShards(ProgressSink& progress)
{
    const fs::path self(m_path);
    const std::string stem = self.filename().string().substr(0, self.filename().string().size() - 4); // "….features-partial"
    fs::path folder = self.parent_path();
    if (folder.empty())
        folder = ".";
    std::vector<fs::path> shards;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder, ec)) {
        const std::string name = entry.path().filename().string();
        if (name.size() > stem.size() + 6 && name.compare(0, stem.size() + 2, stem + ".r") == 0
            && name.compare(name.size() - 4, 4, ".bin") == 0 && name.find("-of-") != std::string::npos
            && !entry.is_symlink())
            shards.push_back(entry.path());
    }
    std::sort(shards.begin(), shards.end());
    int64_t taken = 0;
    for (const fs::path& shard : shards) {
        std::string why;
        const int fd = openJournal(shard.string(), m_hash, O_RDONLY, why);
        if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);
            progress.message("skipping " + shard.string() + ": its shard is still running");
            continue;
        }
        if (fd < 0) {
            progress.message("discarding " + shard.string() + ": " + why);
            fs::remove(shard, ec);
            continue;
        }
        std::map<Key, std::map<int64_t, Block>> blocks;
        readRecords(fd, static_cast<int64_t>(kMagic.size() + m_hash.size() + 1), blocks);
        ::close(fd);
        int64_t rows = 0;
        for (auto& [key, byRow] : blocks)
            for (auto& [first, b] : byRow)
                if (!m_blocks[key].count(first)) {
                    append(key, b, b.features.data());
                    rows += b.rows;
                    m_blocks[key][first] = std::move(b);
                }
        progress.message("took " + std::to_string(rows) + " feature rows from " + shard.string());
        taken += rows;
        fs::remove(shard, ec);
    }
    return taken;
}

void FeatureJournal::append(const Key& key, const Block& b, const float* features)
{
    if (m_fd < 0)
        return; // no journal (another run holds it)
    std::string record;
    const int64_t ints[kHeaderInts] = {key.first, key.second, b.firstRow, b.rows, b.dimension, b.fullDimension,
                                       b.batched ? 1 : 0, b.gradientNormSamples};
    record.append(reinterpret_cast<const char*>(ints), sizeof ints);
    record.append(reinterpret_cast<const char*>(&b.gradientSqNormMean), sizeof b.gradientSqNormMean);
    record.append(reinterpret_cast<const char*>(features), static_cast<size_t>(b.rows * b.dimension) * sizeof(float));
    record.append(reinterpret_cast<const char*>(b.loss.data()), b.loss.size() * sizeof(float));
    record.append(reinterpret_cast<const char*>(b.prob.data()), b.prob.size() * sizeof(float));
    const uint64_t checksum = fnv1a(record.data(), record.size());
    record.append(reinterpret_cast<const char*>(&checksum), sizeof checksum);
    writeExactly(m_fd, m_path, record.data(), record.size());
    if (::fdatasync(m_fd) != 0)
        throw IoError("cannot flush the featurization journal " + m_path + ": " + errnoText());
}

RowMatrixF FeatureJournal::computeBlock(const Model& model, const ImageSet& set, const FeatureOptions& options,
                                        const Key& key, int64_t begin, int64_t end, ProgressSink& progress,
                                        const CancelToken& cancel)
{
    FeatureInfo info;
    SampleStats stats;
    RowMatrixF features = featurizeRows(model, set, begin, end, options, &info, &stats, progress, cancel);
    Block b;
    b.firstRow = begin;
    b.rows = end - begin;
    b.dimension = info.dimension;
    b.fullDimension = info.fullDimension;
    b.batched = info.batched;
    b.gradientNormSamples = info.gradientNormSamples;
    b.gradientSqNormMean = info.gradientSqNormMean;
    b.loss = std::move(stats.loss);
    b.prob = std::move(stats.trueProb);
    append(key, b, features.data());
    m_blocks[key][begin] = std::move(b); // the bookkeeping; the rows stay with the caller
    return features;
}

int64_t FeatureJournal::featurizeShare(const Model& model, const ImageSet& set, const FeatureOptions& options,
                                       int64_t checkpoint, int split, const Shard& shard, ProgressSink& progress,
                                       const CancelToken& cancel)
{
    const Key key{checkpoint, split};
    const int64_t n = set.count, blockSize = blockRows(options.batchSize);
    int64_t computed = 0;
    progress.begin("featurize (shard " + shard.toString() + ")", n);
    for (int64_t begin = 0; begin < n; begin += blockSize) {
        const int64_t end = std::min(n, begin + blockSize);
        const auto& have = m_blocks[key];
        const auto it = have.find(begin);
        if (!shard.owns(begin / blockSize) || (it != have.end() && it->second.rows == end - begin))
            continue;
        computeBlock(model, set, options, key, begin, end, progress, cancel);
        computed += end - begin;
    }
    return computed;
}

RowMatrixF FeatureJournal::featurize(const Model& model, const ImageSet& set, const FeatureOptions& options,
                                     int64_t checkpoint, int split, FeatureInfo* info, SampleStats* stats,
                                     ProgressSink& progress, const CancelToken& cancel)
{
    const Key key{checkpoint, split};
    const int64_t n = set.count;
    if (n == 0) // nothing to featurize: let the featurizer report the shapes (and any error)
        return featurizeToMatrix(model, set, options, info, stats, progress, cancel);
    const int64_t blockSize = blockRows(options.batchSize);

    FeatureInfo result;
    result.layers = selectLayers(model, options.layers);
    RowMatrixF out;
    SampleStats local;
    SampleStats& s = stats ? *stats : local;
    s.loss.assign(static_cast<size_t>(n), 0.0f);
    s.trueProb.assign(static_cast<size_t>(n), 0.0f);
    // One block's rows into the result; the first block carries the gradient norms.
    auto take = [&](const Block& b, const float* features) {
        if (out.size() == 0)
            out.resize(n, b.dimension);
        out.middleRows(b.firstRow, b.rows) = Eigen::Map<const RowMatrixF>(features, b.rows, b.dimension);
        std::copy(b.loss.begin(), b.loss.end(), s.loss.begin() + b.firstRow);
        std::copy(b.prob.begin(), b.prob.end(), s.trueProb.begin() + b.firstRow);
        result.dimension = b.dimension;
        result.fullDimension = b.fullDimension;
        result.batched = b.firstRow == 0 ? b.batched : result.batched && b.batched;
        if (b.firstRow == 0) {
            result.gradientNormSamples = b.gradientNormSamples;
            result.gradientSqNormMean = b.gradientSqNormMean;
        }
    };

    // Blocks already in the journal (from an earlier run or other shards) are used when they
    // are exactly a block of this featurization; anything else is ignored.
    auto& have = m_blocks[key];
    int64_t reused = 0;
    for (auto it = have.begin(); it != have.end();) {
        Block& b = it->second;
        const bool fits = b.firstRow % blockSize == 0 && b.rows == std::min(blockSize, n - b.firstRow)
                          && !b.features.empty() && (out.size() == 0 || b.dimension == out.cols());
        if (!fits) {
            it = have.erase(it);
            continue;
        }
        take(b, b.features.data());
        reused += b.rows;
        std::vector<float>().swap(b.features); // the rows live in `out` now
        ++it;
    }
    progress.begin("featurize", n);
    if (reused > 0) {
        progress.message("resuming featurization: checkpoint " + std::to_string(checkpoint) + " " + splitName(split)
                         + ": " + std::to_string(reused) + " of " + std::to_string(n) + " rows already done");
        progress.advance(reused);
    }
    for (int64_t begin = 0; begin < n; begin += blockSize) {
        if (have.count(begin))
            continue;
        const int64_t end = std::min(n, begin + blockSize);
        const RowMatrixF features = computeBlock(model, set, options, key, begin, end, progress, cancel);
        take(have.at(begin), features.data());
    }
    if (info)
        *info = result;
    return out;
}

void FeatureJournal::remove()
{
    if (m_fd >= 0) {
        std::error_code ec;
        fs::remove(m_path, ec); // unlinked while still locked, so no other run can take it over half-way
        ::close(m_fd);
        m_fd = -1;
    }
    m_blocks.clear();
}

} // namespace attri
