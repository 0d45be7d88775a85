#include "core/flow/loader.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <deque>
#include <memory>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/flow/flow_cache.h"
#include "core/sched/schedule.h"

namespace alambic {

std::vector<std::filesystem::path> EnvironmentDataRoots(const WorkspaceConfig& config,
                                                        const std::string& environment) {
  std::vector<std::filesystem::path> out = config.data_roots;
  if (auto it = config.environments.find(environment); it != config.environments.end())
    out.insert(out.end(), it->second.data_roots.begin(), it->second.data_roots.end());
  return out;
}

const Flow* Workspace::FindFlow(const std::string& name) const {
  for (const auto& f : flows)
    if (f.name == name) return &f;
  return nullptr;
}

namespace {

// ---- A YAML document as a flat tree -------------------------------------------

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

bool IsNullScalar(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

// ---- The fast reader ------------------------------------------------------------

// Reads the YAML that flow files are made of, exactly as yaml-cpp 0.7 reads it:
//   - a root block mapping at column 1; block mappings and block sequences
//     (including "indentless" sequences under a key, and compact mappings in a
//     sequence item), with any consistent indentation;
//   - one-line flow mappings and sequences, nested;
//   - one-line plain, single-quoted and double-quoted scalars (simple escapes);
//   - comments and blank lines; empty values (null).
// Anything else (anchors, aliases, tags, block scalars, multi-line scalars or
// flow collections, directives, several documents, tabs, CR, control
// characters, invalid UTF-8, keys that are not simple) makes Parse() return -1,
// and the caller uses yaml-cpp, which also reports every syntax error. The
// reader never guesses: what it accepts, it reads the way yaml-cpp does
// (checked by differential tests against yaml-cpp).
class FastYamlReader {
 public:
  FastYamlReader(std::string_view text, YTree* tree) : s_(text), t_(tree) {}

  // The root's index, or -1 when the text is outside the subset.
  int Parse() {
    if (!CharactersAllowed()) return -1;
    t_->Reserve(s_.size() / 4 + 16);
    SkipBlank();
    if (failed_ || AtEnd() || Column() != 0) return -1;
    int root = BlockMap(0, 0);
    if (failed_ || root < 0) return -1;
    if (!AtEnd()) return -1;  // BlockMap(0) only stops at the end
    return root;
  }

 private:
  static constexpr int kMaxDepth = 64;
  static constexpr size_t kMaxKeyLength = 1000;  // yaml-cpp's simple keys are shorter than 1024

  // Bytes the subset allows: printable ASCII, space, newline, and valid UTF-8
  // that is neither a C1 control, a byte order mark nor a line/paragraph separator.
  bool CharactersAllowed() const {
    const auto* b = reinterpret_cast<const unsigned char*>(s_.data());
    const size_t n = s_.size();
    for (size_t i = 0; i < n;) {
      unsigned char c = b[i];
      if (c < 0x80) {
        if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
        ++i;
        continue;
      }
      size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
      if (len == 0 || c > 0xf4 || i + len > n) return false;
      uint32_t cp = c & (0x3f >> (len - 1));
      for (size_t k = 1; k < len; ++k) {
        if ((b[i + k] & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (b[i + k] & 0x3f);
      }
      if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
          (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f) || cp == 0xfeff ||
          cp == 0x2028 || cp == 0x2029)
        return false;
      i += len;
    }
    return true;
  }

  bool AtEnd() const { return p_ >= s_.size(); }
  char Peek(size_t k = 0) const { return p_ + k < s_.size() ? s_[p_ + k] : '\0'; }
  int Column() const { return static_cast<int>(p_ - line_start_); }  // 0-based
  // Whether the byte at p_ + k ends a token: a space, a line break or the end.
  bool BreakOrSpaceAt(size_t k) const {
    return p_ + k >= s_.size() || s_[p_ + k] == ' ' || s_[p_ + k] == '\n';
  }
  int Fail() {
    failed_ = true;
    return -1;
  }
  YNode Here(YNode::Type type) const {
    YNode n;
    n.type = type;
    n.line = line_;
    n.column = Column() + 1;
    return n;
  }
  // A null node marked where the next token starts (yaml-cpp marks an empty
  // value there).
  int NullHere() { return t_->Add(Here(YNode::Type::kNull)); }
  // The empty last value of the text, in a block collection at column `indent`:
  // yaml-cpp marks it with the token that closes that collection, made where
  // the last line's content ends when the collection is deeper than that (or
  // as deep, for a sequence), else at column 1.
  int NullAtEnd(int indent, bool in_sequence) {
    YNode n = Here(YNode::Type::kNull);
    const int end = Column();
    if (!(indent > end || (indent == end && in_sequence))) n.column = 1;
    return t_->Add(n);
  }

  void SkipSpaces() {
    while (p_ < s_.size() && s_[p_] == ' ') ++p_;
  }
  // At the end of the line's content: end of text, line break or a comment.
  bool AtLineEnd() const {
    return AtEnd() || s_[p_] == '\n' || (s_[p_] == '#' && (p_ == line_start_ || s_[p_ - 1] == ' '));
  }
  // Skips spaces, comments and line breaks up to the next token. A line that
  // starts with a document marker or a directive fails.
  void SkipBlank() {
    while (p_ < s_.size()) {
      char c = s_[p_];
      if (c == ' ') {
        ++p_;
      } else if (c == '\n') {
        ++p_;
        ++line_;
        line_start_ = p_;
      } else if (c == '#' && (p_ == line_start_ || s_[p_ - 1] == ' ')) {
        size_t eol = s_.find('\n', p_);
        p_ = eol == std::string_view::npos ? s_.size() : eol;
      } else {
        break;
      }
    }
    if (p_ == line_start_ && !AtEnd()) {
      std::string_view rest = s_.substr(p_, 3);
      if (rest == "---" || rest == "..." || Peek() == '%') failed_ = true;
    }
  }

  // Whether a plain scalar may start here ('-' only when glued to what follows).
  bool PlainStart(bool flow) const {
    char c = Peek();
    switch (c) {
      case '\0':
      case ' ':
      case '\n':
      case '?':
      case ':':
      case ',':
      case '[':
      case ']':
      case '{':
      case '}':
      case '#':
      case '&':
      case '*':
      case '!':
      case '|':
      case '>':
      case '\'':
      case '"':
      case '%':
      case '@':
      case '`':
        return false;
      case '-':
        if (BreakOrSpaceAt(1)) return false;
        if (flow && (Peek(1) == ',' || Peek(1) == ']' || Peek(1) == '}' || Peek(1) == '[' ||
                     Peek(1) == '{'))
          return false;
        return true;
      default:
        return true;
    }
  }
  bool AtSeqEntry() const { return Peek() == '-' && BreakOrSpaceAt(1); }

  enum class KeyScan { kKey, kNotKey, kUnsupported };
  // Whether the line from p_ is a simple key ("key:" followed by a space or the
  // end of line); on kKey, *colon is the position of its ':'.
  KeyScan ScanKey(size_t* colon) const {
    char c = Peek();
    if (c == '"' || c == '\'') {
      size_t q = p_ + 1;
      while (true) {
        if (q >= s_.size() || s_[q] == '\n') return KeyScan::kUnsupported;
        if (c == '"' && s_[q] == '\\') {
          q += 2;
          continue;
        }
        if (s_[q] == c) {
          if (c == '\'' && q + 1 < s_.size() && s_[q + 1] == '\'') {
            q += 2;
            continue;
          }
          break;
        }
        ++q;
      }
      ++q;
      while (q < s_.size() && s_[q] == ' ') ++q;
      if (q < s_.size() && s_[q] == ':') {
        if (q + 1 < s_.size() && s_[q + 1] != ' ' && s_[q + 1] != '\n')
          return KeyScan::kUnsupported;
        *colon = q;
        return KeyScan::kKey;
      }
      return KeyScan::kNotKey;
    }
    if (!PlainStart(false)) return KeyScan::kNotKey;
    bool inner_colon = false;
    for (size_t q = p_; q < s_.size(); ++q) {
      char x = s_[q];
      if (x == '\n') return KeyScan::kNotKey;
      if (x == '#' && s_[q - 1] == ' ') return KeyScan::kNotKey;
      if (x == ':') {
        if (q + 1 >= s_.size() || s_[q + 1] == ' ' || s_[q + 1] == '\n') {
          if (inner_colon || q - p_ > kMaxKeyLength) return KeyScan::kUnsupported;
          *colon = q;
          return KeyScan::kKey;
        }
        inner_colon = true;
      }
    }
    return KeyScan::kNotKey;
  }

  // A simple key and its ':'; the position is then just after the ':'.
  int Key() {
    size_t colon = 0;
    if (ScanKey(&colon) != KeyScan::kKey) return Fail();
    int key;
    if (Peek() == '"' || Peek() == '\'') {
      key = Quoted();
      if (key < 0) return -1;
    } else {
      YNode n = Here(YNode::Type::kScalar);
      std::string_view v = s_.substr(p_, colon - p_);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      if (v == "<<") return Fail();  // a merge key in other readers
      n.plain = true;
      n.scalar = v;
      if (IsNullScalar(v)) {
        n.type = YNode::Type::kNull;
        n.scalar = {};
      }
      key = t_->Add(n);
    }
    p_ = colon + 1;
    return key;
  }

  // A single- or double-quoted scalar on one line; the position is then after
  // the closing quote.
  int Quoted() {
    YNode n = Here(YNode::Type::kScalar);
    const char q = Peek();
    ++p_;
    const size_t start = p_;
    std::string buf;
    bool owned = false;
    while (true) {
      if (AtEnd() || s_[p_] == '\n') return Fail();
      char c = s_[p_];
      if (c == q) {
        if (q == '\'' && Peek(1) == '\'') {
          if (!owned) buf.assign(s_.substr(start, p_ - start));
          owned = true;
          buf += '\'';
          p_ += 2;
          continue;
        }
        break;
      }
      if (q == '"' && c == '\\') {
        char e = Peek(1);
        char out;
        switch (e) {
          case '\\':
            out = '\\';
            break;
          case '"':
            out = '"';
            break;
          case '/':
            out = '/';
            break;
          case 'n':
            out = '\n';
            break;
          case 't':
            out = '\t';
            break;
          case 'r':
            out = '\r';
            break;
          default:
            return Fail();  // other escapes are left to yaml-cpp
        }
        if (!owned) buf.assign(s_.substr(start, p_ - start));
        owned = true;
        buf += out;
        p_ += 2;
        continue;
      }
      if (owned) buf += c;
      ++p_;
    }
    n.scalar = owned ? t_->Own(std::move(buf)) : s_.substr(start, p_ - start);
    ++p_;  // the closing quote
    return t_->Add(n);
  }

  // A plain scalar in block context, up to the end of the line or a comment.
  int PlainBlock() {
    YNode n = Here(YNode::Type::kScalar);
    const size_t start = p_;
    while (!AtEnd()) {
      char c = s_[p_];
      if (c == '\n' || (c == '#' && s_[p_ - 1] == ' ')) break;
      if (c == ':' && BreakOrSpaceAt(1)) return Fail();  // a key or "a: b: c"
      ++p_;
    }
    std::string_view v = s_.substr(start, p_ - start);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    n.plain = true;
    n.scalar = v;
    if (IsNullScalar(v)) {
      n.type = YNode::Type::kNull;
      n.scalar = {};
    }
    return t_->Add(n);
  }

  // A plain scalar in a flow collection. As a key it must end with ": ".
  int PlainFlow(bool key) {
    YNode n = Here(YNode::Type::kScalar);
    if (!PlainStart(true)) return Fail();
    const size_t start = p_;
    while (true) {
      if (AtEnd()) return Fail();
      char c = s_[p_];
      if (c == ',' || c == ']' || c == '}') break;
      if (c == ':') {
        if (key && Peek(1) == ' ') break;
        return Fail();
      }
      if (c == '\n' || c == '?' || c == '[' || c == '{' || (c == '#' && s_[p_ - 1] == ' '))
        return Fail();
      ++p_;
    }
    std::string_view v = s_.substr(start, p_ - start);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    if (key && Peek() != ':') return Fail();
    n.plain = true;
    n.scalar = v;
    if (IsNullScalar(v)) {
      n.type = YNode::Type::kNull;
      n.scalar = {};
    }
    return t_->Add(n);
  }

  // A node inside a flow collection.
  int FlowNode(int depth) {
    char c = Peek();
    if (c == '{') return FlowMap(depth + 1);
    if (c == '[') return FlowSeq(depth + 1);
    if (c == '"' || c == '\'') return Quoted();
    return PlainFlow(false);
  }

  // "{k: v, ...}" on one line; the position is then after the '}'.
  int FlowMap(int depth) {
    if (depth > kMaxDepth) return Fail();
    int map = t_->Add(Here(YNode::Type::kMap));
    int last = -1;
    ++p_;
    SkipSpaces();
    if (Peek() == '}') {
      ++p_;
      return map;
    }
    while (true) {
      char c = Peek();
      int key = (c == '"' || c == '\'') ? Quoted() : PlainFlow(true);
      if (key < 0) return Fail();
      SkipSpaces();
      if (Peek() != ':' || Peek(1) != ' ') return Fail();
      ++p_;
      SkipSpaces();
      c = Peek();
      if (c == ',' || c == '}' || c == '\n' || AtEnd()) return Fail();  // empty value
      int value = FlowNode(depth);
      if (value < 0) return Fail();
      t_->Append(map, &last, key);
      t_->Append(map, &last, value);
      SkipSpaces();
      if (Peek() == ',') {
        ++p_;
        SkipSpaces();
        if (Peek() == '}') return Fail();  // a trailing comma
        continue;
      }
      if (Peek() == '}') {
        ++p_;
        return map;
      }
      return Fail();
    }
  }

  // "[a, b, ...]" on one line; the position is then after the ']'.
  int FlowSeq(int depth) {
    if (depth > kMaxDepth) return Fail();
    int seq = t_->Add(Here(YNode::Type::kSequence));
    int last = -1;
    ++p_;
    SkipSpaces();
    if (Peek() == ']') {
      ++p_;
      return seq;
    }
    while (true) {
      char c = Peek();
      if (c == ',' || c == ']' || c == '\n' || AtEnd()) return Fail();
      int item = FlowNode(depth);
      if (item < 0) return Fail();
      t_->Append(seq, &last, item);
      SkipSpaces();
      if (Peek() == ',') {
        ++p_;
        SkipSpaces();
        if (Peek() == ']') return Fail();  // a trailing comma
        continue;
      }
      if (Peek() == ']') {
        ++p_;
        return seq;
      }
      return Fail();
    }
  }

  // A node that starts on the current line (not a block collection); then the
  // rest of the line must be empty, and the position moves to the next token.
  int InlineNode(int depth) {
    char c = Peek();
    int n;
    if (c == '{') {
      n = FlowMap(depth + 1);
    } else if (c == '[') {
      n = FlowSeq(depth + 1);
    } else if (c == '"' || c == '\'') {
      n = Quoted();
    } else if (PlainStart(false)) {
      n = PlainBlock();
    } else {
      return Fail();
    }
    if (n < 0) return Fail();
    SkipSpaces();
    if (!AtLineEnd()) return Fail();
    SkipBlank();
    return n;
  }

  // The node on the lines after "key:" or "-" with nothing after it, at a
  // column greater than `indent` (or equal, for a sequence under a key).
  int NodeBelow(int indent, bool under_key, int depth) {
    SkipBlank();
    if (failed_) return -1;
    if (AtEnd()) return NullAtEnd(indent, !under_key);
    const int col = Column();
    if (col > indent || (under_key && col == indent && AtSeqEntry())) {
      if (AtSeqEntry()) return BlockSeq(col, depth + 1);
      return BlockMap(col, depth + 1);
    }
    return NullHere();
  }

  // A block mapping whose keys are at column `indent` (0-based); the position
  // is at its first key, and ends at the first token after it.
  int BlockMap(int indent, int depth) {
    if (depth > kMaxDepth) return Fail();
    int map = t_->Add(Here(YNode::Type::kMap));
    int last = -1;
    while (true) {
      int key = Key();
      if (key < 0) return Fail();
      SkipSpaces();
      int value = AtLineEnd() ? NodeBelow(indent, true, depth) : InlineNode(depth);
      if (value < 0 || failed_) return Fail();
      t_->Append(map, &last, key);
      t_->Append(map, &last, value);
      if (AtEnd()) return map;
      const int col = Column();
      if (col < indent) return map;
      if (col > indent) return Fail();
    }
  }

  // A block sequence whose '-' are at column `indent`; the position is at the
  // first '-', and ends at the first token after it.
  int BlockSeq(int indent, int depth) {
    if (depth > kMaxDepth) return Fail();
    int seq = t_->Add(Here(YNode::Type::kSequence));
    int last = -1;
    while (true) {
      ++p_;  // the '-'
      SkipSpaces();
      int item;
      if (AtLineEnd()) {
        item = NodeBelow(indent, false, depth);
      } else if (AtSeqEntry()) {
        return Fail();  // "- - a"
      } else {
        size_t colon = 0;
        KeyScan k = ScanKey(&colon);
        if (k == KeyScan::kUnsupported) return Fail();
        item = k == KeyScan::kKey ? BlockMap(Column(), depth + 1) : InlineNode(depth);
      }
      if (item < 0 || failed_) return Fail();
      t_->Append(seq, &last, item);
      if (AtEnd()) return seq;
      const int col = Column();
      if (col < indent) return seq;
      if (col > indent) return Fail();
      if (!AtSeqEntry()) return seq;  // a key after an indentless sequence
    }
  }

  std::string_view s_;
  YTree* t_;
  size_t p_ = 0;
  size_t line_start_ = 0;
  int line_ = 1;
  bool failed_ = false;
};

// ---- yaml-cpp to the tree ---------------------------------------------------------

// Converts yaml-cpp's node graph. Aliases are expanded; a graph that is too deep
// (an alias inside its own anchor) or too large (aliases of aliases) stops
// with `*too_big` set instead of recursing or allocating without end.
class YamlCppConverter {
 public:
  YamlCppConverter(YTree* t, size_t text_size) : t_(t), budget_(64 * text_size + 100000) {}
  bool too_big() const { return too_big_; }

  int Convert(const YAML::Node& n, int depth) {
    YNode y;
    const YAML::Mark m = n.Mark();
    if (!m.is_null()) {
      y.line = m.line + 1;
      y.column = m.column + 1;
    }
    if (depth > kMaxDepth || budget_ == 0) {
      too_big_ = true;
      return t_->Add(y);
    }
    --budget_;
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return t_->Add(y);
      case YAML::NodeType::Scalar:
        y.type = YNode::Type::kScalar;
        y.plain = n.Tag() == "?";
        y.scalar = t_->Own(n.Scalar());
        return t_->Add(y);
      case YAML::NodeType::Sequence: {
        y.type = YNode::Type::kSequence;
        int seq = t_->Add(y), last = -1;
        for (const auto& e : n) t_->Append(seq, &last, Convert(e, depth + 1));
        return seq;
      }
      case YAML::NodeType::Map: {
        y.type = YNode::Type::kMap;
        int map = t_->Add(y), last = -1;
        for (auto it = n.begin(); it != n.end(); ++it) {
          int k = Convert(it->first, depth + 1);
          int v = Convert(it->second, depth + 1);
          t_->Append(map, &last, k);
          t_->Append(map, &last, v);
        }
        return map;
      }
    }
    return t_->Add(y);
  }

 private:
  static constexpr int kMaxDepth = 2500;  // above yaml-cpp's own parsing limit
  YTree* t_;
  size_t budget_;
  bool too_big_ = false;
};

// After a YAML syntax error: the first block line indented at no level of the
// blocks around it (an indentation slip), as " (line N: 'key' is indented K
// spaces, but the keys around it are at A or B)", else "". Tabs, flow
// collections and block scalars are left to yaml-cpp's message.
std::string IndentationSlip(std::string_view text) {
  std::vector<int> levels;  // indents of the open blocks, increasing
  bool opens = true;        // the previous line opens a block (ends with ':' or is "- ")
  int line = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view l = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const size_t first = l.find_first_not_of(' ');
    if (first == std::string_view::npos || l[first] == '#') continue;
    if (l[first] == '\t' || l.find('|') != std::string_view::npos ||
        l.find('>') != std::string_view::npos)
      return "";
    if (line == 1 && l.substr(0, 3) == "---") continue;
    // A flow collection over several lines: its lines have no block indentation.
    if (std::count(l.begin(), l.end(), '[') + std::count(l.begin(), l.end(), '{') !=
        std::count(l.begin(), l.end(), ']') + std::count(l.begin(), l.end(), '}'))
      return "";
    const int indent = static_cast<int>(first);
    std::string_view content = l.substr(first);
    if (const size_t hash = content.find(" #"); hash != std::string_view::npos)
      content = content.substr(0, hash);
    while (!content.empty() && content.back() == ' ') content.remove_suffix(1);
    std::string_view key = content;
    int key_indent = indent;
    while (key.substr(0, 2) == "- " || key == "-") {  // "- - a:" nests sequences
      key = key.size() > 2 ? key.substr(2) : std::string_view();
      key_indent += 2;
      while (!key.empty() && key[0] == ' ') key.remove_prefix(1), ++key_indent;
    }
    if (levels.empty() || indent > levels.back()) {
      if (!levels.empty() && !opens) {
        const std::string name(key.substr(0, key.find(':')));
        return fmt::format(
            " (line {}: '{}' is indented {} spaces, deeper than the line before, "
            "which opens no block)",
            line, name, indent);
      }
      levels.push_back(indent);
    } else {
      while (!levels.empty() && levels.back() > indent) levels.pop_back();
      if (levels.empty() || levels.back() != indent) {
        const std::string name(key.substr(0, key.find(':')));
        std::string around;
        if (!levels.empty()) around = std::to_string(levels.back());
        return fmt::format(
            " (line {}: '{}' is indented {} spaces, which matches no block around "
            "it{}{})",
            line, name, indent, around.empty() ? "" : "; the enclosing one is at ", around);
      }
    }
    if (key_indent != indent) levels.push_back(key_indent);
    opens = content.back() == ':' || content == "-";
  }
  return "";
}

// Reads `text` into `tree`: the fast reader, else yaml-cpp. Returns the root, or
// -1 after adding a diagnostic for a syntax error.
int ReadYaml(const std::string& text, const std::string& file, YamlReader reader, YTree* tree,
             std::vector<Diagnostic>* diags) {
  if (reader == YamlReader::kAuto) {
    int root = FastYamlReader(text, tree).Parse();
    if (root >= 0) return root;
    tree->Clear();
  }
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    if (e.msg == YAML::ErrorMsg::BAD_FILE) {
      // yaml-cpp's depth guard (2000 levels) says "bad file", at a mark that
      // may be past the text: name the line that nests deepest instead.
      int line = 1, best_line = 1;
      size_t best = 0, opens = 0;
      for (size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == '\n') {
          if (opens > best) best = opens, best_line = line;
          opens = 0;
          ++line;
        } else if (text[i] == '[' || text[i] == '{' ||
                   (text[i] == '-' && i + 1 < text.size() && text[i + 1] == ' ')) {
          ++opens;
        }
      }
      diags->push_back({{file, best_line, 1}, "YAML nested too deeply (more than 2000 levels)"});
      return -1;
    }
    diags->push_back({{file, e.mark.line + 1, e.mark.column + 1}, e.msg + IndentationSlip(text)});
    return -1;
  }
  YamlCppConverter conv(tree, text.size());
  int root = conv.Convert(node, 0);
  if (conv.too_big())
    diags->push_back({{file, 1, 1}, "YAML too deeply nested or too large (an alias loop?)"});
  return root;
}

