// Invariants every table a reader returns must hold, for the fuzz targets.
#pragma once

#include <set>
#include <sstream>
#include <string>

#include "core/table/csv.h"
#include "core/table/table.h"
#include "fuzz/fuzz_target.h"

namespace alambic::fuzz {

// Columns as many as fields, each of num_rows() rows and of its field's type, with buffers
// that match (Column::Validate); names distinct; every cell formats;
// the table writes as CSV.
inline void CheckTable(const Table& t) {
  FUZZ_CHECK(static_cast<size_t>(t.num_columns()) == t.schema().fields.size(), "column count");
  std::set<std::string> names;
  for (int i = 0; i < t.num_columns(); ++i) {
    const ColumnPtr& c = t.column(i);
    FUZZ_CHECK(c != nullptr, "null column");
    const std::string& name = t.schema().fields[static_cast<size_t>(i)].name;
    FUZZ_CHECK(c->length == t.num_rows(), name);
    FUZZ_CHECK(c->type == t.schema().fields[static_cast<size_t>(i)].type, name);
    Status valid = c->Validate();
    FUZZ_CHECK(valid.ok(), name + ": " + valid.message());
    names.insert(t.schema().fields[static_cast<size_t>(i)].name);
    for (int64_t r = 0; r < t.num_rows() && r < 64; ++r) (void)FormatCell(*c, r);
  }
  FUZZ_CHECK(names.size() == t.schema().fields.size(), "duplicate column names");
  std::ostringstream out;
  Status s = WriteCsv(t, out);
  FUZZ_CHECK(s.ok(), s.message());
}

}  // namespace alambic::fuzz
