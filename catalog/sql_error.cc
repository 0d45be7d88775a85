#include "catalog/sql_error.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <sqlite3.h>

namespace alambic {

namespace {
// SQLite's primary result code is the low byte of an extended one.
constexpr int kPrimaryCodeMask = 0xff;
}  // namespace

Status SqlError(const std::exception& e, std::string_view what, std::string_view database) {
  const auto* sql = dynamic_cast<const SQLite::Exception*>(&e);
  if (sql && (sql->getErrorCode() & kPrimaryCodeMask) == SQLITE_FULL)
    return Status::IoError(fmt::format(
        "{}: {}: the disk is full ({}); free some space (alambic gc deletes old versions)",
        database, what, e.what()));
  return Status::IoError(fmt::format("{}: {}: {}", database, what, e.what()));
}

}  // namespace alambic
