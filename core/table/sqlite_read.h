// Reading the result of one SQL query on a SQLite database file into a table.
//
// The database is opened read-only (it must exist; nothing is created or
// changed) and the query must be a single statement. Types come from the
// values SQLite returns: a column of INTEGERs is int64, INTEGERs and REALs
// float64, TEXT utf8 — or date32 / timestamp when every value is an ISO date
// / timestamp, as the CSV reader infers them; a column mixing TEXT and numbers
// is utf8 (numbers as SQLite prints them). A column with no value takes its
// declared type (INT… int64, REAL/FLOA/DOUB… float64, else utf8). A BLOB is an
// error naming the column and the row.
//
// Errors name `source` (e.g. "connection refdb") and say what SQLite said.
#pragma once

#include <filesystem>
#include <string>

#include "core/base/cancel.h"
#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

Result<Table> ReadSqliteQuery(const std::filesystem::path& database, const std::string& query,
                              const std::string& source, const CancelToken* cancel = nullptr);

}  // namespace alambic
