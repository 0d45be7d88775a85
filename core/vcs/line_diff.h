// A line diff of two texts, as a unified diff, for reviewing code changes
// (scripts, alambic.yaml) between two versions of a flow.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace alambic {

struct LineDiff {
  int added = 0;    // lines only in the new text
  int removed = 0;  // lines only in the old text
  // "--- a/OLD", "+++ b/NEW", then hunks ("@@ -1,4 +1,5 @@", " context",
  // "-removed", "+added"); empty when the texts are equal or too large to align.
  std::vector<std::string> lines;
  // The changed region was too large to align (kMaxDiffCells): `added` and
  // `removed` count every line of the changed region and `lines` is empty.
  bool too_large = false;
};

// Lines the alignment may compare, (changed old lines) x (changed new lines),
// after the common first and last lines are set aside.
inline constexpr size_t kMaxDiffCells = 4'000'000;

// Diffs `old_text` and `new_text` line by line (a longest common subsequence
// of the lines; "\n" ends a line, a last line without it counts as a line),
// with `context` unchanged lines around each change. `old_name` and `new_name`
// go in the header lines.
LineDiff DiffLines(std::string_view old_text, std::string_view new_text,
                   const std::string& old_name, const std::string& new_name, int context = 3);

}  // namespace alambic