// ---- The flow reader --------------------------------------------------------------

// What a mapping is, for messages ("recipe", "dataset x", "column x.y");
// formatted only when a message needs it.
struct What {
  const char* pattern;
  std::string_view a{}, b{};
  std::string str() const { return fmt::format(fmt::runtime(pattern), a, b); }
};

// Keys already seen in one mapping.
class KeySet {
 public:
  // False when `key` was already inserted.
  bool Insert(std::string_view key) {
    if (!set_.empty()) return set_.insert(key).second;
    if (std::find(small_.begin(), small_.end(), key) != small_.end()) return false;
    small_.push_back(key);
    if (small_.size() > kSmall) set_.insert(small_.begin(), small_.end());
    return true;
  }

 private:
  static constexpr size_t kSmall = 16;
  std::vector<std::string_view> small_;
  std::unordered_set<std::string_view> set_;
};

using Keys = std::initializer_list<std::string_view>;

class Reader {
 public:
  Reader(const YTree& tree, std::string file, std::vector<Diagnostic>* diags)
      : t_(tree), file_(std::move(file)), diags_(diags) {}

  const YNode& N(int i) const { return t_[i]; }
  bool IsMap(int i) const { return N(i).type == YNode::Type::kMap; }
  bool IsSeq(int i) const { return N(i).type == YNode::Type::kSequence; }
  bool IsScalar(int i) const { return N(i).type == YNode::Type::kScalar; }
  bool IsNull(int i) const { return N(i).type == YNode::Type::kNull; }
  // yaml-cpp's Scalar(): the text of a scalar, "" for anything else.
  std::string_view Scalar(int i) const { return N(i).scalar; }

