#include "common/error.h"
#include "common/hash.h"
#include "common/runtime.h"
#include "support/test_support.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <thread>

namespace attri {
namespace {

TEST(Runtime, InitRuntimeUsesAllCores)
{
    initRuntime();
    EXPECT_EQ(torchThreads(), static_cast<int>(std::thread::hardware_concurrency()));
    initRuntime(1);
    EXPECT_EQ(torchThreads(), 1);
}

TEST(Runtime, OpenBlasServesMatrixProducts)
{
    // Without libopenblas0-openmp LibTorch falls back to reference BLAS (about 15x slower).
    std::string blas = blasLibrary();
    EXPECT_NE(blas.find("openblas"), std::string::npos) << "BLAS in use: '" << blas << "'";
    EXPECT_NE(buildInfo().find("LibTorch"), std::string::npos);
}

TEST(Runtime, OpenBlasRunsKernelsForThisCpu)
{
    // Debian 12's OpenBLAS falls back to SSE3 kernels on CPUs it does not know; the test main, like
    // the programs, restarts with better ones (restartWithBetterBlasKernels) unless the user chose
    // kernels with OPENBLAS_CORETYPE, which are then the ones loaded.
    if (std::getenv("ATTRI_KEEP_BLAS_KERNELS"))
        GTEST_SKIP() << "ATTRI_KEEP_BLAS_KERNELS is set";
    const std::string kernels = blasKernels();
    ASSERT_FALSE(kernels.empty());
    EXPECT_NE(buildInfo().find(kernels + " kernels"), std::string::npos) << buildInfo();
    const char* chosen = std::getenv("OPENBLAS_CORETYPE");
    if (chosen && *chosen) {
        std::string a = chosen, b = kernels;
        for (auto* s : {&a, &b})
            for (char& c : *s)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_EQ(b, a) << "OPENBLAS_CORETYPE=" << chosen << " but OpenBLAS runs its " << kernels << " kernels";
    } else {
        EXPECT_EQ(betterBlasKernels(), "") << "running OpenBLAS's " << kernels << " kernels";
    }
}

TEST(Runtime, DeviceChoice)
{
    EXPECT_EQ(parseDeviceChoice("auto"), DeviceChoice::Auto);
    EXPECT_EQ(parseDeviceChoice("cpu"), DeviceChoice::Cpu);
    EXPECT_EQ(parseDeviceChoice("cuda"), DeviceChoice::Cuda);
    for (const char* bad : {"", "gpu", "CUDA", "cuda:1"})
        EXPECT_THROW(parseDeviceChoice(bad), ConfigError) << bad;
    for (DeviceChoice c : {DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Cuda})
        EXPECT_EQ(parseDeviceChoice(toString(c)), c);

    selectDevice(DeviceChoice::Cpu);
    EXPECT_EQ(deviceName(), "cpu");
    selectDevice(DeviceChoice::Auto);
    EXPECT_EQ(deviceName(), cudaAvailable() ? "cuda:0" : "cpu");
    if (cudaAvailable()) {
        selectDevice(DeviceChoice::Cuda);
        EXPECT_EQ(deviceName(), "cuda:0");
    } else {
        // Asking for CUDA without it is an error that says why, and the selection stays.
        try {
            selectDevice(DeviceChoice::Cuda);
            ADD_FAILURE() << "selectDevice(cuda) succeeded without CUDA";
        } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("CUDA"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos) << e.what();
        }
        EXPECT_EQ(deviceName(), "cpu");
    }
    selectDevice(DeviceChoice::Cpu);
    EXPECT_NE(buildInfo().find("device cpu"), std::string::npos) << buildInfo();
}

// Reference digests from FIPS 180-4 examples / coreutils sha256sum.
TEST(Sha256, KnownDigests)
{
    Sha256 empty;
    EXPECT_EQ(empty.hexDigest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    Sha256 abc;
    abc.update("abc", 3);
    EXPECT_EQ(abc.hexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Sha256 two;
    std::string msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    two.update(msg.data(), 10);
    two.update(msg.data() + 10, msg.size() - 10);
    EXPECT_EQ(two.hexDigest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, FileMatchesSha256sum)
{
    test::TempDir dir;
    std::string bytes(100000, 'x');
    for (size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<char>((i * 7919) % 251);
    test::writeFile(dir.file("blob"), bytes);
    std::string out;
    ASSERT_EQ(test::runCommand("sha256sum " + dir.file("blob"), &out), 0);
    EXPECT_EQ(sha256File(dir.file("blob")), out.substr(0, 64));
    EXPECT_THROW(sha256File(dir.file("missing")), IoError);
}

} // namespace
} // namespace attri
