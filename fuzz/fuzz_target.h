// One fuzz target per input surface (docs/reliability.md).
//
// Each fuzz/*_fuzz.cc defines its entry point with ALAMBIC_FUZZ_TARGET(name):
// - in the libFuzzer build (ALAMBIC_FUZZ=ON, clang) it is LLVMFuzzerTestOneInput, one
//   executable per target (fuzz_<name>);
// - in the normal builds (ALAMBIC_FUZZ_REPLAY) every target is linked into one driver,
//   alambic_fuzz_replay, that runs each file of fuzz/corpus/<name>/ and
//   fuzz/regressions/<name>/ through its target (the ctest fuzz_corpus_replay).
// A target returns 0 for any input; a broken invariant is FUZZ_CHECK, which aborts (a
// crash for libFuzzer, a failure for the replay).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace alambic::fuzz {

using TargetFn = int (*)(const uint8_t* data, size_t size);

#ifdef ALAMBIC_FUZZ_REPLAY
struct Registrar {
  Registrar(const char* name, TargetFn fn);
};
#endif

// Reads the input as a sequence of choices: bytes, small integers, and the rest as text.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  size_t size() const { return n_; }
  uint8_t Byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  // In [0, bound) (bound > 0).
  unsigned Pick(unsigned bound) { return Byte() % bound; }
  // Up to `max` bytes, as text.
  std::string Text(size_t max) {
    size_t k = std::min<size_t>(max, n_);
    std::string s(reinterpret_cast<const char*>(p_), k);
    p_ += k;
    n_ -= k;
    return s;
  }
  // Bytes up to the next `sep` (consumed) or the end.
  std::string Until(char sep) {
    size_t i = 0;
    while (i < n_ && p_[i] != static_cast<uint8_t>(sep)) ++i;
    std::string s(reinterpret_cast<const char*>(p_), i);
    size_t used = i < n_ ? i + 1 : i;
    p_ += used;
    n_ -= used;
    return s;
  }
  std::string Rest() { return Text(n_); }

 private:
  const uint8_t* p_;
  size_t n_;
};

}  // namespace alambic::fuzz

#define FUZZ_CHECK(cond, what)                                                              \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                              \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

#ifdef ALAMBIC_FUZZ_REPLAY
#define ALAMBIC_FUZZ_TARGET(name)                                                            \
  static int AlambicFuzz_##name(const uint8_t* data, size_t size);                           \
  static const ::alambic::fuzz::Registrar alambic_fuzz_registrar_##name(#name,               \
                                                                        AlambicFuzz_##name); \
  static int AlambicFuzz_##name(const uint8_t* data, size_t size)
#else
#define ALAMBIC_FUZZ_TARGET(name) \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
#endif
