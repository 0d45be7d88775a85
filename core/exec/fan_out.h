// Partitioned fan-out on a JobLauncher (Slurm): in a flow declaring
// `partitions: {by: COLUMN}` (flow.h), a row-by-row recipe (FanOutRefusal)
// whose input has COLUMN runs as one job per value of COLUMN. The coordinator
// splits the input by the values of COLUMN, gives each partition's rows a
// row-number column (kFanOutRowColumn: their position in the whole input),
// runs the recipe once per partition, and combines the partitions' outputs by
// that column back into the input's row order, without it. For a row-by-row
// kind the combined table is the one a single run over the whole input gives,
// so the version (and its file) is the same as a local run's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/flow/flow.h"
#include "core/table/table.h"

namespace alambic {

// The row-number column of a partition's input and output.
inline constexpr std::string_view kFanOutRowColumn = "_alambic_row";
// At most this many partitions (distinct values) for one recipe.
inline constexpr size_t kMaxFanOutPartitions = 1000;

struct Partitions {
  std::vector<std::string> values;         // each partition's value, as text ("" for null)
  std::vector<std::vector<int64_t>> rows;  // its rows in the input, ascending
};

// Why `recipe` cannot run one job per partition ("" when it can): only what
// gives, run per partition and combined in row order, the table one run over
// the whole input gives: filter (without keep) and formula (without Lua
// functions, which may keep state across rows), over one input.
std::string FanOutRefusal(const RecipeSpec& recipe);

// The partitions of `table` by the values of `column`, in the order each value
// first appears; null is a partition of its own. An error naming the column
// when it is missing, when the table already has kFanOutRowColumn, or when
// there are more than `max_partitions` values.
Result<Partitions> SplitByColumn(const Table& table, const std::string& column,
                                 size_t max_partitions = kMaxFanOutPartitions);

// The rows `rows` of `table` (dictionary columns keep their dictionary), with
// kFanOutRowColumn (int64, not null) holding each row's number in `table`.
Result<Table> PartitionInput(const Table& table, const std::vector<int64_t>& rows);

// The outputs of the partitions, in row order: every part must have
// kFanOutRowColumn and the same other columns; the result has the rows of all
// parts ordered by that column, which it drops. A dictionary column whose parts
// share the same dictionary stays dictionary-encoded with it.
Result<Table> CombinePartitions(const std::vector<Table>& parts);

}  // namespace alambic
