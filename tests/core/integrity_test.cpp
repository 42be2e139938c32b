// Checksums of experiment files: damaged bytes give an error naming the file and the object,
// never different results; `verify` and its repair; files written before checksums.
#include "support/test_support.h"

#include "attribution/attribution_session.h"
#include "common/error.h"
#include "jobs/cancel_token.h"
#include "jobs/progress_sink.h"
#include "store/atomic_write.h"
#include "store/experiment_file.h"
#include "store/experiment_verify.h"
#include "store/h5_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>

namespace {

using attri::test::fixture;
using attri::test::readFile;
using attri::test::runCommand;
using attri::test::TempDir;
using attri::test::writeFile;

const std::string kCli = ATTRI_CLI_PATH;

/// What `info` and `topk` show of a file: the summary, the stored λ and every score at it.
struct Reading {
    std::string summary;
    double lambda = 0.0;
    attri::RowMatrixF scores;
    std::vector<std::string> classNames;
};

Reading readAll(const std::string& path, int64_t k)
{
    Reading r;
    r.summary = attri::describeExperimentFile(path);
    r.summary.replace(0, path.size(), "FILE");
    attri::NullProgress progress;
    const auto session = attri::AttributionSession::open(path, "trak", k, progress, attri::CancelToken());
    r.lambda = session->storedLambda().value_or(-1.0);
    r.scores = session->scores({}, session->storedLambda().value_or(session->meanEigenvalue()));
    r.classNames = session->data().classNames;
    return r;
}

bool sameReading(const Reading& a, const Reading& b)
{
    return a.summary == b.summary && a.lambda == b.lambda && a.classNames == b.classNames
           && a.scores.rows() == b.scores.rows() && a.scores.cols() == b.scores.cols()
           && std::memcmp(a.scores.data(), b.scores.data(), sizeof(float) * a.scores.size()) == 0;
}

/// A real experiment made by the CLI: logistic regression on 600 demo points, TRAK at k = 8 and
/// 16 (features in three chunks, so their chunk index is a structure of its own), and a
/// recommended λ at k = 16.
const std::string& experiment()
{
    static TempDir dir;
    static const std::string path = [] {
        const std::string p = dir.file("exp.h5");
        std::string out;
        const std::string cli = kCli + " --threads 1 ";
        const int rc =
            runCommand(cli
                           + "train --data demo --model lr --train-size 600 --test-size 20 --epochs 1 "
                             "--checkpoints 1 --out "
                           + p + " && " + cli + "attribute " + p
                           + " --method trak --k 8,16 --lambda-grid log:1e-3:1e1:5 && " + cli + "recommend "
                           + p + " --method trak --k 16",
                       &out);
        if (rc != 0)
            throw std::runtime_error("making the experiment failed: " + out);
        return p;
    }();
    return path;
}

/// Byte ranges of one kind in a file.
using Ranges = std::vector<std::pair<size_t, size_t>>;

void addOccurrences(const std::string& bytes, const std::string& needle, size_t length, Ranges& out)
{
    for (size_t at = bytes.find(needle); at != std::string::npos; at = bytes.find(needle, at + 1))
        out.emplace_back(at, std::min(bytes.size(), at + length));
}

std::string rawBytes(const void* data, size_t size)
{
    return std::string(static_cast<const char*>(data), size);
}

/// The regions the trials flip bytes in, found from the file's own bytes: the superblock, the
/// B-trees and chunk indexes (by their signatures), the feature chunks (by the bytes of stored
/// rows) and attributes (object headers, which hold them, the heaps holding their text, and the
/// bytes of known attribute values).
std::map<std::string, Ranges> regions(const std::string& path, const std::string& bytes)
{
    std::map<std::string, Ranges> r;
    r["superblock"] = {{0, 48}};
    for (const char* sig : {"BTHD", "BTLF", "BTIN", "FAHD", "FADB", "EAHD", "EAIB", "EADB"})
        addOccurrences(bytes, sig, 64, r["btree"]);
    const attri::H5File file(path, attri::H5File::Mode::ReadOnly);
    for (const char* split : {"train", "test"}) {
        const std::vector<float> rows =
            file.readRows("/features/margin-kron-k16-s0-all-c0/" + std::string(split), 0, 4, 16);
        addOccurrences(bytes, rawBytes(rows.data(), rows.size() * sizeof(float)), 4 * 16 * sizeof(float),
                       r["chunk"]);
    }
    for (const char* sig : {"OHDR", "OCHK", "GCOL", "FHDB"})
        addOccurrences(bytes, sig, 96, r["attributes"]);
    const double lambda = file.attrDouble("/attribution/trak/recommendation/k16", "lambda");
    addOccurrences(bytes, rawBytes(&lambda, sizeof lambda), sizeof lambda, r["attributes"]);
    addOccurrences(bytes, "attriscope-experiment", 21, r["attributes"]);
    addOccurrences(bytes, "margin-kron-k16-s0-all-c0", 25, r["attributes"]);
    r["anywhere past 4 KiB"] = {{4096, bytes.size()}};
    return r;
}

TEST(Integrity, ByteFlipsGiveIdenticalResultsOrAClearError)
{
    // 5 regions × 100 trials = 500 damaged copies, each read as `info` and `topk` read it.
    constexpr int kTrialsPerRegion = 100;
    const std::string& path = experiment();
    const std::string intact = readFile(path);
    const Reading reference = readAll(path, 16);
    ASSERT_GT(reference.lambda, 0.0);
    const auto kinds = regions(path, intact);
    TempDir dir;
    const std::string damaged = dir.file("exp.h5");
    std::mt19937_64 rng(29);
    for (const auto& [kind, ranges] : kinds) {
        ASSERT_FALSE(ranges.empty()) << kind;
        int same = 0;
        int errors = 0;
        for (int trial = 0; trial < kTrialsPerRegion; ++trial) {
            std::string bytes = intact;
            // The case flips 200 bytes; inside one structure a few flips already do.
            const int flips = kind == "anywhere past 4 KiB" ? 200 : 1 + static_cast<int>(rng() % 4);
            for (int f = 0; f < flips; ++f) {
                const auto& range = ranges[rng() % ranges.size()];
                const size_t at = range.first + rng() % (range.second - range.first);
                bytes[at] = static_cast<char>(bytes[at] ^ static_cast<char>(1 + rng() % 255));
            }
            writeFile(damaged, bytes);
            try {
                const Reading r = readAll(damaged, 16);
                EXPECT_TRUE(sameReading(r, reference))
                    << kind << " trial " << trial << ": different results without an error\n"
                    << r.summary;
                ++same;
            } catch (const attri::Error& e) {
                const std::string what = e.what();
                EXPECT_NE(what.find(damaged), std::string::npos)
                    << kind << ": the error names the file: " << what;
                ++errors;
            }
        }
        EXPECT_EQ(same + errors, kTrialsPerRegion);
        EXPECT_GT(errors, 0) << kind << ": no flip was noticed";
        if (kind == "chunk" || kind == "anywhere past 4 KiB")
            EXPECT_EQ(errors, kTrialsPerRegion) << kind << ": every flip of stored data is noticed";
    }
}

TEST(Integrity, DamagedFeatureChunkNamesTheDatasetAndVerifyListsIt)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    std::string bytes = readFile(experiment());
    {
        const attri::H5File file(experiment(), attri::H5File::Mode::ReadOnly);
        const std::vector<float> row = file.readRows("/features/margin-kron-k16-s0-all-c0/train", 0, 1, 16);
        const size_t at = bytes.find(rawBytes(row.data(), row.size() * sizeof(float)));
        ASSERT_NE(at, std::string::npos);
        bytes[at + 5] = static_cast<char>(bytes[at + 5] ^ 0x10);
    }
    writeFile(path, bytes);
    try {
        readAll(path, 16);
        FAIL() << "a damaged feature chunk was read";
    } catch (const attri::DamagedDataError& e) {
        EXPECT_EQ(e.file(), path);
        EXPECT_EQ(e.object(), "/features/margin-kron-k16-s0-all-c0/train");
        EXPECT_NE(std::string(e.what()).find("Fletcher32"), std::string::npos) << e.what();
    }
    const attri::ExperimentVerification v = attri::verifyExperimentFile(path);
    EXPECT_TRUE(v.checksummed);
    ASSERT_EQ(v.damaged.size(), 1u);
    EXPECT_EQ(v.damaged[0].object, "/features/margin-kron-k16-s0-all-c0/train");
    EXPECT_EQ(v.damaged[0].unit, "/features/margin-kron-k16-s0-all-c0");
    EXPECT_EQ(v.damaged[0].remedy, attri::DamagedPart::Remedy::Features);

