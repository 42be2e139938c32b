// One class over HDF5's C API, kept in one file on purpose: this is the only place that API
// appears, so every handle's lifetime, every error translation and every typed read and write of
// attributes and datasets can be checked together.
#include "store/h5_file.h"

#include "common/error.h"
#include "common/hash.h"

#include <hdf5.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <type_traits>
#include <utility>

static_assert(std::is_same_v<hid_t, int64_t>, "H5File stores hid_t as int64_t (HDF5 >= 1.10)");

namespace attri {

namespace {

/// HDF5 is not safe to call from several threads at once (the Debian build only serializes its
/// own entry points), so every call into the library goes through
/// this one lock. Recursive because public members call each other.
std::recursive_mutex& h5Mutex()
{
    static std::recursive_mutex mutex;
    return mutex;
}

/// Silences HDF5's own stderr error printing (failures become exceptions instead). Debian's
/// build keeps the error-reporting setting per thread, so every thread that calls into the
/// library does this once.
void initLibrary()
{
    static const bool opened = [] {
        H5open();
        return true;
    }();
    (void)opened;
    thread_local bool silenced = false;
    if (!silenced) {
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        silenced = true;
    }
}

/// The library lock, taken around every call into HDF5, with this thread's printing silenced.
class Lock {
public:
    explicit Lock(std::recursive_mutex& mutex) : m_guard(mutex) { initLibrary(); }

private:
    std::lock_guard<std::recursive_mutex> m_guard;
};

/// Every message on HDF5's error stack, innermost (the most specific) first; clears the stack.
std::vector<std::string> hdf5Messages()
{
    std::vector<std::string> messages;
    H5Ewalk2(
        H5E_DEFAULT, H5E_WALK_UPWARD,
        [](unsigned, const H5E_error2_t* err, void* data) -> herr_t {
            if (err && err->desc)
                static_cast<std::vector<std::string>*>(data)->emplace_back(err->desc);
            return 0;
        },
        &messages);
    H5Eclear2(H5E_DEFAULT);
    return messages;
}

/// The innermost message of HDF5's error stack, then clears the stack.
std::string hdf5Reason()
{
    const std::vector<std::string> messages = hdf5Messages();
    return messages.empty() ? std::string() : " (HDF5: " + messages.front() + ")";
}

/// The innermost message of HDF5's error stack and whether any message reports a failed
/// checksum (metadata or Fletcher-32); clears the stack.
std::pair<std::string, bool> hdf5Damage()
{
    const std::vector<std::string> messages = hdf5Messages();
    bool checksum = false;
    for (const std::string& m : messages)
        checksum =
            checksum || m.find("checksum") != std::string::npos || m.find("Fletcher") != std::string::npos;
    return {messages.empty() ? std::string("HDF5 could not read it") : "HDF5: " + messages.front(), checksum};
}

constexpr const char* kChecksumAttr = "checksum_sha256";
constexpr const char* kMarkerAttr = "checksums";
constexpr int64_t kChecksumVersion = 1;
/// Chunks of whole datasets: rows of about this many bytes (Fletcher-32 is computed per chunk).
constexpr uint64_t kChunkBytes = uint64_t(1) << 20;

/// Closes one HDF5 identifier of any kind when it goes out of scope.
class Handle {
public:
    Handle() = default;
    explicit Handle(hid_t id) : m_id(id) {}
    ~Handle() { reset(); }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    Handle(Handle&& o) noexcept : m_id(std::exchange(o.m_id, -1)) {}
    hid_t get() const { return m_id; }
    bool valid() const { return m_id >= 0; }
    void reset()
    {
        if (m_id >= 0) {
            switch (H5Iget_type(m_id)) {
            case H5I_FILE:
                H5Fclose(m_id);
                break;
            case H5I_GROUP:
                H5Gclose(m_id);
                break;
            case H5I_DATATYPE:
                H5Tclose(m_id);
                break;
            case H5I_DATASPACE:
                H5Sclose(m_id);
                break;
            case H5I_DATASET:
                H5Dclose(m_id);
                break;
            case H5I_ATTR:
                H5Aclose(m_id);
                break;
            case H5I_GENPROP_LST:
                H5Pclose(m_id);
                break;
            default:
                H5Oclose(m_id);
                break;
            }
            m_id = -1;
        }
    }

private:
    hid_t m_id = -1;
};

std::string quote(const std::string& s)
{
    return "'" + s + "'";
}

/// A simple dataspace for `shape`; an empty shape is a scalar.
Handle makeSpace(const std::vector<int64_t>& shape)
{
    if (shape.empty())
        return Handle(H5Screate(H5S_SCALAR));
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    return Handle(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
}

std::vector<int64_t> spaceShape(hid_t space)
{
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank <= 0)
        return {};
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    return std::vector<int64_t>(dims.begin(), dims.end());
}

int64_t elementCount(const std::vector<int64_t>& shape)
{
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

/// The number of values in `dataset` (of `shape`), checked before anything is allocated. A few
/// bytes of a crafted file can declare a chunked dataset of 2^60 elements, for which HDF5 would
/// return fill values: a shape whose product overflows, or whose size exceeds what the file can
/// hold by more than compression explains, is a FormatError naming the file and the dataset
/// rather than bad_alloc, length_error or gigabytes allocated for nothing.
size_t checkedValueCount(const std::string& file, hid_t fileId, hid_t dataset, const std::string& path,
                         const std::vector<int64_t>& shape)
{
    std::string text;
    for (size_t i = 0; i < shape.size(); ++i)
        text += (i ? "×" : "") + std::to_string(static_cast<uint64_t>(shape[i]));
    constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t count = 1;
    for (int64_t d : shape) {
        if (d < 0 || (d > 0 && count > kMax / static_cast<uint64_t>(d)))
            throw FormatError(file + ": " + path + " declares an impossible shape " + text);
        count *= static_cast<uint64_t>(d);
    }
    // Raw data lives in the file (external storage aside), and deflate, the strongest filter
    // Debian's HDF5 has, compresses at most about 1032:1. Small datasets always pass.
    constexpr uint64_t kAlwaysAllowed = uint64_t(64) << 20;
    constexpr uint64_t kMaxCompression = 1100;
    const Handle type(H5Dget_type(dataset));
    const uint64_t valueBytes = std::max<uint64_t>(H5Tget_size(type.get()), 1);
    const uint64_t declared = count > kMax / valueBytes ? kMax : count * valueBytes;
    hsize_t fileSize = 0;
    if (H5Fget_filesize(fileId, &fileSize) < 0)
        fileSize = 0;
    const uint64_t stored = std::min<uint64_t>(H5Dget_storage_size(dataset), fileSize);
    if (declared > kAlwaysAllowed && declared / kMaxCompression > stored)
        throw FormatError(file + ": " + path + " declares " + text + " values (" + std::to_string(declared)
                          + " bytes) but the file stores only " + std::to_string(stored)
                          + " bytes of them (a corrupt or crafted file)");
    return static_cast<size_t>(count);
}

Handle utf8StringType()
{
    Handle t(H5Tcopy(H5T_C_S1));
    H5Tset_size(t.get(), H5T_VARIABLE);
    H5Tset_cset(t.get(), H5T_CSET_UTF8);
    return t;
}

/// Converts a buffer of `count` strings of HDF5 type `fileType` (variable or fixed length) read
/// through `read(memType, buffer)`.
template <typename ReadFn>
std::vector<std::string> readStringValues(hid_t fileType, size_t count, ReadFn read)
{
    std::vector<std::string> out;
    out.reserve(count);
    if (H5Tis_variable_str(fileType) > 0) {
        Handle mem(H5Tcopy(H5T_C_S1));
        H5Tset_size(mem.get(), H5T_VARIABLE);
        H5Tset_cset(mem.get(), H5Tget_cset(fileType));
        std::vector<char*> ptrs(count, nullptr);
        if (count > 0 && !read(mem.get(), ptrs.data()))
            return {};
        for (char* p : ptrs)
            out.emplace_back(p ? p : "");
        if (count > 0) {
            // Variable-length strings are allocated by HDF5 and freed by it.
            hsize_t n = count;
            Handle space(H5Screate_simple(1, &n, nullptr));
            H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
        }
        return out;
    }
    size_t width = H5Tget_size(fileType);
    Handle mem(H5Tcopy(fileType));
    std::vector<char> buf(count * width + 1, '\0');
    if (count > 0 && !read(mem.get(), buf.data()))
        return {};
    H5T_str_t pad = H5Tget_strpad(fileType);
    for (size_t i = 0; i < count; ++i) {
        const char* p = buf.data() + i * width;
        size_t len = strnlen(p, width);
        if (pad == H5T_STR_SPACEPAD)
            while (len > 0 && p[len - 1] == ' ')
                --len;
        out.emplace_back(p, len);
    }
    return out;
}

/// Splits "/a/b/c" into {"/a", "/a/b", "/a/b/c"}.
std::vector<std::string> prefixes(const std::string& path)
{
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos < path.size()) {
        size_t next = path.find('/', pos + 1);
        if (next == std::string::npos)
            next = path.size();
        std::string prefix = path.substr(0, next);
        if (!prefix.empty() && prefix != "/" && prefix.back() != '/')
            out.push_back(prefix);
        pos = next;
    }
    return out;
}

} // namespace

/// Checksum bookkeeping of one handle: objects it wrote (their checksums are computed when the
/// file is closed) and objects already verified (each is checked once per handle).
struct H5ChecksumState {
    bool enabled = false; ///< the file carries checksums
    bool legacy = false;  ///< Storage::Legacy: write the way files were before checksums
    bool writable = false;
    std::set<std::string> written;
    std::set<std::string> verified;
};

// ---------------------------------------------------------------------------------------------
// Opening and closing

H5File::H5File(const std::string& path, Mode mode, Storage storage)
    : m_path(path), m_checksums(std::make_unique<H5ChecksumState>())
{
    Lock lock(h5Mutex());
    initLibrary();

    std::error_code ec;
    if (mode != Mode::Truncate) {
        if (!std::filesystem::exists(path, ec))
            throw IoError("cannot open " + path + ": No such file or directory");
        if (std::filesystem::is_directory(path, ec))
            throw IoError("cannot open " + path + ": it is a folder, not an HDF5 file");
        htri_t isHdf5 = H5Fis_hdf5(path.c_str());
        if (isHdf5 == 0) {
            H5Eclear2(H5E_DEFAULT);
            throw FormatError(path + " is not an HDF5 file");
        }
        if (isHdf5 < 0) {
            // H5Fis_hdf5 fails when the file cannot be read at all.
            int err = errno;
            std::string reason = hdf5Reason();
            throw IoError("cannot open " + path + ": " + (err ? std::strerror(err) : "unreadable") + reason);
        }
    }

    Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
    // Close everything still open when the file is closed: no handle can keep it alive.
    H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
#if H5_VERSION_GE(1, 10, 7)
    // File locking fails on some network filesystems; use it where it works, ignore it elsewhere.
    H5Pset_file_locking(fapl.get(), true, true);
#endif

    // The 1.10 file format checksums all metadata (superblock, object headers with their
    // attributes and links, chunk indexes); the earliest format, HDF5's default, checksums none.
    const bool legacy = mode == Mode::Truncate && storage == Storage::Legacy;
    if (mode != Mode::ReadOnly && !legacy)
        H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110);