  SourceLoc Loc(int i) const {
    const YNode& n = N(i);
    if (n.line == 0) return {file_, 0, 0};
    return {file_, n.line, n.column};
  }
  void Error(int i, std::string msg) { diags_->push_back({Loc(i), std::move(msg)}); }
  void Error(SourceLoc loc, std::string msg) {
    diags_->push_back({std::move(loc), std::move(msg)});
  }

  // Calls fn(value) for each element of a sequence.
  template <typename Fn>
  void ForEachItem(int seq, Fn&& fn) const {
    for (int c = N(seq).first; c >= 0; c = N(c).next) fn(c);
  }

  // Iterates a mapping, reporting duplicate and unknown keys (any key is known
  // when `known` is empty); calls fn(key text, key node, value node).
  template <typename Fn>
  void ForEachKey(int map, const What& what, Keys known, Fn&& fn) {
    if (!IsMap(map)) {
      Error(map, fmt::format("{} must be a mapping", what.str()));
      return;
    }
    KeySet seen;
    for (int k = N(map).first; k >= 0; k = N(N(k).next).next) {
      const int v = N(k).next;
      const std::string_view key = Scalar(k);
      if (!seen.Insert(key)) {
        Error(k, fmt::format("duplicate key '{}' in {}", key, what.str()));
        continue;
      }
      if (known.size() != 0 && std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (const auto& name : known) {
          if (!list.empty()) list += ", ";
          list += name;
        }
        Error(k,
              fmt::format("unknown key '{}' in {} (expected one of: {})", key, what.str(), list));
        continue;
      }
      fn(key, k, v);
    }
  }

