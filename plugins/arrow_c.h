// Tables through the Apache Arrow C data interface (ArrowSchema / ArrowArray,
// https://arrow.apache.org/docs/format/CDataInterface.html): how tables cross
// the plugin boundary (plugins/alambic_plugin.h).
//
// A table is a struct array ("+s", no nulls) with one child per column:
// int64 "l", float64 "g", bool "b", utf8 "u", date32 "tdD", timestamp
// "tsu:UTC"; a dictionary-encoded utf8 column is an int32 index array "i"
// whose `dictionary` is a "u" array. Fields are flagged nullable.
#pragma once

#include <memory>

#include "core/base/status.h"
#include "core/table/table.h"
#include "plugins/alambic_plugin.h"

namespace alambic {

// Exports `table` without copying: the structs keep the table alive until
// their release callbacks run (both must be released by the consumer).
void ExportTable(std::shared_ptr<const Table> table, ArrowSchema* schema, ArrowArray* array);

// Imports a struct array (copying its data) and releases `schema` and `array`,
// also on failure. Accepts the types above with any `offset`, any null_count
// (-1: unknown), "tsu:<any zone>", "tdm" (floored to days) and int32 or int64
// dictionary indices. Errors name the column and what was wrong.
Result<Table> ImportTable(ArrowSchema* schema, ArrowArray* array);

}  // namespace alambic