    errno = 0;
    if (mode == Mode::Truncate)
        m_file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
    else
        m_file = H5Fopen(path.c_str(), mode == Mode::ReadOnly ? H5F_ACC_RDONLY : H5F_ACC_RDWR, fapl.get());
    if (m_file < 0) {
        int err = errno;
        std::string reason = hdf5Reason();
        std::string what = mode == Mode::Truncate    ? "cannot create "
                           : mode == Mode::ReadWrite ? "cannot open for writing "
                                                     : "cannot open ";
        if (mode != Mode::Truncate && !err && reason.find("checksum") != std::string::npos)
            throw DamagedDataError(path, "the file header", "HDF5: " + reason.substr(8, reason.size() - 9));
        throw IoError(what + path + ": " + (err ? std::strerror(err) : "HDF5 refused it") + reason);
    }
    m_checksums->writable = mode != Mode::ReadOnly;
    m_checksums->legacy = legacy;
    if (mode == Mode::Truncate) {
        if (!legacy) {
            setAttr("/", kMarkerAttr, kChecksumVersion);
            m_checksums->enabled = true;
        }
    } else {
        // A root that cannot be read is damage, not a file without checksums.
        const htri_t marked = H5Aexists_by_name(m_file, "/", kMarkerAttr, H5P_DEFAULT);
        if (marked < 0) {
            const std::string reason = hdf5Damage().first;
            H5Fclose(std::exchange(m_file, -1));
            throw DamagedDataError(path, "/", reason);
        }
        m_checksums->enabled = marked > 0;
    }
}

bool H5File::checksummed() const
{
    return m_checksums && m_checksums->enabled;
}

H5File::~H5File()
{
    try {
        close();
    } catch (...) {
        // A destructor never throws; call close() explicitly to see flush errors.
    }
}

H5File::H5File(H5File&& other) noexcept
    : m_path(std::move(other.m_path)), m_file(std::exchange(other.m_file, -1)),
      m_checksums(std::move(other.m_checksums))
{
}

H5File& H5File::operator=(H5File&& other) noexcept
{
    if (this != &other) {
        try {
            close();
        } catch (...) {
        }
        m_path = std::move(other.m_path);
        m_file = std::exchange(other.m_file, -1);
        m_checksums = std::move(other.m_checksums);
    }
    return *this;
}

