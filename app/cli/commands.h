#pragma once

#include <string>
#include <vector>

namespace attri {
class CancelToken;
}

namespace attri::cli {

/// Each command parses its own arguments (after the command name) and returns the exit code.
/// Errors are thrown as attri::Error and reported by main.
using Args = std::vector<std::string>;

/// Exit code for a damaged file (sysexits' EX_DATAERR): a checksum failed, or verify found damage.
inline constexpr int kExitDamagedData = 65;

int runTrain(const Args& args, const CancelToken& cancel);
int runImport(const Args& args, const CancelToken& cancel);
int runInfo(const Args& args, const CancelToken& cancel);
int runVerify(const Args& args, const CancelToken& cancel);
int runDemo(const Args& args, const CancelToken& cancel);
int runAttribute(const Args& args, const CancelToken& cancel);
int runScores(const Args& args, const CancelToken& cancel);
int runTopk(const Args& args, const CancelToken& cancel);
int runCheck(const Args& args, const CancelToken& cancel);
int runLds(const Args& args, const CancelToken& cancel);
int runRecommend(const Args& args, const CancelToken& cancel);
int runStudyCommand(const Args& args, const CancelToken& cancel);

} // namespace attri::cli
