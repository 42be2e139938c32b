#include "app_settings.h"

#include <pwd.h>
#include <unistd.h>

namespace attri::ui {

QString systemUserName()
{
    if (const passwd* pw = getpwuid(getuid())) {
        // The GECOS field's first entry is the full name, where the system records one.
        const QString full = QString::fromLocal8Bit(pw->pw_gecos ? pw->pw_gecos : "").section(QLatin1Char(','), 0, 0);
        if (!full.trimmed().isEmpty())
            return full.trimmed();
        if (pw->pw_name && *pw->pw_name)
            return QString::fromLocal8Bit(pw->pw_name);
    }
    const QString user = qEnvironmentVariable("USER", qEnvironmentVariable("LOGNAME"));
    return user.isEmpty() ? QStringLiteral("unknown") : user;
}

} // namespace attri::ui
