// Reading JSON documents into columnar tables: an array of objects (`json`) or
// one object per line (`ndjson`, JSON Lines; blank lines are skipped).
//
// Each object is one row. Nested objects are flattened by path
// (`{"address": {"city": "Lyon"}}` gives the column `address.city`); arrays
// (and empty objects) are kept as their JSON text. Columns appear in the order
// their key is first seen; a key missing from a row is null there.
//
// Types, consistent with the CSV reader: a column of JSON integers is int64
// (float64 when one does not fit), integers and other numbers float64,
// booleans bool, strings utf8 — or date32 / timestamp when every string is an
// ISO date / timestamp (as the CSV reader infers them). Strings that look like
// numbers stay strings ("01", "2A"). A column mixing kinds (a number and a
// string, say) is utf8 holding each value's JSON text (strings unquoted). A
// column with only nulls is utf8.
//
// Errors name the source and the line (1-based): malformed JSON (with the
// column in that line), a row that is not an object, a key that flattens onto
// an existing column ("a.b" beside {"a": {"b": ...}}). In an array document,
// a non-object item is named by its index (from 1).
//
// Thread-safety: the functions are reentrant.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/base/cancel.h"
#include "core/base/status.h"
#include "core/table/table.h"

namespace alambic {

struct JsonReadOptions {
  bool lines = false;       // true: NDJSON, one object per line; false: an array of objects
  std::string source_name;  // used in error messages (ReadJsonFile: the path by default)
};

Result<Table> ReadJsonBuffer(std::string_view data, const JsonReadOptions& opts,
                             const CancelToken* cancel = nullptr);
// A missing file is NotFound.
Result<Table> ReadJsonFile(const std::filesystem::path& path, const JsonReadOptions& opts,
                           const CancelToken* cancel = nullptr);

}  // namespace alambic
