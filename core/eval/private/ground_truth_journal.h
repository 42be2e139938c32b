#pragma once
// Private to the eval stage: the side files ("journals") that make a ground-truth run resumable
// and let shards train apart: what one holds, how it is written and read back, and how the
// finished subsets of several are merged. ground_truth.cpp orchestrates the run around them.

#include "common/row_matrix.h"
#include "eval/subset_sampler.h"

#include <Eigen/Core>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace attri {


/// "subsets=M, alpha=A, seed=S", for messages.
std::string optionsText(const LdsOptions& options);

/// Progress of one run, as kept in the side file.
struct PartialState {
    std::vector<uint8_t> done; ///< M flags
    Eigen::MatrixXd testLoss;  ///< M×m, rows of unfinished subsets are NaN
    double seconds = 0.0;      ///< time spent on earlier runs
};

/// Writes a run's side file (atomically): its options, input hash, subset masks and state.
void writePartial(const std::string& path, const LdsOptions& options, const std::string& hash,
                  const std::vector<uint8_t>& masks, int64_t n, int64_t m, const PartialState& state);

/// The side file's state when it belongs to this very computation; nullopt (with the reason in
/// `why`) otherwise.
std::optional<PartialState> readPartial(const std::string& path, const LdsOptions& options,
                                        const std::string& hash, const std::vector<uint8_t>& masks, int64_t n,
                                        int64_t m, std::string& why);

/// Adds the subsets `from` finished that `into` has not; returns how many. (Seconds are the
/// caller's to combine.)
int64_t mergePartial(PartialState& into, const PartialState& from);

/// The shard side files next to the experiment (`<stem>.gt-partial.r*-of-*.h5`).
std::vector<std::filesystem::path> shardPartials(const std::string& experimentPath);

} // namespace attri
