// The awkward-CSV corpus (tests/data/csv/): each NAME.csv is read by the collect
// kind with the params of NAME.json ("options") and the result is given as JSON,
// for the corpus test and for the Python oracle's tool (tests/interop/).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/table/table.h"

namespace alambic::testing {

// {"columns": [[name, type], ...], "rows": [[cell, ...], ...]}: int64 and
// float64 as JSON numbers (non-finite floats as text), bool as a JSON boolean,
// null as null, other types as FormatCell text.
nlohmann::json TableToJson(const Table& t);

// Reads `dir`/NAME.csv with the collect kind (recipe name "corpus", the
// workspace being `dir`) and the options of `dir`/NAME.json: the table as
// TableToJson gives it, or {"error": message}.
nlohmann::json ReadCorpusCase(const std::filesystem::path& dir, const std::string& name);

// Names of the cases in `dir` (NAME.csv with a NAME.json), sorted.
std::vector<std::string> CorpusCases(const std::filesystem::path& dir);

}  // namespace alambic::testing
