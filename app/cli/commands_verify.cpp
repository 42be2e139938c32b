// verify: every checksum, schema, shape and stored value of an experiment file; --repair removes
// the damaged parts that the rest of the file recomputes, and says how.
#include "arg_parser.h"
#include "commands.h"

#include "jobs/cancel_token.h"
#include "store/experiment_verify.h"

#include <iostream>

namespace attri::cli {

namespace {

/// The command that recomputes a removed part.
std::string recomputeText(const DamagedPart& part, const std::string& path)
{
    switch (part.remedy) {
    case DamagedPart::Remedy::Source:
        return "cannot be recomputed from the file (the experiment's inputs): train or import again";
    case DamagedPart::Remedy::Features:
        return "attriscope-cli attribute " + path
               + " with the options that made them (they are featurized again)";
    case DamagedPart::Remedy::Attribution:
        return "attriscope-cli attribute " + path + " for method group '" + part.method
               + "' with its options, then recommend again";
    case DamagedPart::Remedy::Recommendation:
        return "attriscope-cli recommend " + path + " for method group '" + part.method + "' --k "
               + std::to_string(part.k);
    case DamagedPart::Remedy::GroundTruth:
        return "attriscope-cli lds " + path + " --force";
    case DamagedPart::Remedy::Check:
        return "attriscope-cli check " + path + " with the options of " + part.unit;
    }
    return "";
}

} // namespace

int runVerify(const Args& args, const CancelToken&)
{
    ArgParser p(
        "attriscope-cli verify",
        "Reads every dataset and record of an experiment file and checks every checksum (HDF5's metadata\n"
        "checksums, Fletcher-32 on datasets, the SHA-256 of each record's attributes), the schema, the\n"
        "shapes against the data's sizes and the finiteness of stored features and results. Prints what is\n"
        "damaged and what recomputes it. Exit code 0: intact; 65: damaged (after --repair: 0 when every\n"
        "damaged part could be removed, 65 when the data record or the model is damaged).");
    p.positional("EXP.h5", "experiment file");
    p.flag("repair",
           "rewrite the file without the damaged parts that the rest recomputes (features, spectra, "
           "sweeps, recommendations, ground truth, checks) and print the commands that recompute them");
    if (!p.parse(args))
        return 0;
    const std::string path = p.positionalValue("EXP.h5");
    const ExperimentVerification v = verifyExperimentFile(path);
    std::cout << path << ": "
              << (!v.opened ? std::string("cannot be opened")
                  : v.checksummed
                      ? std::to_string(v.objectsChecked) + " groups and datasets read, checksums verified"
                      : std::to_string(v.objectsChecked)
                            + " groups and datasets read, no checksums (written by an older AttriScope)")
              << "\n";
    if (v.opened && !v.checksummed)
        std::cout
            << "  damage is found only where it makes the file unreadable; the next write adds checksums\n";
    if (v.intact()) {
        std::cout << "intact\n";
        return 0;
    }
    std::cout << v.damaged.size() << " damaged part(s):\n";
    for (const DamagedPart& d : v.damaged) {
        std::cout << "  " << d.unit << "\n    " << d.problem << "\n    recompute: " << recomputeText(d, path)
                  << "\n";
    }
    if (!p.isSet("repair"))
        return kExitDamagedData;
    const std::vector<DamagedPart> removed = removeDamagedParts(v);
    std::cout << "repaired: removed " << removed.size() << " damaged part(s); recompute them with:\n";
    for (const DamagedPart& d : removed)
        std::cout << "  " << recomputeText(d, path) << "\n";
    return 0;
}

} // namespace attri::cli
