// attriscope-cli: the headless front end. Everything the GUI computes is reachable from here.
#include "commands.h"

#include "common/error.h"
#include "common/runtime.h"
#include "jobs/cancel_token.h"
#include "store/h5_file.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <set>

namespace {

attri::CancelToken g_cancel;

extern "C" void onInterrupt(int)
{
    // The first Ctrl-C asks the running job to stop at its next checkpoint; a second one kills.
    if (g_cancel.isCancelled())
        std::_Exit(130);
    g_cancel.cancel();
}

struct Command {
    std::function<int(const attri::cli::Args&, const attri::CancelToken&)> run;
    const char* summary;
};

const std::map<std::string, Command>& commands()
{
    using namespace attri::cli;
    static const std::map<std::string, Command> table = {
        {"demo", {runDemo, "run the main job on the embedded demo data (headless)"}},
        {"train", {runTrain, "train a zoo model and write an experiment file"}},
        {"import", {runImport, "import a TorchScript model with its data into an experiment file"}},
        {"info", {runInfo, "print what an experiment file holds"}},
        {"verify",
         {runVerify, "check every checksum of an experiment file; --repair recomputes what it can"}},
        {"attribute", {runAttribute, "compute features, spectra and λ × k sensitivity tables"}},
        {"scores", {runScores, "write the score matrix at one λ as CSV"}},
        {"topk", {runTopk, "print the top proponents and opponents of a test point"}},
        {"check", {runCheck, "retrain without top-k proponents or single points, against the scores"}},
        {"lds", {runLds, "compute or resume LDS ground truth and score every stored setting"}},
        {"recommend", {runRecommend, "recommend λ without retraining, with its evidence"}},
        {"study", {runStudyCommand, "validate the recommendation against ground truth across settings"}},
    };
    return table;
}

/// One line on stderr when a command's experiment file predates checksums (`verify` says it
/// itself; a write adds them).
void noticeOlderFile(const std::string& command, const std::vector<std::string>& args)
{
    static const std::set<std::string> readers = {"info",  "attribute", "scores",   "topk",
                                                  "check", "lds",       "recommend"};
    if (!readers.count(command))
        return;
    for (const std::string& a : args) {
        if (a.size() < 4 || a.compare(a.size() - 3, 3, ".h5") != 0 || a.rfind("--", 0) == 0)
            continue;
        try {
            const attri::H5File file(a, attri::H5File::Mode::ReadOnly);
            if (!file.checksummed() && file.hasAttr("/", "schema_version"))
                std::cerr << "attriscope-cli: note: " << a
                          << " has no checksums (written by an older AttriScope); the next write adds them\n";
        } catch (const attri::Error&) {
            // The command reports what is wrong with the file.
        }
        return;
    }
}

void printHelp()
{
    std::cout
        << "Usage: attriscope-cli [--threads N] [--device D] COMMAND [options]\n\n"
           "AttriScope: training-data attribution (influence functions, TRAK, TracIn, gradient\n"
           "similarity) with damping/projection sweeps and a retraining-free damping recommendation.\n\n"
           "Commands:\n";
    for (const auto& [name, cmd] : commands())
        std::cout << "  " << name << std::string(10 - std::min<size_t>(9, name.size()), ' ') << cmd.summary
                  << "\n";
    std::cout << "\nGlobal options:\n"
                 "  --threads N   LibTorch threads (default: all cores)\n"
                 "  --device D    where training, retraining and featurization run: auto (a CUDA GPU\n"
                 "                when this LibTorch has CUDA and sees one, else the CPU), cpu, or cuda\n"
                 "                (an error without a usable GPU). Default: auto. Spectra, sweeps, LDS\n"
                 "                and the recommendation always run on the CPU\n"
                 "  --version     print version, LibTorch and BLAS\n"
                 "  --help        this help; COMMAND --help for a command's options\n";
}

} // namespace

int main(int argc, char** argv)
{
    attri::restartWithBetterBlasKernels(argv);
    std::vector<std::string> args(argv + 1, argv + argc);
    int threads = 0;
    attri::DeviceChoice device = attri::DeviceChoice::Auto;
    while (!args.empty() && args[0].rfind("--", 0) == 0) {
        if (args[0] == "--help" || args[0] == "-h") {
            printHelp();
            return 0;
        }
        if (args[0] == "--version") {
            attri::initRuntime(threads);
            try {
                attri::selectDevice(device);
            } catch (const attri::ConfigError& e) {
                std::cerr << "attriscope-cli: " << e.what() << "\n";
                return 2;
            }
            std::cout << attri::buildInfo() << "\n";
            return 0;
        }
        if (args[0] == "--threads" && args.size() > 1) {
            threads = std::atoi(args[1].c_str());
            args.erase(args.begin(), args.begin() + 2);
            continue;
        }
        if (args[0] == "--device" && args.size() > 1) {
            try {
                device = attri::parseDeviceChoice(args[1]);
            } catch (const attri::ConfigError& e) {
                std::cerr << "attriscope-cli: " << e.what() << "\n";
                return 2;
            }
            args.erase(args.begin(), args.begin() + 2);
            continue;
        }
        std::cerr << "attriscope-cli: unknown option " << args[0] << " (see --help)\n";
        return 2;
    }
    if (args.empty()) {
        printHelp();
        return 2;
    }
    auto it = commands().find(args[0]);
    if (it == commands().end()) {
        std::cerr << "attriscope-cli: unknown command '" << args[0] << "' (see --help)\n";
        return 2;
    }
    attri::initRuntime(threads);
    try {
        attri::selectDevice(device);
    } catch (const attri::ConfigError& e) {
        std::cerr << "attriscope-cli: " << e.what() << "\n";
        return 2;
    }
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    try {
        noticeOlderFile(args[0], std::vector<std::string>(args.begin() + 1, args.end()));
        return it->second.run(attri::cli::Args(args.begin() + 1, args.end()), g_cancel);
    } catch (const attri::Cancelled&) {
        std::cerr << "attriscope-cli: cancelled; files written before the cancel are intact\n";
        return 130;
    } catch (const attri::ConfigError& e) {
        std::cerr << "attriscope-cli: " << e.what() << "\n";
        return 2;
    } catch (const attri::DamagedDataError& e) {
        std::cerr << "attriscope-cli: error: " << e.what() << "\n"
                  << "attriscope-cli: `attriscope-cli verify " << e.file()
                  << "` lists what is damaged and what can be recomputed\n";
        return attri::cli::kExitDamagedData;
    } catch (const attri::Error& e) {
        std::cerr << "attriscope-cli: error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "attriscope-cli: unexpected error: " << e.what() << "\n";
        return 1;
    }
}
