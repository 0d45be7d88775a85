#include "core/vcs/line_diff.h"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

namespace alambic {

namespace {

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

enum class Op { kEqual, kRemove, kAdd };

struct Edit {
  Op op;
  size_t old_pos;  // old lines before this edit
  size_t new_pos;  // new lines before this edit
};

// "@@ -start,len" in unified diff form: a one-line range omits its length, an
// empty one names the line before it.
std::string Range(size_t pos, size_t len) {
  if (len == 1) return fmt::format("{}", pos + 1);
  return fmt::format("{},{}", len == 0 ? pos : pos + 1, len);
}

}  // namespace

LineDiff DiffLines(std::string_view old_text, std::string_view new_text,
                   const std::string& old_name, const std::string& new_name, int context) {
  LineDiff diff;
  if (old_text == new_text) return diff;
  const std::vector<std::string_view> a = SplitLines(old_text), b = SplitLines(new_text);
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix])
    ++suffix;
  const size_t na = a.size() - prefix - suffix, nb = b.size() - prefix - suffix;
  if (na == 0 && nb == 0) return diff;  // differ only in a missing final newline
  if (na != 0 && nb != 0 && na > kMaxDiffCells / nb) {
    diff.added = static_cast<int>(nb);
    diff.removed = static_cast<int>(na);
    diff.too_large = true;
    return diff;
  }

  // lcs[i][j]: longest common subsequence of a[prefix+i..] and b[prefix+j..].
  const size_t width = nb + 1;
  std::vector<uint32_t> lcs((na + 1) * width, 0);
  for (size_t i = na; i-- > 0;)
    for (size_t j = nb; j-- > 0;)
      lcs[i * width + j] = a[prefix + i] == b[prefix + j]
                               ? lcs[(i + 1) * width + j + 1] + 1
                               : std::max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);

  std::vector<Edit> edits;
  edits.reserve(a.size() + nb);
  for (size_t k = 0; k < prefix; ++k) edits.push_back({Op::kEqual, k, k});
  size_t i = 0, j = 0;
  while (i < na || j < nb) {
    if (i < na && j < nb && a[prefix + i] == b[prefix + j]) {
      edits.push_back({Op::kEqual, prefix + i, prefix + j});
      ++i;
      ++j;
    } else if (j == nb || (i < na && lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])) {
      edits.push_back({Op::kRemove, prefix + i, prefix + j});
      ++i;
      ++diff.removed;
    } else {
      edits.push_back({Op::kAdd, prefix + i, prefix + j});
      ++j;
      ++diff.added;
    }
  }
  for (size_t k = 0; k < suffix; ++k)
    edits.push_back({Op::kEqual, prefix + na + k, prefix + nb + k});

  diff.lines.push_back("--- a/" + old_name);
  diff.lines.push_back("+++ b/" + new_name);
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t k = 0;
  while (k < edits.size()) {
    if (edits[k].op == Op::kEqual) {
      ++k;
      continue;
    }
    const size_t start = k >= ctx ? k - ctx : 0;
    size_t last_change = k, scan = k;
    while (scan < edits.size()) {
      if (edits[scan].op != Op::kEqual) {
        last_change = scan++;
        continue;
      }
      size_t run_end = scan;
      while (run_end < edits.size() && edits[run_end].op == Op::kEqual) ++run_end;
      // Changes closer than twice the context share one hunk.
      if (run_end == edits.size() || run_end - scan > 2 * ctx) break;
      scan = run_end;
    }
    const size_t stop = std::min(edits.size(), last_change + 1 + ctx);
    size_t old_len = 0, new_len = 0;
    std::vector<std::string> body;
    for (size_t e = start; e < stop; ++e) {
      const Edit& ed = edits[e];
      if (ed.op == Op::kEqual) {
        body.push_back(" " + std::string(a[ed.old_pos]));
        ++old_len;
        ++new_len;
      } else if (ed.op == Op::kRemove) {
        body.push_back("-" + std::string(a[ed.old_pos]));
        ++old_len;
      } else {
        body.push_back("+" + std::string(b[ed.new_pos]));
        ++new_len;
      }
    }
    diff.lines.push_back(fmt::format("@@ -{} +{} @@", Range(edits[start].old_pos, old_len),
                                     Range(edits[start].new_pos, new_len)));
    diff.lines.insert(diff.lines.end(), body.begin(), body.end());
    k = stop;
  }
  return diff;
}

}  // namespace alambic
