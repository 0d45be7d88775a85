// The YAML reader of flow files: a document read into a flat tree of nodes
// (YTree) that the flow reader (loader.cc) walks.
//
// A fast reader handles the subset of YAML that flow files use (block and flow
// collections, one-line plain and quoted scalars, comments); any text outside
// that subset (anchors, tags, block scalars, multi-line scalars, syntax
// errors, ...) is read by yaml-cpp instead. Both readers give the same nodes,
// marks and so the same Flow and diagnostics (checked by differential tests).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/diagnostic.h"

namespace alambic {

// Which YAML reader ParseFlow uses: kAuto is the fast reader with yaml-cpp for
// whatever it does not handle; kYamlCpp is yaml-cpp only (to compare, in tests).
enum class YamlReader { kAuto, kYamlCpp };

// One node, as yaml-cpp would give it: type, tag (plain or not), scalar and mark.
struct YNode {
  enum class Type : uint8_t { kNull, kScalar, kSequence, kMap };
  Type type = Type::kNull;
  bool plain = false;        // a scalar neither quoted nor tagged (yaml-cpp's tag "?")
  int line = 0, column = 0;  // 1-based; 0: unknown
  std::string_view scalar;   // empty unless kScalar
  int first = -1;            // first child; a map's children are key, value, key, value...
  int next = -1;             // next sibling
};

// Nodes by index; scalars point into the parsed text or into owned strings.
class YTree {
 public:
  int Add(const YNode& n) {
    nodes_.push_back(n);
    return static_cast<int>(nodes_.size()) - 1;
  }
  // Appends `child` to `parent`, whose last child so far is `*last`.
  void Append(int parent, int* last, int child) {
    if (*last < 0)
      nodes_[static_cast<size_t>(parent)].first = child;
    else
      nodes_[static_cast<size_t>(*last)].next = child;
    *last = child;
  }
  std::string_view Own(std::string s) {
    owned_.push_back(std::move(s));
    return owned_.back();
  }
  const YNode& operator[](int i) const { return nodes_[static_cast<size_t>(i)]; }
  size_t size() const { return nodes_.size(); }
  void Reserve(size_t n) { nodes_.reserve(n); }
  void Clear() {
    nodes_.clear();
    owned_.clear();
  }

 private:
  std::vector<YNode> nodes_;
  std::deque<std::string> owned_;  // a deque: growing it never moves a string
};

// Whether a plain scalar is YAML's null ("", "~", "null", "Null", "NULL").
inline bool IsNullScalar(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// Reads `text` into `tree`: the fast reader (kAuto), else yaml-cpp. Returns the
// root, or -1 after adding a diagnostic at `file` for a syntax error.
int ReadYaml(const std::string& text, const std::string& file, YamlReader reader, YTree* tree,
             std::vector<Diagnostic>* diags);

// The YAML node tree of `text` as one line per node ("<line>:<column> <kind>
// <value>", nested by indentation), read by `reader`; nullopt when kAuto's fast
// reader does not handle the text, or yaml-cpp reports a syntax error. For
// tests comparing the two readers.
std::optional<std::string> DumpYamlTree(std::string_view text, YamlReader reader);

}  // namespace alambic
