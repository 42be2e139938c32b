#include "workflows/import_manifest.h"

#include "common/error.h"

#include <filesystem>

namespace attri {

namespace {

/// DIR/NAME, which must be an existing file.
std::string existingFile(const JsonObject& json, const std::string& key, const std::filesystem::path& dir)
{
    const std::string name = json.getString(key);
    if (name.empty())
        json.fail(key, "a file name");
    const std::filesystem::path path = dir / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw ConfigError(json.source() + ": '" + json.qualified(key) + "' names " + path.string()
                          + ", which does not exist or is not a file");
    return path.string();
}

} // namespace

ImportManifest readImportManifest(const std::string& dir)
{
    const std::filesystem::path folder(dir);
    ImportManifest m;
    m.path = (folder / "manifest.json").string();
    const JsonObject json = JsonObject::readFile(m.path, {"checkpoints", "recipe"});
    json.requireKnownKeys({"model", "init", "checkpoints", "recipe"});
    m.sources.torchscript = existingFile(json, "model", folder);
    if (json.has("init"))
        m.sources.init = existingFile(json, "init", folder);
    if (json.has("checkpoints"))
        for (const JsonObject& entry : json.getArray("checkpoints")) {
            entry.requireKnownKeys({"file", "epoch", "lr"});
            ImportedCheckpoint c;
            c.epoch = entry.getNumber("epoch");
            if (!(c.epoch > 0))
                entry.fail("epoch", "a number > 0 (epochs completed when saved)");
            if (entry.has("lr")) {
                c.lr = entry.getNumber("lr");
                if (!(c.lr > 0))
                    entry.fail("lr", "a number > 0 (the learning rate of the steps before it)");
            }
            c.path = existingFile(entry, "file", folder);
            m.sources.checkpoints.push_back(c);
        }
    if (json.has("recipe"))
        m.recipe = json.getObject("recipe");
    return m;
}

} // namespace attri
