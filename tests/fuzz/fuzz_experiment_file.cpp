// Experiment files (.h5): checkExperimentFile, readDataRecord, readModelRecord and
// describeExperimentFile on the input written as a file. Each reader runs even when an
// earlier one rejected the file, as the CLI's `info` does.

#include "fuzz_common.h"
#include "store/experiment_file.h"
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
    return 0;
}
