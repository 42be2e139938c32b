#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace attri {

/// Shape and element kind of an HDF5 dataset.
struct H5DatasetInfo {
    std::vector<int64_t> shape;
    enum class Kind { Integer, Float, String, Other } kind = Kind::Other;
    int elementBytes = 0;
    bool isSigned = true;
};

/// One damaged object found by H5File::checkIntegrity.
struct H5Damage {
    std::string object; ///< absolute path of the dataset or group
    std::string problem;
};

struct H5ChecksumState; // which objects a handle wrote or already verified (h5_file.cpp)

/// RAII handle on an HDF5 file: the only place in AttriScope that calls the HDF5 library.
/// Paths are absolute object paths ("/model/recipe"). Every failure throws IoError or
/// FormatError whose message names the file and the object.
///
/// Files it creates carry checksums on everything stored (docs/hdf5-layout.md): HDF5's own
/// metadata checksums (the 1.10 file format), Fletcher-32 on every chunked dataset, and an
/// attribute `checksum_sha256` on every group and dataset over its attributes (and a string
/// dataset's text), which the global heap holding variable-length strings does not checksum.
/// Reads verify them; a mismatch is a DamagedDataError naming the file and the object. Files
/// without the root marker `checksums` (written before) are read without verification.
class H5File {
public:
    enum class Mode { ReadOnly, ReadWrite, Truncate };
    /// Legacy creates a file (Truncate) the way builds before checksums did: the earliest file
    /// format, contiguous datasets, no checksums. For tests and benchmarks of older files only.
    enum class Storage { Checksummed, Legacy };

    H5File(const std::string& path, Mode mode, Storage storage = Storage::Checksummed);
    ~H5File();
    H5File(const H5File&) = delete;
    H5File& operator=(const H5File&) = delete;
    H5File(H5File&& other) noexcept;
    H5File& operator=(H5File&& other) noexcept;

    const std::string& path() const { return m_path; }
    /// Whether the file carries checksums (created by this build, or upgraded).
    bool checksummed() const;
    /// Flushes and closes; further use throws. Called by the destructor (which never throws).
    void close();

    bool exists(const std::string& objectPath) const;
    /// Creates the group and any missing parents.
    void createGroup(const std::string& groupPath);
    /// Names of the direct children of a group, sorted.
    std::vector<std::string> children(const std::string& groupPath) const;
    /// Removes a dataset or group (space is reclaimed when the file is rewritten).
    void remove(const std::string& objectPath);

    // Whole datasets. Missing parent groups are created; an existing dataset is replaced.
    void writeFloats(const std::string& path, const std::vector<int64_t>& shape, const float* data);
    void writeDoubles(const std::string& path, const std::vector<int64_t>& shape, const double* data);
    void writeInt64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data);
    void writeUInt8(const std::string& path, const std::vector<int64_t>& shape, const uint8_t* data);
    void writeStrings(const std::string& path, const std::vector<std::string>& values);

    H5DatasetInfo info(const std::string& path) const;
    /// Reads any integer or float dataset converted to the requested type; shape is returned
    /// through `shape` when given. Throws FormatError when the dataset is missing or not numeric.
    std::vector<float> readFloats(const std::string& path, std::vector<int64_t>* shape = nullptr) const;
    std::vector<double> readDoubles(const std::string& path, std::vector<int64_t>* shape = nullptr) const;
    std::vector<int64_t> readInt64(const std::string& path, std::vector<int64_t>* shape = nullptr) const;
    std::vector<uint8_t> readUInt8(const std::string& path, std::vector<int64_t>* shape = nullptr) const;
    std::vector<std::string> readStrings(const std::string& path) const;

    // Row-chunked 2-D float datasets, for streaming features without holding them in memory.
    /// Creates a rows×cols float32 dataset chunked by `chunkRows` rows (replaces an existing one).
    void createFloatMatrix(const std::string& path, int64_t rows, int64_t cols, int64_t chunkRows);
    /// Writes `count` full rows starting at `firstRow` (row-major, count·cols values).
    void writeRows(const std::string& path, int64_t firstRow, int64_t count, const float* data);
    /// Reads rows [firstRow, firstRow+count) and columns [0, cols) (cols ≤ dataset columns).
    std::vector<float> readRows(const std::string& path, int64_t firstRow, int64_t count, int64_t cols) const;

    // Attributes on groups or datasets ("/" for the root).
    bool hasAttr(const std::string& objectPath, const std::string& name) const;
    void setAttr(const std::string& objectPath, const std::string& name, const std::string& value);
    void setAttr(const std::string& objectPath, const std::string& name, const char* value);
    void setAttr(const std::string& objectPath, const std::string& name, double value);
    void setAttr(const std::string& objectPath, const std::string& name, int64_t value);
    /// Stored as int64 (saves a cast: a plain int is ambiguous between double and int64_t).
    void setAttr(const std::string& objectPath, const std::string& name, int value);
    void setAttr(const std::string& objectPath, const std::string& name, const std::vector<double>& value);
    void setAttr(const std::string& objectPath, const std::string& name, const std::vector<int64_t>& value);
    /// A 1-D array of variable-length UTF-8 strings.
    void setAttr(const std::string& objectPath, const std::string& name,
                 const std::vector<std::string>& value);
    std::string attrString(const std::string& objectPath, const std::string& name) const;
    double attrDouble(const std::string& objectPath, const std::string& name) const;
    int64_t attrInt(const std::string& objectPath, const std::string& name) const;
    std::vector<double> attrDoubles(const std::string& objectPath, const std::string& name) const;
    std::vector<int64_t> attrInts(const std::string& objectPath, const std::string& name) const;
    /// A string attribute of any shape (fixed or variable length) as a flat list.
    std::vector<std::string> attrStrings(const std::string& objectPath, const std::string& name) const;

    /// Reads every dataset and attribute of the file and checks every checksum; lists what is
    /// damaged (an unreadable group hides its children, which are not listed separately).
    /// `progress` (may be empty) gets each object's path before it is checked.
    std::vector<H5Damage> checkIntegrity(const std::function<void(const std::string&)>& progress = {}) const;

    /// Copies every group, dataset and attribute of `from` into `to` with `to`'s storage (for a
    /// file without checksums: an upgrade). Objects for which `skip` returns true are left out
    /// with everything below them. Checksum attributes are not copied; `to` computes its own.
    static void copyContents(const H5File& from, H5File& to,
                             const std::function<bool(const std::string&)>& skip = {});

private:
    std::string m_path;
    int64_t m_file = -1; // hid_t
    std::unique_ptr<H5ChecksumState> m_checksums;
};

} // namespace attri