// ---------------------------------------------------------------------------------------------
// Internal helpers that need the file handle. Kept as free functions over (file, path) so the
// header stays free of HDF5 types.

namespace {

struct Ctx {
    const std::string& file;
    hid_t id;
    H5ChecksumState* sums;

    [[noreturn]] void ioFail(const std::string& what, const std::string& object) const
    {
        throw IoError(file + ": cannot " + what + " " + object + hdf5Reason());
    }
    [[noreturn]] void formatFail(const std::string& message) const
    {
        H5Eclear2(H5E_DEFAULT);
        throw FormatError(file + ": " + message);
    }
    /// A read of `object` failed inside HDF5: the bytes are not what was written (a failed
    /// checksum, or structures that no longer parse).
    [[noreturn]] void readFail(const std::string& object) const
    {
        throw DamagedDataError(file, object, hdf5Damage().first);
    }
    [[noreturn]] void damaged(const std::string& object, const std::string& detail) const
    {
        H5Eclear2(H5E_DEFAULT);
        throw DamagedDataError(file, object, detail);
    }

    void requireOpen() const
    {
        if (id < 0)
            throw IoError(file + ": the file is closed");
    }

    void checkPath(const std::string& path) const
    {
        if (path.empty() || path[0] != '/')
            throw ConfigError(file + ": object path " + quote(path) + " must be absolute (start with '/')");
    }

    bool exists(const std::string& path) const
    {
        requireOpen();
        checkPath(path);
        if (path == "/")
            return true;
        for (const std::string& p : prefixes(path)) {
            htri_t r = H5Lexists(id, p.c_str(), H5P_DEFAULT);
            if (r < 0)
                damagedIfChecksum(p);
            if (r <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return false;
            }
        }
        htri_t r = H5Oexists_by_name(id, path.c_str(), H5P_DEFAULT);
        if (r < 0)
            damagedIfChecksum(path);
        H5Eclear2(H5E_DEFAULT);
        return r > 0;
    }

    /// After a failed query that may stem from damage: throws DamagedDataError when HDF5
    /// reports a failed checksum (else clears the stack and returns).
    void damagedIfChecksum(const std::string& object) const
    {
        auto [reason, checksum] = hdf5Damage();
        if (checksum || (sums && sums->enabled))
            throw DamagedDataError(file, object, reason);
    }

    Handle openDataset(const std::string& path) const
    {
        if (!exists(path))
            formatFail("no dataset " + path + " (expected one)");
        {
            Handle o(H5Oopen(id, path.c_str(), H5P_DEFAULT));
            if (!o.valid())
                readFail(path);
            if (H5Iget_type(o.get()) != H5I_DATASET)
                formatFail(path + " is a group, expected a dataset");
        }
        Handle d(H5Dopen2(id, path.c_str(), H5P_DEFAULT));
        if (!d.valid())
            readFail(path);
        return d;
    }

    /// Opens an object (group or dataset) for attribute access.
    Handle openObject(const std::string& path) const
    {
        if (!exists(path))
            formatFail("no object " + path + " (expected a group or dataset)");
        Handle o(H5Oopen(id, path.c_str(), H5P_DEFAULT));
        if (!o.valid())
            readFail(path);
        return o;
    }

    /// Checks the object's record checksum once per handle (files with checksums; objects this
    /// handle wrote are checked when they are sealed at close).
    void verify(const std::string& path) const
    {
        if (!sums || !sums->enabled || sums->written.count(path) || sums->verified.count(path))
            return;
        Handle o = openObject(path);
        if (H5Aexists(o.get(), kChecksumAttr) <= 0)
            damaged(path, "its checksum_sha256 attribute is missing");
        const std::string stored = readAttrStringsOf(o.get(), path, kChecksumAttr).at(0);
        if (stored != recordDigest(o.get(), path))
            damaged(path, H5Iget_type(o.get()) == H5I_DATASET && isStringDataset(o.get())
                              ? "its text or attributes do not match their checksum"
                              : "its attributes do not match their checksum");
        sums->verified.insert(path);
    }

    /// Before this handle changes an existing object: verify it, so that sealing at close never
    /// gives damaged bytes a fresh checksum; then remember it for sealing.
    void markWritten(const std::string& path) const
    {
        if (!sums || sums->legacy || sums->written.count(path))
            return;
        if (sums->enabled && exists(path))
            verify(path);
        sums->written.insert(path);
    }

    /// Before creating `path`: it and the parent groups HDF5 will create with it are new, so
    /// they are sealed at close without a check.
    void markCreated(const std::string& path) const
    {
        if (!sums || sums->legacy)
            return;
        for (const std::string& p : prefixes(path))
            if (p == path || !exists(p))
                sums->written.insert(p);
    }

    static bool isStringDataset(hid_t dataset)
    {
        Handle type(H5Dget_type(dataset));
        return H5Tget_class(type.get()) == H5T_STRING;
    }

    /// SHA-256 over the object's attributes sorted by name (name, type class, shape, then the
    /// stored bytes, text as its characters) without the checksum itself, then a string
    /// dataset's text. Numeric dataset values are Fletcher-32's (or the object header's) to check.
    /// The names of the object's attributes, sorted.
    std::vector<std::string> attributeNames(hid_t obj, const std::string& path) const
    {
        std::vector<std::string> names;
        hsize_t idx = 0;
        if (H5Aiterate2(
                obj, H5_INDEX_NAME, H5_ITER_INC, &idx,
                [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
                    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
                    return 0;
                },
                &names)
            < 0)
            readFail(path);
        std::sort(names.begin(), names.end());
        return names;
    }

