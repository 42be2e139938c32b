// One class over HDF5's C API, kept in one file on purpose: this is the only place that API
// appears, so every handle's lifetime, every error translation and every typed read and write of
// attributes and datasets can be checked together.
#include "store/h5_file.h"

#include "common/error.h"

#include <hdf5.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
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

/// The innermost message of HDF5's error stack (the most specific one), then clears the stack.
std::string hdf5Reason()
{
    std::string reason;
    H5Ewalk2(
        H5E_DEFAULT, H5E_WALK_UPWARD,
        [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
            auto* out = static_cast<std::string*>(data);
            if (n == 0 && err && err->desc)
                *out = err->desc;
            return 0;
        },
        &reason);
    H5Eclear2(H5E_DEFAULT);
    return reason.empty() ? std::string() : " (HDF5: " + reason + ")";
}

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

// ---------------------------------------------------------------------------------------------
// Opening and closing

H5File::H5File(const std::string& path, Mode mode) : m_path(path)
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
        throw IoError(what + path + ": " + (err ? std::strerror(err) : "HDF5 refused it") + reason);
    }
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
    : m_path(std::move(other.m_path)), m_file(std::exchange(other.m_file, -1))
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
    }
    return *this;
}

void H5File::close()
{
    Lock lock(h5Mutex());
    if (m_file < 0)
        return;
    hid_t id = std::exchange(m_file, -1);
    unsigned intent = 0;
    H5Fget_intent(id, &intent);
    bool flushed = !(intent & H5F_ACC_RDWR) || H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0;
    herr_t closed = H5Fclose(id);
    if (!flushed || closed < 0)
        throw IoError("cannot close " + m_path + ": writing the file failed" + hdf5Reason());
}

// ---------------------------------------------------------------------------------------------
// Internal helpers that need the file handle. Kept as free functions over (file, path) so the
// header stays free of HDF5 types.

namespace {

struct Ctx {
    const std::string& file;
    hid_t id;

    [[noreturn]] void ioFail(const std::string& what, const std::string& object) const
    {
        throw IoError(file + ": cannot " + what + " " + object + hdf5Reason());
    }
    [[noreturn]] void formatFail(const std::string& message) const
    {
        H5Eclear2(H5E_DEFAULT);
        throw FormatError(file + ": " + message);
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
            if (r <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return false;
            }
        }
        htri_t r = H5Oexists_by_name(id, path.c_str(), H5P_DEFAULT);
        H5Eclear2(H5E_DEFAULT);
        return r > 0;
    }

    Handle openDataset(const std::string& path) const
    {
        if (!exists(path))
            formatFail("no dataset " + path + " (expected one)");
        {
            Handle o(H5Oopen(id, path.c_str(), H5P_DEFAULT));
            if (!o.valid())
                ioFail("open", path);
            if (H5Iget_type(o.get()) != H5I_DATASET)
                formatFail(path + " is a group, expected a dataset");
        }
        Handle d(H5Dopen2(id, path.c_str(), H5P_DEFAULT));
        if (!d.valid())
            ioFail("open dataset", path);
        return d;
    }

    /// Opens an object (group or dataset) for attribute access.
    Handle openObject(const std::string& path) const
    {
        if (!exists(path))
            formatFail("no object " + path + " (expected a group or dataset)");
        Handle o(H5Oopen(id, path.c_str(), H5P_DEFAULT));
        if (!o.valid())
            ioFail("open", path);
        return o;
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
                      hid_t memType, const void* data) const
    {
        requireOpen();
        checkPath(path);
        if (path == "/")
            formatFail("cannot write a dataset at the root group");
        for (int64_t d : shape)
            if (d < 0)
                throw ConfigError(file + ": negative dimension in the shape of " + path);
        removeIfExists(path);
        Handle space = makeSpace(shape);
        Handle props = lcpl();
        Handle d(H5Dcreate2(id, path.c_str(), fileType, space.get(), props.get(), H5P_DEFAULT, H5P_DEFAULT));
        if (!d.valid())
            ioFail("create dataset", path);
        if (elementCount(shape) > 0 && H5Dwrite(d.get(), memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
            ioFail("write dataset", path);
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
            ioFail("read dataset", path);
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
        if (H5Aexists(obj.get(), name.c_str()) <= 0)
            formatFail(objectPath + " has no attribute " + quote(name) + " (expected one)");
        Handle a(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT));
        if (!a.valid())
            ioFail("open attribute " + quote(name) + " of", objectPath);
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
            ioFail("read attribute " + quote(name) + " of", objectPath);
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
            ioFail("read attribute " + quote(name) + " of", objectPath);
        return values;
    }
};

} // namespace

#define ATTRI_CTX                                                                                            \
    Ctx ctx                                                                                                  \
    {                                                                                                        \
        m_path, m_file                                                                                       \
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
    Handle g(H5Gopen2(m_file, groupPath.c_str(), H5P_DEFAULT));
    if (!g.valid())
        ctx.formatFail(groupPath + " is not a group");
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
        ctx.ioFail("list", groupPath);
    std::sort(names.begin(), names.end());
    return names;
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
    std::vector<const char*> ptrs;
    ptrs.reserve(values.size());
    for (const std::string& v : values)
        ptrs.push_back(v.c_str());
    Handle type = utf8StringType();
    ctx.writeDataset(path, {static_cast<int64_t>(values.size())}, type.get(), type.get(), ptrs.data());
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
    Handle space(H5Dget_space(d.get()));
    const size_t n = checkedValueCount(m_path, m_file, d.get(), path,
                                       {std::max<int64_t>(H5Sget_simple_extent_npoints(space.get()), 0)});
    bool ok = true;
    auto values = readStringValues(type.get(), n, [&](hid_t mem, void* buf) {
        return ok = H5Dread(d.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    });
    if (!ok)
        ctx.ioFail("read dataset", path);
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
    Handle space = makeSpace({rows, cols});
    Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
    if (rows > 0 && cols > 0) {
        // Chunks must fit in the (fixed) extent and under HDF5's 4 GiB chunk limit.
        const int64_t maxChunkRows = std::max<int64_t>(1, (int64_t(1) << 28) / cols);
        hsize_t chunk[2] = {
            static_cast<hsize_t>(std::clamp<int64_t>(chunkRows, 1, std::min(rows, maxChunkRows))),
            static_cast<hsize_t>(cols)};
        H5Pset_chunk(dcpl.get(), 2, chunk);
    }
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
        ctx.ioFail("read rows of", path);
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

} // namespace attri