    std::string out;
    EXPECT_EQ(runCommand(kCli + " topk " + path + " --method trak --k 16 --test 0", &out), 65) << out;
    EXPECT_NE(out.find("/features/margin-kron-k16-s0-all-c0/train is damaged"), std::string::npos) << out;
    EXPECT_EQ(runCommand(kCli + " verify " + path, &out), 65) << out;
    EXPECT_NE(out.find("recompute: attriscope-cli attribute"), std::string::npos) << out;
}

TEST(Integrity, RepairRemovesADamagedRecommendationAndRecommendRestoresIt)
{
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    std::string bytes = readFile(experiment());
    const Reading reference = readAll(experiment(), 16);
    {
        const attri::H5File file(experiment(), attri::H5File::Mode::ReadOnly);
        const std::vector<double> lambdas = file.readDoubles("/attribution/trak/recommendation/k16/lambdas");
        const size_t at = bytes.find(rawBytes(lambdas.data(), lambdas.size() * sizeof(double)));
        ASSERT_NE(at, std::string::npos);
        bytes[at + 3] = static_cast<char>(bytes[at + 3] ^ 0x01);
    }
    writeFile(path, bytes);
    std::string out;
    EXPECT_EQ(runCommand(kCli + " verify " + path, &out), 65) << out;
    EXPECT_NE(out.find("/attribution/trak/recommendation/k16"), std::string::npos) << out;
    EXPECT_EQ(runCommand(kCli + " verify " + path + " --repair", &out), 0) << out;
    EXPECT_NE(out.find("attriscope-cli recommend"), std::string::npos) << out;
    EXPECT_EQ(runCommand(kCli + " verify " + path, &out), 0) << out;
    EXPECT_NE(out.find("intact"), std::string::npos) << out;
    EXPECT_EQ(runCommand(kCli + " --threads 1 recommend " + path + " --method trak --k 16", &out), 0) << out;
    EXPECT_TRUE(sameReading(readAll(path, 16), reference));
}