    std::string recordDigest(hid_t obj, const std::string& path) const
    {
        const std::vector<std::string> names = attributeNames(obj, path);
        Sha256 h;
        for (const std::string& name : names) {
            if (name == kChecksumAttr)
                continue;
            h.updateString(name);
            Handle a(H5Aopen(obj, name.c_str(), H5P_DEFAULT));
            if (!a.valid())
                readFail(path);
            Handle type(H5Aget_type(a.get()));
            Handle space(H5Aget_space(a.get()));
            h.updateInt(H5Tget_class(type.get()));
            const std::vector<int64_t> shape = spaceShape(space.get());
            h.updateInt(static_cast<int64_t>(shape.size()));
            for (int64_t d : shape)
                h.updateInt(d);
            const hssize_t n = H5Sget_simple_extent_npoints(space.get());
            const size_t width = H5Tget_size(type.get());
            if (n < 0 || width == 0 || static_cast<uint64_t>(n) > (uint64_t(64) << 20) / width)
                damaged(path, "attribute " + quote(name) + " has an impossible size");
            if (H5Tget_class(type.get()) == H5T_STRING) {
                bool ok = true;
                for (const std::string& v :
                     readStringValues(type.get(), static_cast<size_t>(n), [&](hid_t mem, void*buf) {
                         return ok = H5Aread(a.get(), mem, buf) >= 0;
                     }))
                    h.updateString(v);
                if (!ok)
                    readFail(path);
            } else {
                std::vector<unsigned char> raw(static_cast<size_t>(n) * width);
                if (!raw.empty() && H5Aread(a.get(), type.get(), raw.data()) < 0)
                    readFail(path);
                h.update(raw.data(), raw.size());
            }
        }
        if (H5Iget_type(obj) == H5I_DATASET && isStringDataset(obj)) {
            Handle type(H5Dget_type(obj));
            Handle space(H5Dget_space(obj));
            const size_t n = checkedValueCount(
                file, id, obj, path, {std::max<int64_t>(H5Sget_simple_extent_npoints(space.get()), 0)});
            bool ok = true;
            const auto values = readStringValues(type.get(), n, [&](hid_t mem, void* buf) {
                return ok = H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
            });
            if (!ok)
                readFail(path);
            h.updateInt(static_cast<int64_t>(values.size()));
            for (const std::string& v : values)
                h.updateString(v);
        }
        return h.hexDigest();
    }

    std::vector<std::string> readAttrStringsOf(hid_t obj, const std::string& path, const char* name) const
    {
        Handle a(H5Aopen(obj, name, H5P_DEFAULT));
        if (!a.valid())
            readFail(path);
        Handle type(H5Aget_type(a.get()));
        Handle space(H5Aget_space(a.get()));
        const hssize_t n = H5Sget_simple_extent_npoints(space.get());
        if (H5Tget_class(type.get()) != H5T_STRING || n != 1)
            damaged(path, std::string("its ") + name + " attribute is not one string");
        bool ok = true;
        auto values = readStringValues(
            type.get(), 1, [&](hid_t mem, void* buf) { return ok = H5Aread(a.get(), mem, buf) >= 0; });
        if (!ok || values.empty())
            readFail(path);
        return values;
    }

    /// Computes and stores the checksum of `path` (fixed-length text, so it lives in the
    /// checksummed object header rather than the global heap).
    void seal(const std::string& path) const
    {
        Handle o = openObject(path);
        const std::string digest = recordDigest(o.get(), path);
        if (H5Aexists(o.get(), kChecksumAttr) > 0 && H5Adelete(o.get(), kChecksumAttr) < 0)
            ioFail("replace the checksum of", path);
        Handle type(H5Tcopy(H5T_C_S1));
        H5Tset_size(type.get(), digest.size());
        H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
        Handle space(H5Screate(H5S_SCALAR));
        Handle a(H5Acreate2(o.get(), kChecksumAttr, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT));
        if (!a.valid() || H5Awrite(a.get(), type.get(), digest.data()) < 0)
            ioFail("write the checksum of", path);
    }

    /// Every group and dataset below `group` (depth first, children sorted), with whether it is
    /// a dataset. A group that cannot be listed is reported through `onError` and not entered.
    void walk(const std::string& group, const std::function<void(const std::string&, bool)>& visit,
              const std::function<void(const std::string&, const DamagedDataError&)>& onError) const
    {
        std::vector<std::string> names;
        try {
            names = childNames(group);
        } catch (const DamagedDataError& e) {
            onError(group, e);
            return;
        }
        for (const std::string& n : names) {
            const std::string p = (group == "/" ? "" : group) + "/" + n;
            bool dataset = false;
            try {
                Handle o(H5Oopen(id, p.c_str(), H5P_DEFAULT));
                if (!o.valid())
                    readFail(p);
                dataset = H5Iget_type(o.get()) == H5I_DATASET;
            } catch (const DamagedDataError& e) {
                onError(p, e);
                continue;
            }
            visit(p, dataset);
            if (!dataset)
                walk(p, visit, onError);
        }
    }

    std::vector<std::string> childNames(const std::string& groupPath) const
    {
        Handle g(H5Gopen2(id, groupPath.c_str(), H5P_DEFAULT));
        if (!g.valid())
            readFail(groupPath);
        std::vector<std::string> names;
        hsize_t idx = 0;
        herr_t r = H5Literate(
            g.get(), H5_INDEX_NAME, H5_ITER_INC, &idx,
            [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
                static_cast<std::vector<std::string>*>(data)->emplace_back(name);
                return 0;
            },
            &names);
        if (r < 0)
            readFail(groupPath);
        std::sort(names.begin(), names.end());
        return names;
    }

    /// Dataset creation properties: chunked by rows with Fletcher-32 (scalars compact, inside
    /// the checksummed object header; empty datasets hold no data). Legacy: contiguous.
    Handle datasetCreation(const std::vector<int64_t>& shape, size_t elementBytes,
                           int64_t chunkRows = 0) const
    {
        Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
        if (sums && sums->legacy) {
            if (chunkRows > 0 && elementCount(shape) > 0) {
                std::vector<hsize_t> chunk(shape.begin(), shape.end());
                chunk[0] = static_cast<hsize_t>(std::clamp<int64_t>(chunkRows, 1, shape[0]));
                H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
            }
            return dcpl;
        }
        if (shape.empty()) {
            H5Pset_layout(dcpl.get(), H5D_COMPACT);
            return dcpl;
        }
        if (elementCount(shape) == 0)
            return dcpl;
        std::vector<hsize_t> chunk(shape.begin(), shape.end());
        uint64_t rowValues = 1;
        for (size_t i = 1; i < chunk.size(); ++i) {
            // A chunk must stay under HDF5's 4 GiB limit: inner dimensions shrink when a row is huge.
            chunk[i] = std::min<hsize_t>(chunk[i], std::max<uint64_t>(1, (uint64_t(1) << 28) / rowValues));
            rowValues *= chunk[i];
        }
        const uint64_t rowBytes = std::max<uint64_t>(1, rowValues * std::max<size_t>(elementBytes, 1));
        const int64_t rows =
            chunkRows > 0 ? chunkRows : static_cast<int64_t>(std::max<uint64_t>(1, kChunkBytes / rowBytes));
        chunk[0] = static_cast<hsize_t>(std::clamp<int64_t>(rows, 1, shape[0]));
        H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
        H5Pset_fletcher32(dcpl.get());
        return dcpl;
    }

    /// Link creation properties that create missing parent groups.
    Handle lcpl() const
    {
        Handle p(H5Pcreate(H5P_LINK_CREATE));
        H5Pset_create_intermediate_group(p.get(), 1);
        H5Pset_char_encoding(p.get(), H5T_CSET_UTF8);
        return p;
    }

    void removeIfExists(const std::string& path) const
    {
        if (exists(path) && H5Ldelete(id, path.c_str(), H5P_DEFAULT) < 0)
            ioFail("replace", path);
    }

