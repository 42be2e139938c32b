// attriscope-mpi: the two costly stages, featurization (`attribute`) and ground-truth retraining
// (`lds`), split across MPI ranks. Every rank runs the CLI command with `--shard RANK/SIZE` (its
// share, into its own side file next to the experiment); after a barrier rank 0 runs the same
// command without a shard, which takes every shard's rows or subsets, computes whatever is still
// missing and finishes (spectra and sweeps, or the stored ground truth and its LDS table).
// The experiment file must be on a filesystem all ranks share.
#include "../cli/commands.h"
#include "common/error.h"
#include "common/runtime.h"
#include "jobs/cancel_token.h"

#include <mpi.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace {

/// Runs a CLI command, turning errors into an exit code and a message naming the rank.
int runCommand(const std::string& command, const attri::cli::Args& args, int rank, const attri::CancelToken& cancel)
{
    try {
        if (command == "attribute")
            return attri::cli::runAttribute(args, cancel);
        return attri::cli::runLds(args, cancel);
    } catch (const attri::ConfigError& e) {
        std::cerr << "attriscope-mpi (rank " << rank << "): " << e.what() << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "attriscope-mpi (rank " << rank << "): error: " << e.what() << "\n";
        return 1;
    }
}

void printHelp()
{
    std::cout << "Usage: mpirun -np N attriscope-mpi [--threads T] [--device D] attribute|lds EXP.h5 [options]\n\n"
                 "Splits featurization (attribute) or ground-truth retraining (lds) across N MPI ranks:\n"
                 "each rank computes its share (row blocks b mod N = rank, or subsets j mod N = rank) into\n"
                 "its own side file next to EXP.h5, then rank 0 merges every share, computes anything still\n"
                 "missing and finishes exactly as `attriscope-cli attribute|lds` would; the result equals a\n"
                 "single-process run. Options are those of attriscope-cli attribute|lds (see their --help).\n"
                 "EXP.h5 must be on a filesystem every rank sees. --threads T: LibTorch threads per rank\n"
                 "(default: the cores divided by the ranks on this machine). --device auto|cpu|cuda: as for\n"
                 "attriscope-cli; with CUDA, the ranks on one machine take its GPUs in turn.\n";
}

} // namespace

int main(int argc, char** argv)
{
    attri::restartWithBetterBlasKernels(argv);
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    std::vector<std::string> args(argv + 1, argv + argc);
    int threads = 0;
    std::string device = "auto";
    while (args.size() >= 2 && (args[0] == "--threads" || args[0] == "--device")) {
        if (args[0] == "--threads")
            threads = std::atoi(args[1].c_str());
        else
            device = args[1];
        args.erase(args.begin(), args.begin() + 2);
    }
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || (args[0] != "attribute" && args[0] != "lds")) {
        if (rank == 0)
            printHelp();
        MPI_Finalize();
        return args.empty() || (args[0] != "--help" && args[0] != "-h") ? 2 : 0;
    }
    const std::string command = args[0];
    const attri::cli::Args commandArgs(args.begin() + 1, args.end());
    for (const auto& a : commandArgs)
        if (a == "--shard" || a.rfind("--shard=", 0) == 0) {
            if (rank == 0)
                std::cerr << "attriscope-mpi: --shard is set by attriscope-mpi itself (rank/size)\n";
            MPI_Finalize();
            return 2;
        }
    // Ranks sharing a machine share its cores and its GPUs.
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local);
    int localRank = 0, localSize = 1;
    MPI_Comm_rank(local, &localRank);
    MPI_Comm_size(local, &localSize);
    MPI_Comm_free(&local);
    if (threads <= 0)
        threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / localSize);
    attri::initRuntime(threads);
    try {
        // On a machine with several GPUs, its ranks take them in turn.
        attri::selectDevice(attri::parseDeviceChoice(device), localRank);
    } catch (const attri::ConfigError& e) {
        if (rank == 0)
            std::cerr << "attriscope-mpi: " << e.what() << "\n";
        MPI_Finalize();
        return 2;
    }
    attri::CancelToken cancel;

    int rc = 0;
    if (size > 1) {
        attri::cli::Args shardArgs = commandArgs;
        shardArgs.push_back("--shard");
        shardArgs.push_back(std::to_string(rank) + "/" + std::to_string(size));
        rc = runCommand(command, shardArgs, rank, cancel);
    }
    // Every rank's share must be on disk before rank 0 merges; one failed rank fails the job.
    int worst = 0;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst == 0 && rank == 0)
        rc = runCommand(command, commandArgs, rank, cancel);
    else if (worst != 0 && rank == 0)
        std::cerr << "attriscope-mpi: a rank failed; the shares finished so far are kept next to the experiment "
                     "file and a rerun continues from them\n";
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return worst != 0 ? worst : rc;
}
