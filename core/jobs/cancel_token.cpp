#include "jobs/cancel_token.h"

#include "common/error.h"

namespace attri {

void CancelToken::throwIfCancelled() const
{
    if (isCancelled())
        throw Cancelled();
}

} // namespace attri