  bool String(int n, std::string_view what, std::string* out) {
    if (!IsScalar(n)) {
      Error(n, fmt::format("{} must be a string", what));
      return false;
    }
    out->assign(Scalar(n));
    return true;
  }

  bool StringList(int n, std::string_view what, std::vector<std::string>* out,
                  std::vector<SourceLoc>* locs = nullptr) {
    if (IsScalar(n)) {  // a single name is accepted for a one-element list
      out->emplace_back(Scalar(n));
      if (locs) locs->push_back(Loc(n));
      return true;
    }
    if (!IsSeq(n)) {
      Error(n, fmt::format("{} must be a list of names", what));
      return false;
    }
    size_t count = 0;
    for (int e = N(n).first; e >= 0; e = N(e).next) ++count;
    out->reserve(out->size() + count);
    if (locs) locs->reserve(locs->size() + count);
    for (int e = N(n).first; e >= 0; e = N(e).next) {
      if (!IsScalar(e)) {
        Error(e, fmt::format("{} must be a list of names", what));
        return false;
      }
      out->emplace_back(Scalar(e));
      if (locs) locs->push_back(Loc(e));
    }
    return true;
  }

  bool Number(int n, std::string_view who, std::string_view what, double* out) {
    nlohmann::json j = ToJson(n);
    if (!j.is_number() || j.get<double>() < 0) {
      Error(n, fmt::format("{} {} must be a non-negative number", who, what));
      return false;
    }
    *out = j.get<double>();
    return true;
  }

