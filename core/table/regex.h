// Regular expressions of the formula language (matches()) and of the clean
// recipe (regex_replace, regex_extract), on PCRE2.
//
// Syntax: Perl-compatible (PCRE2). Patterns and values are UTF-8 and the
// character classes are Unicode-aware: \w, \d, \b, [[:alpha:]] and case-less
// matching know accented letters ("É" is a \w). A value holding invalid
// UTF-8 is not an error: a match never spans an invalid byte. `$` matches
// only at the very end of the value (not before a final newline, as in
// ECMAScript); `.` does not match a newline.
//
// Matching is bounded: a match that needs more than kMatchLimit backtracking
// steps, or more backtracking memory than kHeapLimitKiB / kJitStackMax allow,
// stops with an error naming the pattern, instead of running for hours (a
// nested quantifier such as `(a+)+$` backtracks exponentially) or exhausting
// the stack. Patterns are JIT-compiled where the platform supports it.
//
// Thread-safety: a compiled Regex is immutable and may be shared between
// threads; each thread matches through its own Regex::Matcher.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

struct pcre2_real_code_8;

namespace alambic {

class RegexReplacement;

class Regex {
 public:
  // Backtracking steps one match may take (PCRE2's match limit; its default,
  // set explicitly): a few tens of milliseconds with the JIT.
  static constexpr uint32_t kMatchLimit = 10'000'000;
  // Nested backtracking points one match may keep (PCRE2's depth limit) and
  // the memory they may take: the interpreter's heap, or the JIT's stack.
  static constexpr uint32_t kDepthLimit = 10'000'000;
  static constexpr uint32_t kHeapLimitKiB = 64 << 10;
  static constexpr size_t kJitStackMax = size_t{64} << 20;

  // Compiles `pattern`. Errors: "invalid regular expression '<pattern>' at
  // offset <n>: <PCRE2's message>" (n: bytes from the pattern's start).
  static Result<std::shared_ptr<const Regex>> Compile(std::string_view pattern);

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  const std::string& pattern() const { return pattern_; }
  // Number of capturing groups.
  size_t groups() const { return groups_; }
  // True when the pattern was JIT-compiled (false where PCRE2 has no JIT).
  bool jit() const { return jit_; }

  // Matches one value at a time with its own match data and JIT stack. Not
  // safe to share between threads; cheap to make one per thread.
  class Matcher {
   public:
    explicit Matcher(const Regex& re);
    ~Matcher();
    Matcher(const Matcher&) = delete;
    Matcher& operator=(const Matcher&) = delete;

    // Searches `s` for the first match starting at byte `start` or later.
    // Returns false when there is none. Errors (a limit reached):
    // "the regular expression '<pattern>' <PCRE2's message> (...)".
    Result<bool> Search(std::string_view s, size_t start = 0);
    // Group `k` (0: the whole match) of the last successful Search of `s`,
    // nullopt when the group did not take part in the match.
    std::optional<std::string_view> Group(std::string_view s, size_t k) const;
    // Appends `s` to *out with every non-overlapping match replaced by the
    // expansion of `with` (see Replacement). An empty match next to the
    // previous one is skipped, as in Perl and ECMAScript.
    Status ReplaceAll(std::string_view s, const RegexReplacement& with, std::string* out);

   private:
    Result<bool> Match(std::string_view s, size_t start, uint32_t options);
    const Regex& re_;
    struct State;
    std::unique_ptr<State> state_;
  };

 private:
  Regex() = default;
  std::string pattern_;
  pcre2_real_code_8* code_ = nullptr;
  size_t groups_ = 0;
  bool jit_ = false;
};

// The replacement text of regex_replace, parsed once: `$n` or `${n}` is group
// n (0 or `$&`: the whole match; `$nn` takes two digits when the pattern has
// that many groups), `` $` `` the text before the match, `$'` the text after
// it, `$$` a dollar; any other character, and a `$` not followed by one of
// these, is literal. A group that did not take part in the match is empty.
class RegexReplacement {
 public:
  // Errors: "group <n> does not exist: the pattern has <k> group(s)".
  static Result<RegexReplacement> Parse(std::string_view with, const Regex& re);

 private:
  friend class Regex::Matcher;
  static constexpr int kBefore = -1;  // $`
  static constexpr int kAfter = -2;   // $'
  struct Part {
    std::string literal;  // used when group == kLiteral
    int group = kLiteral;
  };
  static constexpr int kLiteral = -3;
  std::vector<Part> parts_;
};

}  // namespace alambic
