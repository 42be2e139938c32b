// Experiment files (.h5): checkExperimentFile, readDataRecord, readModelRecord,
// describeExperimentFile and verifyExperimentFile on the input written as a file. Each reader
// runs even when an earlier one rejected the file, as the CLI's `info` does. The corpus holds a
// checksummed file with flipped bytes (flipped_checksummed_lr): mutations of it are damaged
// files, which must give a clean error or verify's list, never a crash.

#include "fuzz_common.h"
#include "store/experiment_file.h"
#include "store/experiment_verify.h"
#include "store/h5_file.h"

#include <memory>

using namespace attri;
using attri::fuzz::expectCleanOutcome;
using attri::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static attri::fuzz::ScratchFile scratch(".h5");
    const std::string& path = scratch.write(data, size);
    std::unique_ptr<H5File> file;
    if (expectCleanOutcome("H5File(ReadOnly)",
                           [&] { file = std::make_unique<H5File>(path, H5File::Mode::ReadOnly); })) {
        expectCleanOutcome("checkExperimentFile", [&] { checkExperimentFile(*file); });
        expectCleanOutcome("readDataRecord", [&] { readDataRecord(*file); });
        expectCleanOutcome("readModelRecord", [&] {
            const ModelRecord r = readModelRecord(*file);
            for (const Checkpoint& cp : r.checkpoints)
                for (const ParamTensor& t : cp.params) {
                    int64_t n = 1;
                    for (int64_t d : t.shape)
                        n *= d;
                    require(t.values.size() == static_cast<size_t>(n),
                            "a tensor holds product(shape) values");
                }
        });
        file.reset();
    }
    expectCleanOutcome("describeExperimentFile",
                       [&] { require(!describeExperimentFile(path).empty(), "the summary is never empty"); });
    expectCleanOutcome("verifyExperimentFile", [&] {
        const ExperimentVerification v = verifyExperimentFile(path);
        require(v.opened || !v.damaged.empty(), "a file that cannot be opened is reported damaged");
        for (const DamagedPart& d : v.damaged)
            require(!d.unit.empty() && d.unit[0] == '/', "every damaged part names its record");
    });
    return 0;
}
