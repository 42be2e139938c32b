// Runs the real attriscope-cli binary, as a user would.
#include "support/test_support.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace attri {
namespace {

const std::string kCli = ATTRI_CLI_PATH;

TEST(Cli, VersionNamesLibTorchAndBlas)
{
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " --version", &out), 0) << out;
    EXPECT_NE(out.find("AttriScope"), std::string::npos) << out;
    EXPECT_NE(out.find("openblas"), std::string::npos) << out;
}

TEST(Cli, HelpListsCommandsAndOptions)
{
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " --help", &out), 0);
    for (const char* cmd : {"train", "import", "info", "demo"})
        EXPECT_NE(out.find(cmd), std::string::npos) << cmd;
    ASSERT_EQ(test::runCommand(kCli + " train --help", &out), 0);
    for (const char* opt : {"--data", "--model", "--optimizer", "--lr", "--momentum", "--batch-size", "--epochs",
                            "--weight-decay", "--seed", "--train-size", "--sample-seed", "--out"})
        EXPECT_NE(out.find(opt), std::string::npos) << opt;
}

TEST(Cli, BadArgumentsGiveClearErrors)
{
    std::string out;
    EXPECT_EQ(test::runCommand(kCli + " frobnicate", &out), 2);
    EXPECT_NE(out.find("unknown command"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " train --model vit --out /tmp/x.h5", &out), 2);
    EXPECT_NE(out.find("vit"), std::string::npos) << out;
    EXPECT_EQ(test::runCommand(kCli + " train --data nosuch:thing --out /tmp/x.h5", &out), 2);
    EXPECT_NE(out.find("nosuch"), std::string::npos) << out;
    EXPECT_NE(test::runCommand(kCli + " info /nonexistent/file.h5", &out), 0);
    EXPECT_NE(out.find("/nonexistent/file.h5"), std::string::npos) << out;
}

// The acceptance check: LR on the demo reaches about 0.8 test accuracy and `info` shows it.
TEST(Cli, TrainDemoLogisticRegressionThenInfo)
{
    test::TempDir dir;
    std::string exp = dir.file("x.h5");
    std::string out;
    ASSERT_EQ(test::runCommand(kCli + " --threads 2 train --data demo --model lr --out " + exp, &out), 0) << out;
    auto pos = out.find("test accuracy ");
    ASSERT_NE(pos, std::string::npos) << out;
    double acc = std::stod(out.substr(pos + 14));
    EXPECT_GT(acc, 0.75) << out;
    EXPECT_LT(acc, 0.95) << out;
    ASSERT_TRUE(std::filesystem::exists(exp));
    ASSERT_EQ(test::runCommand(kCli + " info " + exp, &out), 0) << out;
    EXPECT_NE(out.find("lr"), std::string::npos) << out;
    EXPECT_NE(out.find("demo"), std::string::npos) << out;
}

} // namespace
} // namespace attri
