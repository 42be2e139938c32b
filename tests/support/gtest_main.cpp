// The core tests' main: GoogleTest's, after the same BLAS kernel check as the programs, so that
// the tests run the products with the kernels the CLI and the GUI use.
#include "common/runtime.h"

#include <gtest/gtest.h>

int main(int argc, char** argv)
{
    attri::restartWithBetterBlasKernels(argv);
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
