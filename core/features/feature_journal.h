#pragma once
// Resumable featurization: finished blocks of feature rows are appended to a side file next to
// the experiment file, so that a featurization killed half-way (kill -9, power loss, a cancel)
// continues from the rows already done instead of starting again.

#include "common/shard.h"
#include "features/featurizer.h"

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace attri {

class Model;
struct ImageSet;
class ProgressSink;
class CancelToken;

/// The side file `NAME.features-partial.bin` next to the experiment file `NAME.h5`; a shard's
/// own journal is `NAME.features-partial.r<R>-of-<N>.bin`.
std::string featureJournalPath(const std::string& experimentPath, const Shard& shard = {});

/// An append-only journal of featurized row blocks, keyed by (checkpoint, split).
///
/// Format (little-endian, raw): a header line "attriscope feature journal v1 <input hash>\n",
/// then records in any row order, each [int64 checkpoint, split, first row, rows, dimension, full dimension,
/// batched, gradient-norm samples][double gradient-norm mean][rows × dimension float features]
/// [rows float loss][rows float p(y|x)][uint64 FNV-1a of everything before it in the record].
/// Each record is written with one write() and fdatasync'ed before the next block starts. A
/// record cut short by a crash, or whose checksum does not match, ends the journal: it and
/// everything after it are dropped (truncated) on the next open. A journal for other inputs
/// (another model, data or feature options: the input hash differs) is discarded. The journal
/// is a cache: losing it costs time, never data.
class FeatureJournal {
public:
    /// Opens the journal at `path` for `inputHash`, keeping the valid records of a journal for
    /// the same inputs; otherwise starts an empty one. Reports what it kept or discarded through
    /// `progress`. Throws IoError when the file cannot be created (or is a symbolic link).
    FeatureJournal(std::string path, std::string inputHash, ProgressSink& progress);
    ~FeatureJournal();
    FeatureJournal(const FeatureJournal&) = delete;
    FeatureJournal& operator=(const FeatureJournal&) = delete;

    /// Featurizes `set` (split 0 = train, 1 = test) at `checkpoint` in blocks of blockRows(),
    /// taking the blocks the journal already holds and appending every new block. Same result,
    /// bit for bit, as featurizeToMatrix on the whole set (blocks are whole batches).
    RowMatrixF featurize(const Model& model, const ImageSet& set, const FeatureOptions& options, int64_t checkpoint,
                         int split, FeatureInfo* info, SampleStats* stats, ProgressSink& progress,
                         const CancelToken& cancel);

    /// A shard's part: computes (and appends) only the missing blocks whose index b (first row
    /// / blockRows()) the shard owns (b mod N = R). Returns the rows computed.
    int64_t featurizeShare(const Model& model, const ImageSet& set, const FeatureOptions& options, int64_t checkpoint,
                           int split, const Shard& shard, ProgressSink& progress, const CancelToken& cancel);

    /// Takes over the blocks of the shard journals next to this one
    /// (`NAME.features-partial.r*-of-*.bin`) that belong to the same inputs, appending them here,
    /// and deletes those files (ones for other inputs too, with a message). Returns the rows taken.
    int64_t absorbShards(ProgressSink& progress);

    /// Rows per journal block: the smallest multiple of the batch size ≥ kGradientNormSamples
    /// (so the first block carries the gradient-norm estimate of the whole set).
    static int64_t blockRows(int64_t batchSize);

    /// Deletes the side file (after its rows reached the experiment file).
    void remove();

private:
    struct Block {
        int64_t firstRow = 0;
        int64_t rows = 0;
        int64_t dimension = 0;
        int64_t fullDimension = 0;
        bool batched = true;
        int64_t gradientNormSamples = 0;
        double gradientSqNormMean = 0.0;
        std::vector<float> features; ///< rows read from a file (released once copied out)
        std::vector<float> loss, prob;
    };
    using Key = std::pair<int64_t, int>; ///< (checkpoint, split)

    /// Reads the records of an open journal positioned after its header into `out`, stopping at
    /// the first damaged one; returns the offset after the last good record.
    static int64_t readRecords(int fd, int64_t offset, std::map<Key, std::map<int64_t, Block>>& out);
    void load(ProgressSink& progress);
    void startEmpty();
    void append(const Key& key, const Block& block, const float* features);
    /// Computes block [begin, end) of the set, appends it, and returns its rows.
    RowMatrixF computeBlock(const Model& model, const ImageSet& set, const FeatureOptions& options, const Key& key,
                            int64_t begin, int64_t end, ProgressSink& progress, const CancelToken& cancel);

    std::string m_path;
    std::string m_hash;
    int m_fd = -1;
    std::map<Key, std::map<int64_t, Block>> m_blocks; ///< by first row
};

/// The input hash of a featurization: everything the features depend on (the model's parameters
/// at every checkpoint used, the training and test images and labels, the feature options).
std::string featureInputHash(const std::vector<const Model*>& checkpoints, const ImageSet& train, const ImageSet& test,
                             const FeatureOptions& options);

} // namespace attri
