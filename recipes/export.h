// What the export kind shares with `alambic export`: CSV with a decimal comma.
#pragma once

#include <ostream>

#include "core/base/status.h"
#include "core/table/csv.h"
#include "core/table/table.h"

namespace alambic {

// Writes `t` as CSV (as WriteCsv with `options`), float cells with `decimal`
// ('.' or ',') as their decimal separator, as the export kind's `decimal`
// parameter does. Text cells are written as they are (no formula quoting).
Status WriteCsvWithDecimal(const Table& t, std::ostream& out, const CsvWriteOptions& options,
                           char decimal);

}  // namespace alambic