  bool Int(int n, std::string_view what, int* out) {
    nlohmann::json j = ToJson(n);
    if (!j.is_number_integer() || j.get<int64_t>() < 0 || j.get<int64_t>() > 1000) {
      Error(n, fmt::format("{} must be an integer between 0 and 1000", what));
      return false;
    }
    *out = j.get<int>();
    return true;
  }

  // YAML to JSON with YAML 1.2 core-schema typing of plain scalars; quoted
  // scalars are always strings.
  nlohmann::json ToJson(int i) {
    const YNode& n = N(i);
    switch (n.type) {
      case YNode::Type::kNull:
        return nullptr;
      case YNode::Type::kScalar: {
        const std::string_view s = n.scalar;
        if (!n.plain) return std::string(s);  // quoted or explicitly tagged
        if (s == "~" || s == "null" || s == "Null" || s == "NULL" || s.empty()) return nullptr;
        if (s == "true" || s == "True" || s == "TRUE") return true;
        if (s == "false" || s == "False" || s == "FALSE") return false;
        int64_t v;
        auto r = std::from_chars(s.data(), s.data() + s.size(), v);
        if (r.ec == std::errc() && r.ptr == s.data() + s.size() && !(s.size() > 1 && s[0] == '0'))
          return v;
        double d;
        auto rd = std::from_chars(s.data(), s.data() + s.size(), d);
        if (rd.ec == std::errc() && rd.ptr == s.data() + s.size() &&
            s.find_first_of("0123456789") != std::string_view::npos &&
            s.find_first_of("xXpP") == std::string_view::npos)
          return d;
        return std::string(s);
      }
      case YNode::Type::kSequence: {
        nlohmann::json arr = nlohmann::json::array();
        for (int e = n.first; e >= 0; e = N(e).next) arr.push_back(ToJson(e));
        return arr;
      }
      case YNode::Type::kMap: {
        nlohmann::json obj = nlohmann::json::object();
        KeySet seen;
        for (int k = n.first; k >= 0; k = N(N(k).next).next) {
          const std::string_view key = Scalar(k);
          if (!seen.Insert(key)) {
            Error(k, fmt::format("duplicate key '{}'", key));
            continue;
          }
          obj[std::string(key)] = ToJson(N(k).next);
        }
        return obj;
      }
    }
    return nullptr;
  }

  void Policy(std::string_view key, int v, ExecPolicy* p, std::string_view who) {
    if (key == "timeout") {
      double d;
      if (Number(v, who, "timeout (seconds)", &d)) p->timeout_seconds = d;
    } else if (key == "retries") {
      int i;
      if (Int(v, fmt::format("{} retries", who), &i)) p->retries = i;
    } else if (key == "retry_backoff") {
      double d;
      if (Number(v, who, "retry_backoff (seconds)", &d)) p->retry_backoff_seconds = d;
    }
  }

 private:
  const YTree& t_;
  std::string file_;
  std::vector<Diagnostic>* diags_;
};

RecipeSpec ParseRecipe(Reader& r, int node) {
  RecipeSpec rs;
  rs.loc = r.Loc(node);
  rs.params_loc = rs.loc;
  rs.kind_loc = rs.loc;
  r.ForEachKey(node, What{"recipe"},
               {"name", "kind", "inputs", "outputs", "params", "script", "timeout", "retries",
                "retry_backoff", "description"},
               [&](std::string_view key, int, int v) {
                 if (key == "name") {
                   r.String(v, "recipe name", &rs.name);
                 } else if (key == "kind") {
                   rs.kind_loc = r.Loc(v);
                   r.String(v, "recipe kind", &rs.kind);
                 } else if (key == "inputs") {
                   r.StringList(v, "inputs", &rs.inputs, &rs.input_locs);
                 } else if (key == "outputs") {
                   r.StringList(v, "outputs", &rs.outputs, &rs.output_locs);
                 } else if (key == "params") {
                   rs.params_loc = r.Loc(v);
                   if (r.IsNull(v)) return;
                   if (!r.IsMap(v)) {
                     r.Error(v, "params must be a mapping");
                     return;
                   }
                   rs.params = r.ToJson(v);
                   for (int k = r.N(v).first; k >= 0; k = r.N(r.N(k).next).next)
                     rs.param_locs[std::string(r.Scalar(k))] = r.Loc(r.N(k).next);
                 } else if (key == "script") {
                   r.String(v, "script", &rs.script);
                 } else if (key == "description") {
                   r.String(v, "description", &rs.description);
                 } else {
                   r.Policy(key, v, &rs.policy, "recipe");
                 }
               });
  if (rs.name.empty() && r.IsMap(node)) r.Error(node, "recipe has no name");
  if (rs.kind.empty() && r.IsMap(node) && !rs.name.empty())
    r.Error(node, fmt::format("recipe {} has no kind", rs.name));
  if (!rs.params.is_object()) rs.params = nlohmann::json::object();
  return rs;
}

DatasetSpec ParseDataset(Reader& r, std::string_view name, int node) {
  DatasetSpec ds;
  ds.name = name;
  ds.loc = r.Loc(node);
  if (r.IsNull(node)) return ds;
  r.ForEachKey(node, What{"dataset {}", name}, {"description", "columns"},
               [&](std::string_view key, int, int v) {
                 if (key == "description") {
                   r.String(v, "description", &ds.description);
                   return;
                 }
                 r.ForEachKey(v, What{"columns of dataset {}", name}, {},
                              [&](std::string_view col, int k, int cv) {
                                ColumnSpec cs;
                                cs.name = col;
                                cs.loc = r.Loc(k);
                                if (!r.IsNull(cv))
                                  r.ForEachKey(cv, What{"column {}.{}", name, col},
                                               {"tags", "description"},
                                               [&](std::string_view ck, int, int x) {
                                                 if (ck == "tags")
                                                   r.StringList(x, "tags", &cs.tags);
                                                 else
                                                   r.String(x, "description", &cs.description);
                                               });
                                ds.columns.push_back(std::move(cs));
                              });
               });
  return ds;
}