    /// Writes a whole dataset of `memType` values stored as `fileType`.
    void writeDataset(const std::string& path, const std::vector<int64_t>& shape, hid_t fileType,
                      hid_t memType, const void* data, int64_t chunkRows = 0) const
    {
        requireOpen();
        checkPath(path);
        if (path == "/")
            formatFail("cannot write a dataset at the root group");
        for (int64_t d : shape)
            if (d < 0)
                throw ConfigError(file + ": negative dimension in the shape of " + path);
        removeIfExists(path);
        markCreated(path);
        Handle space = makeSpace(shape);
        Handle props = lcpl();
        // HDF5 filters no variable-length data: a string dataset's text is in its record checksum.
        Handle dcpl = H5Tis_variable_str(fileType) > 0
                          ? Handle(H5Pcreate(H5P_DATASET_CREATE))
                          : datasetCreation(shape, H5Tget_size(fileType), chunkRows);
        Handle d(H5Dcreate2(id, path.c_str(), fileType, space.get(), props.get(), dcpl.get(), H5P_DEFAULT));
        if (!d.valid())
            ioFail("create dataset", path);
        if (elementCount(shape) > 0 && H5Dwrite(d.get(), memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
            ioFail("write dataset", path);
    }

    /// A 1-D text dataset, stored as fixed-length UTF-8 (legacy: variable-length) so that it is
    /// chunked with Fletcher-32 like every other dataset: variable-length text would live in
    /// HDF5's global heap, which carries no checksum and which HDF5 1.10 reads unsafely when damaged.
    void writeStringDataset(const std::string& path, const std::vector<std::string>& values) const
    {
        if (sums && sums->legacy) {
            std::vector<const char*> ptrs;
            for (const std::string& v : values)
                ptrs.push_back(v.c_str());
            Handle type = utf8StringType();
            writeDataset(path, {static_cast<int64_t>(values.size())}, type.get(), type.get(), ptrs.data());
            return;
        }
        size_t width = 1;
        for (const std::string& v : values)
            width = std::max(width, v.size());
        Handle type(H5Tcopy(H5T_C_S1));
        H5Tset_size(type.get(), width);
        H5Tset_cset(type.get(), H5T_CSET_UTF8);
        H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
        std::vector<char> buf(values.size() * width + 1, '\0');
        for (size_t i = 0; i < values.size(); ++i)
            std::memcpy(buf.data() + i * width, values[i].data(), values[i].size());
        writeDataset(path, {static_cast<int64_t>(values.size())}, type.get(), type.get(), buf.data());
    }

    template <typename T>
    std::vector<T> readNumeric(const std::string& path, hid_t memType, std::vector<int64_t>* shapeOut) const
    {
        requireOpen();
        checkPath(path);
        Handle d = openDataset(path);
        Handle type(H5Dget_type(d.get()));
        H5T_class_t cls = H5Tget_class(type.get());
        if (cls != H5T_INTEGER && cls != H5T_FLOAT)
            formatFail("dataset " + path + " is not numeric (expected integers or floats)");
        Handle space(H5Dget_space(d.get()));
        std::vector<int64_t> shape = spaceShape(space.get());
        std::vector<T> out(checkedValueCount(file, id, d.get(), path, shape));
        if (!out.empty() && H5Dread(d.get(), memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
            readFail(path);
        if (shapeOut)
            *shapeOut = shape;
        return out;
    }

    void writeAttr(const std::string& objectPath, const std::string& name, hid_t fileType, hid_t memType,
                   const std::vector<int64_t>& shape, const void* data) const
    {
        requireOpen();
        checkPath(objectPath);
        Handle obj = openObject(objectPath);
        markWritten(objectPath);
        htri_t has = H5Aexists(obj.get(), name.c_str());
        if (has > 0 && H5Adelete(obj.get(), name.c_str()) < 0)
            ioFail("replace attribute " + quote(name) + " of", objectPath);
        Handle space = makeSpace(shape);
        Handle acpl(H5Pcreate(H5P_ATTRIBUTE_CREATE));
        H5Pset_char_encoding(acpl.get(), H5T_CSET_UTF8);
        Handle a(H5Acreate2(obj.get(), name.c_str(), fileType, space.get(), acpl.get(), H5P_DEFAULT));
        if (!a.valid())
            ioFail("create attribute " + quote(name) + " of", objectPath);
        if (elementCount(shape) > 0 && H5Awrite(a.get(), memType, data) < 0)
            ioFail("write attribute " + quote(name) + " of", objectPath);
    }

    Handle openAttr(const std::string& objectPath, const std::string& name) const
    {
        requireOpen();
        checkPath(objectPath);
        Handle obj = openObject(objectPath);
        verify(objectPath);
        const htri_t has = H5Aexists(obj.get(), name.c_str());
        if (has < 0)
            readFail(objectPath);
        if (has == 0)
            formatFail(objectPath + " has no attribute " + quote(name) + " (expected one)");
        Handle a(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT));
        if (!a.valid())
            readFail(objectPath);
        return a;
    }

    template <typename T>
    std::vector<T> readAttrNumeric(const std::string& objectPath, const std::string& name,
                                   hid_t memType) const
    {
        Handle a = openAttr(objectPath, name);
        Handle type(H5Aget_type(a.get()));
        H5T_class_t cls = H5Tget_class(type.get());
        if (cls != H5T_INTEGER && cls != H5T_FLOAT)
            formatFail("attribute " + quote(name) + " of " + objectPath
                       + " is not numeric (expected a number)");
        Handle space(H5Aget_space(a.get()));
        hssize_t n = H5Sget_simple_extent_npoints(space.get());
        std::vector<T> out(static_cast<size_t>(std::max<hssize_t>(n, 0)));
        if (!out.empty() && H5Aread(a.get(), memType, out.data()) < 0)
            readFail(objectPath);
        return out;
    }

    template <typename T>
    T readAttrScalar(const std::string& objectPath, const std::string& name, hid_t memType) const
    {
        std::vector<T> v = readAttrNumeric<T>(objectPath, name, memType);
        if (v.size() != 1)
            formatFail("attribute " + quote(name) + " of " + objectPath + " has " + std::to_string(v.size())
                       + " values, expected one");
        return v[0];
    }

    std::vector<std::string> readAttrStrings(const std::string& objectPath, const std::string& name) const
    {
        Handle a = openAttr(objectPath, name);
        Handle type(H5Aget_type(a.get()));
        if (H5Tget_class(type.get()) != H5T_STRING)
            formatFail("attribute " + quote(name) + " of " + objectPath + " is not a string (expected text)");
        Handle space(H5Aget_space(a.get()));
        hssize_t n = H5Sget_simple_extent_npoints(space.get());
        bool ok = true;
        auto values =
            readStringValues(type.get(), static_cast<size_t>(std::max<hssize_t>(n, 0)),
                             [&](hid_t mem, void* buf) { return ok = H5Aread(a.get(), mem, buf) >= 0; });
        if (!ok)
            readFail(objectPath);
        return values;
    }
};

} // namespace

#define ATTRI_CTX                                                                                            \
    Ctx ctx                                                                                                  \
    {                                                                                                        \
        m_path, m_file, m_checksums.get()                                                                    \
    }

void H5File::close()
{
    Lock lock(h5Mutex());
    if (m_file < 0)
        return;
    if (m_checksums && m_checksums->enabled && m_checksums->writable) {
        // Seal what this handle wrote, and any object still without a checksum (groups made
        // as parents of a path). The file is closed even when this fails.
        try {
            ATTRI_CTX;
            std::vector<std::string> toSeal;
            auto consider = [&](const std::string& p) {
                if (m_checksums->written.count(p)
                    || H5Aexists_by_name(m_file, p.c_str(), kChecksumAttr, H5P_DEFAULT) <= 0)
                    toSeal.push_back(p);
                H5Eclear2(H5E_DEFAULT);
            };
            consider("/");
            ctx.walk(
                "/", [&](const std::string& p, bool) { consider(p); },
                [](const std::string&, const DamagedDataError& e) { throw e; });
            for (const std::string& p : toSeal)
                ctx.seal(p);
            m_checksums->written.clear();
        } catch (...) {
            m_checksums->written.clear();
            H5Fclose(std::exchange(m_file, -1));
            throw;
        }
    }
    hid_t id = std::exchange(m_file, -1);
    unsigned intent = 0;
    H5Fget_intent(id, &intent);
    bool flushed = !(intent & H5F_ACC_RDWR) || H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0;
    herr_t closed = H5Fclose(id);
    if (!flushed || closed < 0)
        throw IoError("cannot close " + m_path + ": writing the file failed" + hdf5Reason());
}

// ---------------------------------------------------------------------------------------------
// Groups

bool H5File::exists(const std::string& objectPath) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.exists(objectPath);
}

void H5File::createGroup(const std::string& groupPath)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    if (ctx.exists(groupPath)) {
        if (H5Oexists_by_name(m_file, groupPath.c_str(), H5P_DEFAULT) > 0) {
            Handle g(H5Gopen2(m_file, groupPath.c_str(), H5P_DEFAULT));
            H5Eclear2(H5E_DEFAULT);
            if (!g.valid())
                ctx.formatFail(groupPath + " exists and is not a group");
        }
        return;
    }
    ctx.markCreated(groupPath);
    Handle props = ctx.lcpl();
    Handle g(H5Gcreate2(m_file, groupPath.c_str(), props.get(), H5P_DEFAULT, H5P_DEFAULT));
    if (!g.valid())
        ctx.ioFail("create group", groupPath);
}

std::vector<std::string> H5File::children(const std::string& groupPath) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    if (!ctx.exists(groupPath))
        ctx.formatFail("no group " + groupPath + " (expected one)");
    {
        Handle o(H5Oopen(m_file, groupPath.c_str(), H5P_DEFAULT));
        if (!o.valid())
            ctx.readFail(groupPath);
        if (H5Iget_type(o.get()) != H5I_GROUP)
            ctx.formatFail(groupPath + " is not a group");
    }
    return ctx.childNames(groupPath);
}

