// HDF5 datasets (spec h5:FILE): loadHdf5Dataset on the input written as a file. The HDF5 C
// library itself is not instrumented; AttriScope's reader and H5File wrapper are.

#include "data/hdf5_dataset_reader.h"
#include "fuzz_common.h"

#include <cmath>

using namespace attri;
using attri::fuzz::expectCleanOutcome;
using attri::fuzz::require;

namespace {

void checkSplit(const ImageSet& s, int numClasses)
{
    require(s.count >= 0 && s.imageSize() > 0, "split has a positive image size");
    require(s.images.size() == static_cast<size_t>(s.count * s.imageSize()),
            "split holds count·C·H·W values");
    require(s.labels.size() == static_cast<size_t>(s.count), "split holds count labels");
    for (int64_t label : s.labels)
        require(label >= 0 && label < numClasses, "labels lie in [0, numClasses)");
    for (float v : s.images)
        require(std::isfinite(v), "pixels are finite");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static attri::fuzz::ScratchFile scratch(".h5");
    const std::string& path = scratch.write(data, size);
    expectCleanOutcome("loadHdf5Dataset", [&] {
        const RawDataset d = loadHdf5Dataset(path);
        require(d.numClasses >= 1 && static_cast<int>(d.classNames.size()) == d.numClasses,
                "one class name per class");
        checkSplit(d.train, d.numClasses);
        checkSplit(d.test, d.numClasses);
    });
    return 0;
}