// `schedule: {cron, timezone, start, end, dst_gap, dst_overlap, catchup}`;
// each value checked as core/sched reads it, the error at its place.
Schedule ParseSchedule(Reader& r, int v) {
  Schedule s;
  s.loc = r.Loc(v);
  auto check = [&](int node, const Status& st) {
    if (!st.ok()) r.Error(node, "schedule " + st.message());
  };
  r.ForEachKey(
      v, What{"schedule"},
      {"cron", "timezone", "catchup", "start", "end", "dst_gap", "dst_overlap", "retries",
       "retry_delay", "max_active_runs", "overlap", "timeout", "late_after"},
      [&](std::string_view sk, int, int sv) {
        if (sk == "retries" || sk == "max_active_runs") {
          const bool retries = sk == "retries";
          const int64_t lo = retries ? 0 : 1, hi = retries ? 100 : 1000;
          nlohmann::json j = r.ToJson(sv);
          if (!j.is_number_integer() || j.get<int64_t>() < lo || j.get<int64_t>() > hi)
            r.Error(sv,
                    fmt::format("schedule {} must be an integer between {} and {}", sk, lo, hi));
          else
            (retries ? s.retries : s.max_active_runs) = j.get<int>();
        } else if (sk == "retry_delay" || sk == "timeout" || sk == "late_after") {
          std::string* out = sk == "retry_delay" ? &s.retry_delay
                             : sk == "timeout"   ? &s.timeout
                                                 : &s.late_after;
          if (r.String(sv, fmt::format("schedule {}", sk), out)) {
            auto d = sched::ParseWindow(*out);
            if (!d.ok())
              r.Error(sv, fmt::format("schedule {} '{}' must be a positive duration, "
                                      "e.g. 90s, 30m, 2h",
                                      sk, *out));
          }
        } else if (sk == "overlap") {
          if (r.String(sv, "schedule overlap", &s.overlap) && s.overlap != "skip" &&
              s.overlap != "queue" && s.overlap != "cancel")
            r.Error(sv, fmt::format("schedule overlap must be skip, queue or cancel, "
                                    "not '{}'",
                                    s.overlap));
        } else if (sk == "cron") {
          if (r.String(sv, "schedule cron", &s.cron))
            check(sv, sched::CronExpr::Parse(s.cron).status());
        } else if (sk == "timezone") {
          if (r.String(sv, "schedule timezone", &s.timezone))
            check(sv, sched::TimeZone::Load(s.timezone).status());
        } else if (sk == "start" || sk == "end") {
          std::string* out = sk == "start" ? &s.start : &s.end;
          if (r.String(sv, fmt::format("schedule {}", sk), out)) {
            auto t = sched::ParseLocalTime(*out);
            if (!t.ok()) r.Error(sv, fmt::format("schedule {} {}", sk, t.status().message()));
          }
        } else if (sk == "dst_gap") {
          if (r.String(sv, "schedule dst_gap", &s.dst_gap))
            check(sv, sched::ParseDstGap(s.dst_gap).status());
        } else if (sk == "dst_overlap") {
          if (r.String(sv, "schedule dst_overlap", &s.dst_overlap))
            check(sv, sched::ParseDstOverlap(s.dst_overlap).status());
        } else if (r.IsMap(sv)) {  // catchup: {policy, max, window}
          r.ForEachKey(sv, What{"schedule catchup"}, {"policy", "max", "window"},
                       [&](std::string_view ck, int, int cv) {
                         if (ck == "policy") {
                           if (r.String(cv, "schedule catchup policy", &s.catchup))
                             check(cv, sched::ParseCatchupMode(s.catchup).status());
                         } else if (ck == "max") {
                           nlohmann::json j = r.ToJson(cv);
                           if (!j.is_number_integer() || j.get<int64_t>() < 1 ||
                               j.get<int64_t>() > sched::kMaxCatchupMax)
                             r.Error(cv, fmt::format("schedule catchup max must be an integer "
                                                     "between 1 and {}",
                                                     sched::kMaxCatchupMax));
                           else
                             s.catchup_max = j.get<int>();
                         } else if (r.String(cv, "schedule catchup window", &s.catchup_window)) {
                           check(cv, sched::ParseWindow(s.catchup_window).status());
                         }
                       });
        } else if (r.String(sv, "schedule catchup", &s.catchup)) {
          check(sv, sched::ParseCatchupMode(s.catchup).status());
        }
      });
  if (s.cron.empty()) r.Error(v, "schedule has no cron expression");
  auto start = sched::ParseLocalTime(s.start), end = sched::ParseLocalTime(s.end, true);
  if (start.ok() && end.ok() && *end < *start)
    r.Error(v, fmt::format("schedule end {} is before its start {}", s.end, s.start));
  return s;
}

Flow ReadFlow(Reader& r, int root, const std::string& file, Flow flow,
              std::vector<Diagnostic>* diags) {
  if (!r.IsMap(root)) {
    diags->push_back(
        {{file, 1, 1}, "a flow file must be a mapping with keys flow, datasets, recipes"});
    return flow;
  }
  r.ForEachKey(
      root, What{"flow"},
      {"flow", "usecase", "description", "schedule", "partitions", "datasets", "recipes", "timeout",
       "retries", "retry_backoff"},
      [&](std::string_view key, int k, int v) {
        if (key == "flow") {
          flow.loc = r.Loc(k);
          r.String(v, "flow name", &flow.name);
        } else if (key == "usecase") {
          r.String(v, "usecase", &flow.usecase);
        } else if (key == "description") {
          r.String(v, "description", &flow.description);
        } else if (key == "schedule") {
          flow.schedule = ParseSchedule(r, v);
        } else if (key == "partitions") {
          Partitioning p;
          p.loc = r.Loc(v);
          r.ForEachKey(v, What{"partitions"}, {"by", "values"},
                       [&](std::string_view pk, int, int pv) {
                         if (pk == "by")
                           r.String(pv, "partitions by", &p.by);
                         else
                           r.StringList(pv, "partition values", &p.values);
                       });
          if (p.by.empty()) r.Error(v, "partitions has no 'by'");
          flow.partitioning = p;
        } else if (key == "datasets") {
          r.ForEachKey(v, What{"datasets"}, {}, [&](std::string_view name, int, int dv) {
            flow.datasets[std::string(name)] = ParseDataset(r, name, dv);
          });
        } else if (key == "recipes") {
          if (!r.IsSeq(v)) {
            r.Error(v, "recipes must be a list");
            return;
          }
          r.ForEachItem(v, [&](int rn) {
            if (!r.IsMap(rn)) {
              r.Error(rn, "a recipe must be a mapping with name, kind, inputs, outputs, params");
              return;
            }
            flow.recipes.push_back(ParseRecipe(r, rn));
          });
        } else {
          r.Policy(key, v, &flow.policy, "flow");
        }
      });
  if (flow.name.empty()) diags->push_back({{file, 1, 1}, "flow file has no 'flow:' name"});
  return flow;
}

void DumpNode(const YTree& t, int i, int depth, std::string* out) {
  const YNode& n = t[i];
  static constexpr const char* kTypes[] = {"null", "scalar", "seq", "map"};
  *out += fmt::format("{:{}}{}:{} {}", "", depth * 2, n.line, n.column,
                      kTypes[static_cast<int>(n.type)]);
  if (n.type == YNode::Type::kScalar)
    *out += fmt::format(" {} [{}]", n.plain ? "plain" : "tagged", n.scalar);
  *out += '\n';
  for (int c = n.first; c >= 0; c = t[c].next) DumpNode(t, c, depth + 1, out);
}

}  // namespace

