// Internal to catalog/: the Status of an exception thrown by SQLiteCpp.
#pragma once

#include <exception>
#include <string_view>

#include "core/base/status.h"

namespace alambic {

// IoError "DATABASE: WHAT: MESSAGE" (DATABASE: "catalog", "lab catalog"); when
// SQLite says the disk is full, the message says so and names the cure:
// "catalog: commit: the disk is full (MESSAGE); free some space (alambic gc
// deletes old versions)".
Status SqlError(const std::exception& e, std::string_view what,
                std::string_view database = "catalog");

}  // namespace alambic
