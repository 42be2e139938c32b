#include "data/data_loader.h"
#include "data/idx_reader.h"

#include <cstddef>

// The gzipped IDX files linked in by resources/demo_data.S; each blob's size is end − start.
extern "C" const unsigned char attri_demo_train_images_start[];
extern "C" const unsigned char attri_demo_train_images_end[];
extern "C" const unsigned char attri_demo_train_labels_start[];
extern "C" const unsigned char attri_demo_train_labels_end[];
extern "C" const unsigned char attri_demo_test_images_start[];
extern "C" const unsigned char attri_demo_test_images_end[];
extern "C" const unsigned char attri_demo_test_labels_start[];
extern "C" const unsigned char attri_demo_test_labels_end[];

namespace attri {

namespace {

IdxArray readBlob(const unsigned char* start, const unsigned char* end, const char* file, uint32_t magic)
{
    return readIdxBuffer(start, static_cast<size_t>(end - start), std::string("demo:") + file, magic);
}

} // namespace

RawDataset loadDemoDataset()
{
    RawDataset data;
    data.name = "demo";
    data.numClasses = 10;
    data.classNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    data.train = idxToImageSet(readBlob(attri_demo_train_images_start, attri_demo_train_images_end,
                                        "train-images-idx3-ubyte.gz", kIdxImagesMagic),
                               readBlob(attri_demo_train_labels_start, attri_demo_train_labels_end,
                                        "train-labels-idx1-ubyte.gz", kIdxLabelsMagic),
                               "demo:train-images-idx3-ubyte.gz", "demo:train-labels-idx1-ubyte.gz", 10);
    data.test = idxToImageSet(readBlob(attri_demo_test_images_start, attri_demo_test_images_end,
                                       "t10k-images-idx3-ubyte.gz", kIdxImagesMagic),
                              readBlob(attri_demo_test_labels_start, attri_demo_test_labels_end,
                                       "t10k-labels-idx1-ubyte.gz", kIdxLabelsMagic),
                              "demo:t10k-images-idx3-ubyte.gz", "demo:t10k-labels-idx1-ubyte.gz", 10);
    data.files = {"(embedded) train-images-idx3-ubyte.gz", "(embedded) train-labels-idx1-ubyte.gz",
                  "(embedded) t10k-images-idx3-ubyte.gz", "(embedded) t10k-labels-idx1-ubyte.gz"};
    return data;
}

} // namespace attri
