// CIFAR-10 binary batches: readCifarBuffer (the in-memory core of readCifarBatch) and, for a
// successful parse, selectCatsAndDogs.

#include "data/cifar_reader.h"
#include "fuzz_common.h"

using namespace attri;
using attri::fuzz::expectCleanOutcome;
using attri::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    ImageSet set;
    if (!expectCleanOutcome("readCifarBuffer", [&] { set = readCifarBuffer(data, size, "fuzz.bin"); }))
        return 0;
    require(size % kCifarRecordBytes == 0 && set.count == static_cast<int64_t>(size / kCifarRecordBytes),
            "one image per 3073-byte record");
    require(set.channels == 3 && set.height == 32 && set.width == 32, "CIFAR images are 3×32×32");
    require(set.images.size() == static_cast<size_t>(set.count * set.imageSize()),
            "ImageSet holds all pixels");
    for (int64_t label : set.labels)
        require(label >= 0 && label <= 9, "labels lie in 0..9");
    expectCleanOutcome("selectCatsAndDogs", [&] {
        const ImageSet pair = selectCatsAndDogs(set);
        require(pair.images.size() == static_cast<size_t>(pair.count * pair.imageSize()),
                "pair holds all pixels");
        for (int64_t label : pair.labels)
            require(label == 0 || label == 1, "cats and dogs are relabelled 0/1");
    });
    return 0;
}
