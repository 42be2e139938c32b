#pragma once

#include <QSettings>
#include <QStringList>
#include <QVariant>

namespace attri::ui {

/// One typed application preference stored in QSettings (never experiment data: that lives in
/// the HDF5 file). Declared once below, so every key and default is in one place.
template <typename T> struct Setting {
    const char* key;
    T defaultValue;

    T get() const
    {
        QSettings s;
        const QVariant v = s.value(QLatin1String(key));
        return v.isValid() && v.canConvert<T>() ? v.value<T>() : defaultValue;
    }
    void set(const T& value) const
    {
        QSettings s;
        s.setValue(QLatin1String(key), QVariant::fromValue(value));
    }
};

/// The registry of every application setting.
namespace settings {
inline const Setting<QStringList> recentFiles{"files/recent", {}};
inline const Setting<QByteArray> windowGeometry{"window/geometry", {}};
inline const Setting<QByteArray> windowState{"window/state", {}};
inline const Setting<QString> heatmapColormap{"heatmap/colormap", QStringLiteral("viridis")};
inline const Setting<int> exportDpi{"export/dpi", 300};
inline const Setting<double> exportWidthMm{"export/width_mm", 160.0};
inline const Setting<double> exportHeightMm{"export/height_mm", 100.0};
inline const Setting<bool> presentationMode{"view/presentation", false};
inline const Setting<int> exploreTileCount{"explore/tiles", 6};
/// Who accepts a λ (stored with it); empty: the system account's name (systemUserName).
inline const Setting<QString> acceptorName{"accept/name", {}};
constexpr int kMaxRecentFiles = 8;
} // namespace settings

/// The logged-in user's name: the account's full name where the system records one, else its
/// login name, else $USER; "unknown" only when none of these exists.
QString systemUserName();

/// The name stored with an accepted λ: the user's own setting, else systemUserName().
inline QString acceptorName()
{
    const QString name = settings::acceptorName.get().trimmed();
    return name.isEmpty() ? systemUserName() : name;
}

/// Moves `path` to the front of the recent-files list (bounded).
inline void rememberRecentFile(const QString& path)
{
    QStringList list = settings::recentFiles.get();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > settings::kMaxRecentFiles)
        list.removeLast();
    settings::recentFiles.set(list);
}

} // namespace attri::ui