void H5File::remove(const std::string& objectPath)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    if (objectPath == "/")
        throw ConfigError(m_path + ": cannot remove the root group");
    if (!ctx.exists(objectPath))
        ctx.formatFail("no object " + objectPath + " to remove");
    if (H5Ldelete(m_file, objectPath.c_str(), H5P_DEFAULT) < 0)
        ctx.ioFail("remove", objectPath);
}

// ---------------------------------------------------------------------------------------------
// Whole datasets

void H5File::writeFloats(const std::string& path, const std::vector<int64_t>& shape, const float* data)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeDataset(path, shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data);
}

void H5File::writeDoubles(const std::string& path, const std::vector<int64_t>& shape, const double* data)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeDataset(path, shape, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data);
}

void H5File::writeInt64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeDataset(path, shape, H5T_STD_I64LE, H5T_NATIVE_INT64, data);
}

void H5File::writeUInt8(const std::string& path, const std::vector<int64_t>& shape, const uint8_t* data)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeDataset(path, shape, H5T_STD_U8LE, H5T_NATIVE_UINT8, data);
}

void H5File::writeStrings(const std::string& path, const std::vector<std::string>& values)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeStringDataset(path, values);
}

H5DatasetInfo H5File::info(const std::string& path) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.requireOpen();
    ctx.checkPath(path);
    Handle d = ctx.openDataset(path);
    Handle type(H5Dget_type(d.get()));
    Handle space(H5Dget_space(d.get()));
    H5DatasetInfo out;
    out.shape = spaceShape(space.get());
    out.elementBytes = static_cast<int>(H5Tget_size(type.get()));
    switch (H5Tget_class(type.get())) {
    case H5T_INTEGER:
        out.kind = H5DatasetInfo::Kind::Integer;
        out.isSigned = H5Tget_sign(type.get()) == H5T_SGN_2;
        break;
    case H5T_FLOAT:
        out.kind = H5DatasetInfo::Kind::Float;
        break;
    case H5T_STRING:
        out.kind = H5DatasetInfo::Kind::String;
        break;
    default:
        out.kind = H5DatasetInfo::Kind::Other;
        break;
    }
    return out;
}

std::vector<float> H5File::readFloats(const std::string& path, std::vector<int64_t>* shape) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readNumeric<float>(path, H5T_NATIVE_FLOAT, shape);
}

std::vector<double> H5File::readDoubles(const std::string& path, std::vector<int64_t>* shape) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readNumeric<double>(path, H5T_NATIVE_DOUBLE, shape);
}

std::vector<int64_t> H5File::readInt64(const std::string& path, std::vector<int64_t>* shape) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readNumeric<int64_t>(path, H5T_NATIVE_INT64, shape);
}

std::vector<uint8_t> H5File::readUInt8(const std::string& path, std::vector<int64_t>* shape) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readNumeric<uint8_t>(path, H5T_NATIVE_UINT8, shape);
}

std::vector<std::string> H5File::readStrings(const std::string& path) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.requireOpen();
    ctx.checkPath(path);
    Handle d = ctx.openDataset(path);
    Handle type(H5Dget_type(d.get()));
    if (H5Tget_class(type.get()) != H5T_STRING)
        ctx.formatFail("dataset " + path + " is not a string dataset (expected text)");
    ctx.verify(path);
    Handle space(H5Dget_space(d.get()));
    const size_t n = checkedValueCount(m_path, m_file, d.get(), path,
                                       {std::max<int64_t>(H5Sget_simple_extent_npoints(space.get()), 0)});
    bool ok = true;
    auto values = readStringValues(type.get(), n, [&](hid_t mem, void* buf) {
        return ok = H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    });
    if (!ok)
        ctx.readFail(path);
    return values;
}

