#include "data/dataset_spec.h"

#include "common/error.h"

#include <utility>

namespace attri {

namespace {

const char* const kAcceptedForms =
    "demo, fashion-mnist, mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar2:DIR, h5:FILE";

/// Prefixes of the specs that take a path, with their kinds.
const std::pair<const char*, DatasetSpec::Kind> kPathKinds[] = {
    {"mnist", DatasetSpec::Kind::Mnist},     {"fashion-mnist", DatasetSpec::Kind::FashionMnist},
    {"cifar10", DatasetSpec::Kind::Cifar10}, {"cifar2", DatasetSpec::Kind::Cifar2},
    {"h5", DatasetSpec::Kind::Hdf5},
};

std::string trim(const std::string& text)
{
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return {};
    const auto last = text.find_last_not_of(" \t\r\n");
    return text.substr(first, last - first + 1);
}

} // namespace

DatasetSpec DatasetSpec::parse(const std::string& input)
{
    const std::string text = trim(input);
    DatasetSpec spec;
    if (text == "demo") {
        spec.kind = Kind::Demo;
        return spec;
    }
    if (text == "fashion-mnist") {
        spec.kind = Kind::FashionMnistSystem;
        return spec;
    }
    const auto colon = text.find(':');
    if (colon != std::string::npos) {
        const std::string prefix = text.substr(0, colon);
        const std::string path = text.substr(colon + 1);
        for (const auto& [name, kind] : kPathKinds) {
            if (prefix != name)
                continue;
            if (trim(path).empty())
                throw ConfigError("dataset spec '" + input + "': " + prefix + ": needs a "
                                  + (kind == Kind::Hdf5 ? "file" : "directory") + " after the colon");
            spec.kind = kind;
            spec.path = path;
            return spec;
        }
    } else {
        for (const auto& [name, kind] : kPathKinds) {
            if (text == name)
                throw ConfigError("dataset spec '" + input + "': " + name + " needs a "
                                  + (kind == Kind::Hdf5 ? "file" : "directory") + ", e.g. " + name
                                  + (kind == Kind::Hdf5 ? ":FILE" : ":DIR"));
        }
    }
    throw ConfigError("dataset spec '" + input + "' is not recognised; expected one of: " + kAcceptedForms);
}

std::string DatasetSpec::toString() const
{
    switch (kind) {
    case Kind::Demo:
        return "demo";
    case Kind::FashionMnistSystem:
        return "fashion-mnist";
    case Kind::Mnist:
        return "mnist:" + path;
    case Kind::FashionMnist:
        return "fashion-mnist:" + path;
    case Kind::Cifar10:
        return "cifar10:" + path;
    case Kind::Cifar2:
        return "cifar2:" + path;
    case Kind::Hdf5:
        return "h5:" + path;
    }
    return {};
}

std::vector<float> DatasetSpec::standardMean() const
{
    switch (kind) {
    case Kind::Mnist:
        return {0.1307f};
    case Kind::Demo:
    case Kind::FashionMnistSystem:
    case Kind::FashionMnist:
        return {0.2860f};
    case Kind::Cifar10:
    case Kind::Cifar2:
        return {0.4914f, 0.4822f, 0.4465f};
    case Kind::Hdf5:
        return {};
    }
    return {};
}

std::vector<float> DatasetSpec::standardStd() const
{
    switch (kind) {
    case Kind::Mnist:
        return {0.3081f};
    case Kind::Demo:
    case Kind::FashionMnistSystem:
    case Kind::FashionMnist:
        return {0.3530f};
    case Kind::Cifar10:
    case Kind::Cifar2:
        return {0.2470f, 0.2435f, 0.2616f};
    case Kind::Hdf5:
        return {};
    }
    return {};
}

} // namespace attri