TEST(Integrity, VerifyHasHelpAndAnIntactFileVerifies)
{
    std::string out;
    EXPECT_EQ(runCommand(kCli + " verify --help", &out), 0);
    EXPECT_NE(out.find("--repair"), std::string::npos) << out;
    EXPECT_EQ(runCommand(kCli + " verify " + experiment(), &out), 0) << out;
    EXPECT_NE(out.find("checksums verified"), std::string::npos) << out;
    const attri::ExperimentVerification v = attri::verifyExperimentFile(experiment());
    EXPECT_TRUE(v.intact());
    EXPECT_GT(v.objectsChecked, 40);
}

TEST(Integrity, EveryDatasetCarriesFletcher32OrLivesInTheObjectHeader)
{
    // Damage to a small dataset's only chunk is found by Fletcher-32 even without a record
    // checksum: flip a byte of /data/train_indices.
    TempDir dir;
    const std::string path = dir.file("exp.h5");
    std::string bytes = readFile(experiment());
    {
        const attri::H5File file(experiment(), attri::H5File::Mode::ReadOnly);
        const std::vector<int64_t> indices = file.readInt64("/data/train_indices");
        const size_t at = bytes.find(rawBytes(indices.data(), indices.size() * sizeof(int64_t)));
        ASSERT_NE(at, std::string::npos);
        bytes[at + 8] = static_cast<char>(bytes[at + 8] ^ 0x02);
    }
    writeFile(path, bytes);
    const attri::H5File file(path, attri::H5File::Mode::ReadOnly);
    EXPECT_THROW(file.readInt64("/data/train_indices"), attri::DamagedDataError);
    EXPECT_THROW(attri::readDataRecord(file), attri::DamagedDataError);
}

TEST(Integrity, OlderFilesOpenWithANoticeAndAreUpgradedOnTheNextWrite)
{
    // tests/fixtures/legacy_experiment_v1.h5: 100 demo points, TRAK k = 8 and 16 with a
    // recommendation, written by the build before checksums (HDF5's earliest format, no filters).
    TempDir dir;
    const std::string path = dir.file("old.h5");
    writeFile(path, readFile(fixture("legacy_experiment_v1.h5")));
    {
        const attri::H5File file(path, attri::H5File::Mode::ReadOnly);
        EXPECT_FALSE(file.checksummed());
        EXPECT_NO_THROW(attri::checkExperimentFile(file));
    }
    const Reading before = readAll(path, 16);
    std::string out;
    EXPECT_EQ(runCommand(kCli + " info " + path, &out), 0) << out;
    EXPECT_NE(out.find("note: " + path + " has no checksums"), std::string::npos) << out;
    const attri::ExperimentVerification old = attri::verifyExperimentFile(path);
    EXPECT_FALSE(old.checksummed);
    EXPECT_TRUE(old.intact());

    // Any write upgrades it: here one that changes nothing.
    attri::writeHdf5Atomically(path, true, [](attri::H5File&) {});
    EXPECT_TRUE(attri::H5File(path, attri::H5File::Mode::ReadOnly).checksummed());
    EXPECT_TRUE(sameReading(readAll(path, 16), before));
    const attri::ExperimentVerification upgraded = attri::verifyExperimentFile(path);
    EXPECT_TRUE(upgraded.checksummed);
    EXPECT_TRUE(upgraded.intact());
    EXPECT_EQ(upgraded.objectsChecked, old.objectsChecked);
    EXPECT_EQ(runCommand(kCli + " info " + path, &out), 0) << out;
    EXPECT_EQ(out.find("no checksums"), std::string::npos) << out;
}

TEST(Integrity, LegacyStorageWritesNoChecksums)
{
    TempDir dir;
    const std::string path = dir.file("legacy.h5");
    {
        attri::H5File file(path, attri::H5File::Mode::Truncate, attri::H5File::Storage::Legacy);
        const std::vector<double> v = {1.0, 2.0, 3.0};
        file.writeDoubles("/a/values", {3}, v.data());
        file.setAttr("/a", "name", "x");
    }
    const attri::H5File file(path, attri::H5File::Mode::ReadOnly);
    EXPECT_FALSE(file.checksummed());
    EXPECT_FALSE(file.hasAttr("/a", "checksum_sha256"));
    EXPECT_EQ(file.readDoubles("/a/values"), (std::vector<double>{1.0, 2.0, 3.0}));
}

} // namespace
