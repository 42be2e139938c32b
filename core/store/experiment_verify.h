#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attri {

/// One damaged part of an experiment file, with what recomputes it.
struct DamagedPart {
    /// What recomputes the part from the intact rest of the file (Source: nothing does).
    enum class Remedy {
        Source,         ///< /data, /model or the file itself: the experiment's inputs; retrain
        Features,       ///< /features/KEY: featurize again (attribute)
        Attribution,    ///< /attribution/METHOD (spectra, sweeps, rotated features): attribute again
        Recommendation, ///< /attribution/METHOD/recommendation/kK: recommend again
        GroundTruth,    ///< /ground_truth: lds again
        Check,          ///< /checks/KIND/NAME: check again
    };
    std::string object;  ///< the damaged dataset or group (or "/" for the file)
    std::string problem; ///< the error message naming the file and the object
    std::string unit;    ///< the record recomputed as a whole (e.g. "/features/KEY")
    Remedy remedy = Remedy::Source;
    std::string method; ///< Attribution, Recommendation: the method group's name
    int64_t k = 0;      ///< Recommendation: its k
};

/// Everything `attriscope-cli verify` reports.
struct ExperimentVerification {
    std::string path;
    bool opened = false;        ///< the file could be opened at all
    bool checksummed = false;   ///< false: an older file; only readability and the schema are checked
    int64_t objectsChecked = 0; ///< groups and datasets read
    std::vector<DamagedPart> damaged;
    bool intact() const { return damaged.empty(); }
};

/// Reads every dataset and attribute of the file, checks every checksum, the schema of each
/// record, the shapes of the stored matrices against the data's sizes and the finiteness of
/// features, spectra and stored results. Never throws for damage: it is listed.
ExperimentVerification verifyExperimentFile(const std::string& path);

/// Removes the damaged parts that can be recomputed (whole units, see DamagedPart::unit) by
/// rewriting the file atomically without them; returns the units removed. Throws
/// DamagedDataError when a Source part is damaged (nothing in the file can replace it).
std::vector<DamagedPart> removeDamagedParts(const ExperimentVerification& verification);

} // namespace attri