Flow ParseFlow(const std::string& text, const std::string& file, std::vector<Diagnostic>* diags,
               YamlReader reader) {
  Flow flow;
  flow.file = file;
  flow.loc = {file, 1, 1};
  YTree tree;
  int root = ReadYaml(text, file, reader, &tree, diags);
  if (root < 0) return flow;
  Reader r(tree, file, diags);
  return ReadFlow(r, root, file, std::move(flow), diags);
}

std::optional<std::string> DumpYamlTree(std::string_view text, YamlReader reader) {
  YTree tree;
  int root = -1;
  if (reader == YamlReader::kAuto) {
    root = FastYamlReader(text, &tree).Parse();
  } else {
    try {
      YAML::Node node = YAML::Load(std::string(text));
      YamlCppConverter conv(&tree, text.size());
      root = conv.Convert(node, 0);
    } catch (const YAML::Exception&) {
      root = -1;
    }
  }
  if (root < 0) return std::nullopt;
  std::string out;
  DumpNode(tree, root, 0, &out);
  return out;
}

namespace {

bool ReadText(const std::filesystem::path& p, std::string* out) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(p.c_str(), "rb"), &std::fclose);
  if (!f) return false;
  out->clear();
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out->append(buf, n);
  return !std::ferror(f.get());
}

// Limits in alambic.yaml (`lua:`, `plugins:`) above this are clamped to it,
// so that converting them to integers stays defined.
constexpr double kLimitCeiling = 1e15;

// A path of alambic.yaml: as is when absolute, else under `base`.
std::filesystem::path Under(const std::filesystem::path& base, const std::string& path) {
  std::filesystem::path p(path);
  return p.is_absolute() ? p : base / p;
}

constexpr const char* kLocalExecutor = "local";
constexpr const char* kReleasesOnlyByDefault = "warehouse";

// The connections (`secrets` false) or secrets of environment `env`: a mapping
// of name -> {type, path} or name -> {env: VAR} | {file: PATH}. Their names go
// to `names`; ResolveConnection() and ResolveSecret() read their values.
void ParseEnvironmentEntries(Reader& r, int node, std::string_view env, bool secrets,
                             std::vector<std::string>* names) {
  const char* section = secrets ? "environments.{}.secrets" : "environments.{}.connections";
  r.ForEachKey(node, What{section, env}, {}, [&](std::string_view name, int, int v) {
    names->emplace_back(name);
    const std::string where = fmt::format("{}.{}", What{section, env}.str(), name);
    int count = 0;
    bool has_type = false, has_path = false;
    auto entry = [&](std::string_view key, int, int ev) {
      ++count;
      has_type |= key == "type";
      has_path |= key == "path";
      std::string value;
      if (!r.String(ev, fmt::format("{}.{}", where, key), &value)) return;
      if (value.empty()) {
        r.Error(ev, fmt::format("{}.{} must not be empty", where, key));
      } else if (key == "type" && value != "sqlite" && value != "file") {
        r.Error(ev, fmt::format("{}.type: '{}' is not supported (expected sqlite or file)", where,
                                value));
      }
    };
    if (secrets)
      r.ForEachKey(v, What{"{}", where}, {"env", "file"}, entry);
    else
      r.ForEachKey(v, What{"{}", where}, {"type", "path"}, entry);
    if (!r.IsMap(v)) return;  // reported
    if (secrets && count != 1)
      r.Error(v, fmt::format("{} must be {{env: VARIABLE}} or {{file: PATH}}", where));
    if (!secrets && (!has_type || !has_path))
      r.Error(v, fmt::format("{} needs a type and a path", where));
  });
}

// One entry of `environments:`; `state_root` is where relative stores resolve.
void ParseEnvironment(Reader& r, int node, const std::filesystem::path& root,
                      const std::filesystem::path& state_root, EnvironmentSpec* env) {
  const std::string_view name = env->name;
  r.ForEachKey(node, What{"environments.{}", name},
               {"store", "executor", "releases_only", "data_roots", "connections", "secrets"},
               [&](std::string_view key, int, int v) {
                 const std::string what = fmt::format("environments.{}.{}", name, key);
                 if (key == "store") {
                   std::string path;
                   if (!r.String(v, what, &path)) return;
                   if (path.empty()) {
                     r.Error(v, fmt::format("{} must not be empty", what));
                     return;
                   }
                   env->store = Under(state_root, path).lexically_normal();
                 } else if (key == "executor") {
                   if (r.String(v, what, &env->executor) && env->executor != kLocalExecutor)
                     r.Error(v, fmt::format("{}: '{}' is not supported (only local so far)", what,
                                            env->executor));
                 } else if (key == "releases_only") {
                   const nlohmann::json b = r.ToJson(v);
                   if (b.is_boolean())
                     env->releases_only = b.get<bool>();
                   else
                     r.Error(v, fmt::format("{} must be true or false", what));
                 } else if (key == "data_roots") {
                   std::vector<std::string> roots;
                   r.StringList(v, what, &roots);
                   for (const auto& d : roots) env->data_roots.push_back(Under(root, d));
                 } else if (key == "connections") {
                   ParseEnvironmentEntries(r, v, name, false, &env->connections);
                 } else if (key == "secrets") {
                   ParseEnvironmentEntries(r, v, name, true, &env->secrets);
                 }
               });
}

