#pragma once

#include <string>
#include <vector>

namespace attri {

/// A dataset named by a spec string, as the CLI and the GUI accept it:
/// `demo`, `fashion-mnist`, `mnist:DIR`, `fashion-mnist:DIR`, `cifar10:DIR`, `cifar2:DIR`, `h5:FILE`.
struct DatasetSpec {
    enum class Kind { Demo, FashionMnistSystem, Mnist, FashionMnist, Cifar10, Cifar2, Hdf5 };

    Kind kind = Kind::Demo; ///< which loader
    std::string path;       ///< directory or file; empty for Demo and FashionMnistSystem

    /// Parses a spec string; throws ConfigError naming the spec and the accepted forms.
    static DatasetSpec parse(const std::string& text);
    /// The canonical spec string (round-trips through parse).
    std::string toString() const;
    /// Standard per-channel normalization of this dataset family (empty for HDF5).
    std::vector<float> standardMean() const;
    std::vector<float> standardStd() const;
};

/// Where the Debian package `dataset-fashion-mnist` puts its files.
inline constexpr const char* kSystemFashionMnistDir = "/usr/share/datasets/fashion-mnist";

} // namespace attri
