// Keys of the relational operators (group, join, distinct, sort, window):
// dense integer codes for the distinct values of one or more key columns,
// typed cell comparison, and gathering rows by index.
//
// Codes are computed column by column with typed hash tables (no per-cell
// boxing): each key column is first mapped to dense codes, then the codes of
// the columns are combined pairwise. Equal keys get equal codes; -0.0 equals
// 0.0 and every NaN equals every other NaN. A dictionary-encoded utf8 column is
// coded through its dictionary (one lookup per distinct string).
//
// All functions are pure and safe to call from several threads on shared
// columns.
#pragma once

#include <cstdint>
#include <vector>

#include "core/table/table.h"

namespace alambic {

// Row codes: codes[i] in [0, count), or -1 for a row whose key holds a null
// when nulls do not match (joins).
struct KeyCodes {
  std::vector<int32_t> codes;
  int32_t count = 0;
};

// Codes for the rows of `keys` (columns of equal length, at least one). When nulls_match, null is a
// value like any other (SQL GROUP BY, DISTINCT); otherwise a row with a null key gets -1. Codes are
// numbered in order of first appearance.
KeyCodes EncodeKeys(const std::vector<const Column*>& keys, bool nulls_match);

// Codes of the pairs (a.codes[i], b.codes[i]) (same length), in order of first
// appearance; -1 where either is -1.
KeyCodes CombineCodes(const KeyCodes& a, const KeyCodes& b);

// Join keys: codes for the rows of `build` (numbered in order of first
// appearance) and, for `probe`, the code of the equal build key or -1 (no
// equal key, or a null). The key lists pair up column by column and the types
// of each pair are equal. Only the build side's distinct keys are held in hash
// tables; the probe side is looked up, on several threads when it is large.
struct JoinCodes {
  KeyCodes build;
  std::vector<int32_t> probe;
};
JoinCodes EncodeJoinKeys(const std::vector<const Column*>& build,
                         const std::vector<const Column*>& probe);

// For each code in [0, codes.count), the first row holding it.
std::vector<int64_t> FirstRows(const KeyCodes& codes);

// Orders two cells of one column: negative, zero or positive. Nulls come
// first; strings compare by bytes (SQLite's BINARY collation); NaN comes after
// every other number.
int CompareCells(const Column& col, int64_t a, int64_t b);

// Row `rows[i]` of `col` for each i, null where rows[i] < 0. A
// dictionary-encoded column stays encoded.
ColumnPtr GatherRows(const Column& col, const std::vector<int64_t>& rows);

// A stable sort of row indices by several columns. `descending[k]` reverses
// column k's order; `nulls_first[k]` puts its nulls first (else last),
// whatever the direction.
struct SortKey {
  const Column* column = nullptr;
  bool descending = false;
  bool nulls_first = true;
};
// Sorts `rows` (indices into the key columns) in place, stably.
void SortRows(const std::vector<SortKey>& keys, std::vector<int64_t>& rows);
// Compares rows a and b under `keys`.
int CompareRows(const std::vector<SortKey>& keys, int64_t a, int64_t b);

}  // namespace alambic