// ---------------------------------------------------------------------------------------------
// Row-chunked matrices

void H5File::createFloatMatrix(const std::string& path, int64_t rows, int64_t cols, int64_t chunkRows)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.requireOpen();
    ctx.checkPath(path);
    if (rows < 0 || cols < 0)
        throw ConfigError(m_path + ": matrix " + path + " needs non-negative rows and columns");
    ctx.removeIfExists(path);
    ctx.markCreated(path);
    Handle space = makeSpace({rows, cols});
    // Chunks must fit in the (fixed) extent and under HDF5's 4 GiB chunk limit.
    const int64_t maxChunkRows = std::max<int64_t>(1, (int64_t(1) << 28) / std::max<int64_t>(cols, 1));
    Handle dcpl =
        ctx.datasetCreation({rows, cols}, sizeof(float), std::clamp<int64_t>(chunkRows, 1, maxChunkRows));
    Handle props = ctx.lcpl();
    Handle d(
        H5Dcreate2(m_file, path.c_str(), H5T_IEEE_F32LE, space.get(), props.get(), dcpl.get(), H5P_DEFAULT));
    if (!d.valid())
        ctx.ioFail("create dataset", path);
}

namespace {

/// Selects rows [first, first+count) and columns [0, cols) of a 2-D dataset; checks bounds.
Handle selectRows(const Ctx& ctx, hid_t dataset, const std::string& path, int64_t first, int64_t count,
                  int64_t* cols /* in: wanted (-1 = all), out: selected */)
{
    Handle space(H5Dget_space(dataset));
    std::vector<int64_t> shape = spaceShape(space.get());
    if (shape.size() != 2)
        ctx.formatFail("dataset " + path + " has " + std::to_string(shape.size())
                       + " dimensions, expected a matrix");
    if (*cols < 0)
        *cols = shape[1];
    if (first < 0 || count < 0 || first + count > shape[0])
        throw ConfigError(ctx.file + ": rows [" + std::to_string(first) + ", " + std::to_string(first + count)
                          + ") are outside " + path + " (" + std::to_string(shape[0]) + " rows)");
    if (*cols > shape[1])
        throw ConfigError(ctx.file + ": " + std::to_string(*cols) + " columns requested from " + path
                          + ", which has " + std::to_string(shape[1]));
    hsize_t start[2] = {static_cast<hsize_t>(first), 0};
    hsize_t extent[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(*cols)};
    if (count > 0 && *cols > 0
        && H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, extent, nullptr) < 0)
        ctx.ioFail("select rows of", path);
    return space;
}

} // namespace

void H5File::writeRows(const std::string& path, int64_t firstRow, int64_t count, const float* data)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.requireOpen();
    ctx.checkPath(path);
    Handle d = ctx.openDataset(path);
    int64_t cols = -1;
    Handle fileSpace = selectRows(ctx, d.get(), path, firstRow, count, &cols);
    if (count == 0 || cols == 0)
        return;
    hsize_t memDims[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(cols)};
    Handle memSpace(H5Screate_simple(2, memDims, nullptr));
    if (H5Dwrite(d.get(), H5T_NATIVE_FLOAT, memSpace.get(), fileSpace.get(), H5P_DEFAULT, data) < 0)
        ctx.ioFail("write rows of", path);
}

std::vector<float> H5File::readRows(const std::string& path, int64_t firstRow, int64_t count,
                                    int64_t cols) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.requireOpen();
    ctx.checkPath(path);
    if (cols < 0)
        throw ConfigError(m_path + ": negative column count requested from " + path);
    Handle d = ctx.openDataset(path);
    Handle type(H5Dget_type(d.get()));
    H5T_class_t cls = H5Tget_class(type.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        ctx.formatFail("dataset " + path + " is not numeric (expected floats)");
    Handle fileSpace = selectRows(ctx, d.get(), path, firstRow, count, &cols);
    std::vector<float> out(static_cast<size_t>(count * cols));
    if (out.empty())
        return out;
    hsize_t memDims[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(cols)};
    Handle memSpace(H5Screate_simple(2, memDims, nullptr));
    if (H5Dread(d.get(), H5T_NATIVE_FLOAT, memSpace.get(), fileSpace.get(), H5P_DEFAULT, out.data()) < 0)
        ctx.readFail(path);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Attributes

bool H5File::hasAttr(const std::string& objectPath, const std::string& name) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    if (!ctx.exists(objectPath))
        return false;
    htri_t r = H5Aexists_by_name(m_file, objectPath.c_str(), name.c_str(), H5P_DEFAULT);
    if (r < 0)
        ctx.damagedIfChecksum(objectPath);
    H5Eclear2(H5E_DEFAULT);
    return r > 0;
}

void H5File::setAttr(const std::string& objectPath, const std::string& name, const std::string& value)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    Handle type = utf8StringType();
    const char* ptr = value.c_str();
    ctx.writeAttr(objectPath, name, type.get(), type.get(), {}, &ptr);
}

void H5File::setAttr(const std::string& objectPath, const std::string& name, const char* value)
{
    setAttr(objectPath, name, std::string(value ? value : ""));
}

void H5File::setAttr(const std::string& objectPath, const std::string& name, double value)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeAttr(objectPath, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {}, &value);
}

void H5File::setAttr(const std::string& objectPath, const std::string& name, int64_t value)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeAttr(objectPath, name, H5T_STD_I64LE, H5T_NATIVE_INT64, {}, &value);
}

void H5File::setAttr(const std::string& objectPath, const std::string& name, int value)
{
    setAttr(objectPath, name, static_cast<int64_t>(value));
}

void H5File::setAttr(const std::string& objectPath, const std::string& name, const std::vector<double>& value)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeAttr(objectPath, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {static_cast<int64_t>(value.size())},
                  value.data());
}

void H5File::setAttr(const std::string& objectPath, const std::string& name,
                     const std::vector<int64_t>& value)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.writeAttr(objectPath, name, H5T_STD_I64LE, H5T_NATIVE_INT64, {static_cast<int64_t>(value.size())},
                  value.data());
}

void H5File::setAttr(const std::string& objectPath, const std::string& name,
                     const std::vector<std::string>& value)
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    std::vector<const char*> ptrs;
    ptrs.reserve(value.size());
    for (const std::string& v : value)
        ptrs.push_back(v.c_str());
    Handle type = utf8StringType();
    ctx.writeAttr(objectPath, name, type.get(), type.get(), {static_cast<int64_t>(value.size())},
                  ptrs.data());
}