void ParseConfig(const std::string& text, const std::filesystem::path& root,
                 const std::filesystem::path& state_root, WorkspaceConfig* cfg,
                 std::vector<Diagnostic>* diags) {
  const std::string file = "alambic.yaml";
  YTree tree;
  int node = ReadYaml(text, file, YamlReader::kAuto, &tree, diags);
  if (node < 0) return;
  Reader r(tree, file, diags);
  if (r.IsNull(node)) return;
  r.ForEachKey(
      node, What{"alambic.yaml"},
      {"name", "default_environment", "environments", "data_roots", "gc", "lua", "plugins",
       "connections", "secrets", "catalog", "openlineage"},
      [&](std::string_view key, int, int v) {
        if (key == "name") {
          r.String(v, "name", &cfg->name);
        } else if (key == "default_environment") {
          r.String(v, "default_environment", &cfg->default_environment);
        } else if (key == "environments") {
          r.ForEachKey(v, What{"environments"}, {}, [&](std::string_view env, int k, int ev) {
            EnvironmentSpec spec;
            spec.name = std::string(env);
            spec.loc = r.Loc(k);
            spec.releases_only = env == kReleasesOnlyByDefault;
            if (!r.IsNull(ev)) ParseEnvironment(r, ev, root, state_root, &spec);
            cfg->environments[spec.name] = std::move(spec);
          });
        } else if (key == "data_roots") {
          std::vector<std::string> roots;
          r.StringList(v, "data_roots", &roots);
          for (const auto& d : roots) {
            cfg->data_roots.push_back(Under(root, d));
          }
        } else if (key == "gc") {
          r.ForEachKey(v, What{"gc"}, {"keep_runs"}, [&](std::string_view, int, int gv) {
            r.Int(gv, "gc keep_runs", &cfg->gc_keep_runs);
          });
        } else if (key == "lua" || key == "plugins") {
          const bool lua = key == "lua";
          ResourceLimits* lim = lua ? &cfg->lua_limits : &cfg->plugin_limits;
          const char* who = lua ? "lua" : "plugins";
          auto fn = [&](std::string_view lk, int, int lv) {
            double d = 0;
            if (lk == "dirs") {
              std::vector<std::string> dirs;
              r.StringList(lv, "plugins dirs", &dirs);
              for (const auto& dir : dirs) {
                std::filesystem::path p(dir);
                cfg->plugin_dirs.push_back(p.is_absolute() ? p : root / p);
              }
            } else if (r.Number(lv, who, lk, &d)) {
              d = std::min(d, kLimitCeiling);  // beyond: no limit in practice
              if (lk == "memory_mb") lim->memory_mb = static_cast<int64_t>(d);
              if (lk == "instructions") lim->instructions = static_cast<int64_t>(d);
              if (lk == "timeout_s") lim->timeout_s = d;
            }
          };
          if (lua)
            r.ForEachKey(v, What{"lua"}, {"memory_mb", "instructions", "timeout_s"}, fn);
          else
            r.ForEachKey(v, What{"plugins"}, {"dirs", "memory_mb", "timeout_s"}, fn);
        } else if (key == "catalog") {
          r.ForEachKey(v, What{"catalog"}, {"path"}, [&](std::string_view, int, int cv) {
            std::string path;
            if (r.String(cv, "catalog path", &path) && !path.empty()) {
              std::filesystem::path p(path);
              cfg->catalog_path = p.is_absolute() ? p : root / p;
            }
          });
        } else if (key == "openlineage") {
          r.ForEachKey(
              v, What{"openlineage"}, {"url", "namespace", "retries", "retry_backoff", "timeout"},
              [&](std::string_view k, int, int ov) {
                if (k == "url") {
                  if (r.String(ov, "openlineage url", &cfg->openlineage_url) &&
                      cfg->openlineage_url.rfind("http://", 0) != 0 &&
                      cfg->openlineage_url.rfind("https://", 0) != 0)
                    r.Error(ov, "openlineage url must start with http:// or https://");
                } else if (k == "namespace") {
                  r.String(ov, "openlineage namespace", &cfg->openlineage_namespace);
                } else if (k == "retries") {
                  r.Int(ov, "openlineage retries", &cfg->openlineage_retries);
                } else if (k == "retry_backoff") {
                  r.Number(ov, "openlineage", "retry_backoff",
                           &cfg->openlineage_retry_backoff_seconds);
                } else if (k == "timeout") {
                  r.Number(ov, "openlineage", "timeout", &cfg->openlineage_timeout_seconds);
                }
              });
        }
        // connections and secrets are read by the subsystems that use them.
      });
  if (cfg->environments.empty()) {
    for (const char* name : {"datalab", "warehouse"}) {
      EnvironmentSpec spec;
      spec.name = name;
      spec.releases_only = spec.name == kReleasesOnlyByDefault;
      cfg->environments[name] = std::move(spec);
    }
  }
  for (auto& [name, env] : cfg->environments)
    if (env.store.empty()) env.store = state_root / ".alambic" / "store" / name;
  if (!cfg->environments.count(cfg->default_environment))
    diags->push_back({{file, 1, 1},
                      fmt::format("default_environment '{}' is not among the environments",
                                  cfg->default_environment)});
}

}  // namespace

std::filesystem::path FindWorkspaceRoot(const std::filesystem::path& start) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(start, ec);
  for (auto cur = p; !cur.empty(); cur = cur.parent_path()) {
    if (std::filesystem::exists(cur / "alambic.yaml", ec)) return cur;
    if (cur == cur.parent_path()) break;
  }
  return p;
}

namespace {

// Reads alambic.yaml into `out`; false when there is none.
// An absolute, normal path without a trailing separator.
std::filesystem::path NormalRoot(const std::filesystem::path& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path root = fs::absolute(p, ec).lexically_normal();
  if (!root.empty() && root.filename().empty()) root = root.parent_path();
  return root;
}

bool ReadConfig(const std::filesystem::path& root_in, const LoadOptions& options,
                LoadedWorkspace* out) {
  namespace fs = std::filesystem;
  const fs::path root = NormalRoot(root_in);
  out->workspace.root = root;
  std::string text;
  if (!ReadText(root / "alambic.yaml", &text)) {
    out->diagnostics.push_back({{(root / "alambic.yaml").string(), 0, 0},
                                "not an Alambic workspace (no alambic.yaml; create one with "
                                "'alambic init DIR')"});
    return false;
  }
  const fs::path state_root = options.state_root.empty() ? root : NormalRoot(options.state_root);
  ParseConfig(text, root, state_root, &out->workspace.config, &out->diagnostics);
  return true;
}

}  // namespace

LoadedWorkspace LoadWorkspaceConfig(const std::filesystem::path& root, const LoadOptions& options) {
  LoadedWorkspace out;
  ReadConfig(root, options, &out);
  return out;
}

LoadedWorkspace LoadWorkspace(const std::filesystem::path& root_in, const LoadOptions& options) {
  namespace fs = std::filesystem;
  LoadedWorkspace out;
  if (!ReadConfig(root_in, options, &out)) return out;
  const fs::path& root = out.workspace.root;
  std::error_code ec;
  std::string text;

  std::vector<fs::path> files;
  for (auto it = fs::directory_iterator(root / "flows", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    auto ext = it->path().extension();
    if (it->is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  const FlowCache cache((options.state_root.empty() ? root : NormalRoot(options.state_root)) /
                        ".alambic" / "cache" / "flows");
  bool stored = false;
  std::vector<std::string> rels;
  std::map<std::string, SourceLoc> flow_names;
  for (const auto& f : files) {
    std::string rel = fs::relative(f, root).string();
    rels.push_back(rel);
    if (!ReadText(f, &text)) {
      out.diagnostics.push_back({{rel, 0, 0}, "cannot read file"});
      continue;
    }
    Flow flow;
    if (!options.flow_cache || !cache.Lookup(rel, text, &flow)) {
      std::vector<Diagnostic> diags;
      flow = ParseFlow(text, rel, &diags);
      if (options.flow_cache && diags.empty()) stored |= cache.Store(rel, text, flow);
      out.diagnostics.insert(out.diagnostics.end(), std::make_move_iterator(diags.begin()),
                             std::make_move_iterator(diags.end()));
    }
    if (!flow.name.empty()) {
      auto [it, inserted] = flow_names.emplace(flow.name, flow.loc);
      if (!inserted) {
        out.diagnostics.push_back({flow.loc, fmt::format("duplicate flow name '{}' (also in {})",
                                                         flow.name, it->second.ToString())});
        continue;
      }
    }
    out.workspace.flows.push_back(std::move(flow));
  }
  // Entries of deleted or renamed flow files go when the cache changes anyway.
  if (stored) cache.Prune(rels);
  return out;
}

}  // namespace alambic