std::string H5File::attrString(const std::string& objectPath, const std::string& name) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    std::vector<std::string> v = ctx.readAttrStrings(objectPath, name);
    if (v.size() != 1)
        ctx.formatFail("attribute " + quote(name) + " of " + objectPath + " has " + std::to_string(v.size())
                       + " strings, expected one");
    return v[0];
}

std::vector<std::string> H5File::attrStrings(const std::string& objectPath, const std::string& name) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readAttrStrings(objectPath, name);
}

double H5File::attrDouble(const std::string& objectPath, const std::string& name) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readAttrScalar<double>(objectPath, name, H5T_NATIVE_DOUBLE);
}

int64_t H5File::attrInt(const std::string& objectPath, const std::string& name) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readAttrScalar<int64_t>(objectPath, name, H5T_NATIVE_INT64);
}

std::vector<double> H5File::attrDoubles(const std::string& objectPath, const std::string& name) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readAttrNumeric<double>(objectPath, name, H5T_NATIVE_DOUBLE);
}

std::vector<int64_t> H5File::attrInts(const std::string& objectPath, const std::string& name) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    return ctx.readAttrNumeric<int64_t>(objectPath, name, H5T_NATIVE_INT64);
}

// ---------------------------------------------------------------------------------------------
// Integrity and copies

std::vector<H5Damage> H5File::checkIntegrity(const std::function<void(const std::string&)>& progress) const
{
    Lock lock(h5Mutex());
    ATTRI_CTX;
    ctx.requireOpen();
    std::vector<H5Damage> damage;
    auto check = [&](const std::string& p, bool dataset) {
        if (progress)
            progress(p);
        try {
            ctx.verify(p);
            if (!dataset)
                return;
            // Every stored byte is read (raw, in the stored type): HDF5 checks each chunk's
            // Fletcher-32 on the way.
            Handle d = ctx.openDataset(p);
            Handle type(H5Dget_type(d.get()));
            if (H5Tget_class(type.get()) == H5T_STRING) {
                readStrings(p);
                return;
            }
            Handle space(H5Dget_space(d.get()));
            const size_t n = checkedValueCount(m_path, m_file, d.get(), p, spaceShape(space.get()));
            std::vector<unsigned char> raw(n * std::max<size_t>(H5Tget_size(type.get()), 1));
            if (n > 0 && H5Dread(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
                ctx.readFail(p);
        } catch (const DamagedDataError& e) {
            damage.push_back({p, e.what()});
        } catch (const Error& e) {
            damage.push_back({p, e.what()});
        }
    };
    check("/", false);
    ctx.walk("/", check, [&](const std::string& p, const DamagedDataError& e) {
        damage.push_back({p, e.what()});
    });
    return damage;
}

namespace {

/// Copies the attributes of `src` (an open object at `path` of `from`) onto `path` of `to`.
void copyAttributes(const Ctx& from, hid_t src, const Ctx& to, const std::string& path)
{
    for (const std::string& name : from.attributeNames(src, path)) {
        if (name == kChecksumAttr || (path == "/" && name == kMarkerAttr))
            continue;
        Handle a(H5Aopen(src, name.c_str(), H5P_DEFAULT));
        if (!a.valid())
            from.readFail(path);
        Handle type(H5Aget_type(a.get()));
        Handle space(H5Aget_space(a.get()));
        const std::vector<int64_t> shape = spaceShape(space.get());
        const size_t n =
            static_cast<size_t>(std::max<hssize_t>(H5Sget_simple_extent_npoints(space.get()), 0));
        if (H5Tis_variable_str(type.get()) > 0) {
            bool ok = true;
            std::vector<std::string> values = readStringValues(
                type.get(), n, [&](hid_t mem, void* buf) { return ok = H5Aread(a.get(), mem, buf) >= 0; });
            if (!ok)
                from.readFail(path);
            std::vector<const char*> ptrs;
            for (const std::string& v : values)
                ptrs.push_back(v.c_str());
            Handle utf8 = utf8StringType();
            to.writeAttr(path, name, utf8.get(), utf8.get(), shape, ptrs.data());
        } else {
            std::vector<unsigned char> raw(std::max<size_t>(n * H5Tget_size(type.get()), 1));
            if (n > 0 && H5Aread(a.get(), type.get(), raw.data()) < 0)
                from.readFail(path);
            to.writeAttr(path, name, type.get(), type.get(), shape, raw.data());
        }
    }
}

} // namespace

void H5File::copyContents(const H5File& from, H5File& to, const std::function<bool(const std::string&)>& skip)
{
    Lock lock(h5Mutex());
    Ctx src{from.m_path, from.m_file, from.m_checksums.get()};
    Ctx dst{to.m_path, to.m_file, to.m_checksums.get()};
    src.requireOpen();
    dst.requireOpen();
    auto copyObject = [&](const std::string& p, bool dataset) {
        Handle o = src.openObject(p);
        if (!dataset) {
            to.createGroup(p);
        } else {
            Handle d = src.openDataset(p);
            Handle type(H5Dget_type(d.get()));
            Handle space(H5Dget_space(d.get()));
            const std::vector<int64_t> shape = spaceShape(space.get());
            if (H5Tget_class(type.get()) == H5T_STRING && shape.size() == 1) {
                dst.writeStringDataset(p, from.readStrings(p));
            } else {
                // Row-chunked matrices keep their chunk rows (they are streamed by rows).
                int64_t chunkRows = 0;
                Handle dcpl(H5Dget_create_plist(d.get()));
                if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED && shape.size() == 2) {
                    hsize_t chunk[2] = {0, 0};
                    if (H5Pget_chunk(dcpl.get(), 2, chunk) == 2)
                        chunkRows = static_cast<int64_t>(chunk[0]);
                }
                const size_t n = checkedValueCount(from.m_path, from.m_file, d.get(), p, shape);
                std::vector<unsigned char> raw(std::max<size_t>(n * H5Tget_size(type.get()), 1));
                if (n > 0 && H5Dread(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
                    src.readFail(p);
                dst.writeDataset(p, shape, type.get(), type.get(), raw.data(), chunkRows);
            }
        }
        copyAttributes(src, o.get(), dst, p);
    };
    {
        Handle root = src.openObject("/");
        copyAttributes(src, root.get(), dst, "/");
    }
    std::function<void(const std::string&)> copyGroup = [&](const std::string& group) {
        for (const std::string& n : src.childNames(group)) {
            const std::string p = (group == "/" ? "" : group) + "/" + n;
            if (skip && skip(p))
                continue;
            Handle o(H5Oopen(from.m_file, p.c_str(), H5P_DEFAULT));
            if (!o.valid())
                src.readFail(p);
            const bool dataset = H5Iget_type(o.get()) == H5I_DATASET;
            copyObject(p, dataset);
            if (!dataset)
                copyGroup(p);
        }
    };
    copyGroup("/");
}

} // namespace attri
