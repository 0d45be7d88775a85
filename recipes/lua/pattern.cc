#include "recipes/lua/pattern.h"

#include <cstddef>
#include <cstring>

#include <lua.hpp>

namespace alambic {
namespace {

constexpr int kMaxCaptures = 32;  // LUA_MAXCAPTURES
constexpr int kMaxDepth = 200;    // MAXCCALLS: deeper is "pattern too complex"
constexpr ptrdiff_t kCapUnfinished = -1;
constexpr ptrdiff_t kCapPosition = -2;
constexpr char kEsc = '%';

// Shared by the four functions and the gmatch iterators of one state (a full
// userdata upvalue, so it lives as long as any of them).
struct Guard {
  LuaPatternCheck check;
  void* ud;
  int64_t left;  // steps before the next check
};

struct Capture {
  const char* init;
  ptrdiff_t len;  // or kCapUnfinished, kCapPosition
};

struct Matcher {
  const char* src_init;
  const char* src_end;  // *src_end == '\0' (a Lua string)
  const char* p_end;    // *p_end == '\0'
  lua_State* L;
  Guard* guard;
  int64_t left;  // steps before the next check (the guard's, while matching)
  int depth;     // recursion levels left
  int level;     // captures open or closed so far
  Capture capture[kMaxCaptures];
};

// Every kLuaPatternStepsPerCheck steps: report them (the check may raise).
[[gnu::noinline]] void Report(Matcher* m) {
  const int64_t steps = kLuaPatternStepsPerCheck - m->left;
  m->left = kLuaPatternStepsPerCheck;
  if (m->guard->check) m->guard->check(m->L, m->guard->ud, steps);
}
inline void Step(Matcher* m, int64_t n = 1) {
  m->left -= n;
  if (m->left <= 0) Report(m);
}

void Prepare(Matcher* m, lua_State* L, Guard* guard, const char* s, size_t ls, const char* p,
             size_t lp) {
  m->L = L;
  m->guard = guard;
  m->src_init = s;
  m->src_end = s + ls;
  m->p_end = p + lp;
}
// The guard's countdown is copied in for a call and back out at its end.
void Load(Matcher* m) { m->left = m->guard->left > 0 ? m->guard->left : 1; }
void Save(Matcher* m) { m->guard->left = m->left; }
void Reset(Matcher* m) {
  m->level = 0;
  m->depth = kMaxDepth;
}

Guard* GuardOf(lua_State* L) { return static_cast<Guard*>(lua_touserdata(L, lua_upvalueindex(1))); }

inline unsigned char U(char c) { return static_cast<unsigned char>(c); }

// Character classes, as <ctype.h> has them in the C locale (Alambic never
// changes the locale, so this is what stock Lua sees too), as bits per byte.
// A table rather than isalpha() & co: those are calls in C++, not macros.
enum ClassBit : uint16_t {
  kAlpha = 1 << 0,
  kCntrl = 1 << 1,
  kDigit = 1 << 2,
  kGraph = 1 << 3,
  kLower = 1 << 4,
  kPunct = 1 << 5,
  kSpace = 1 << 6,
  kUpper = 1 << 7,
  kXdigit = 1 << 8,
  kZero = 1 << 9,     // %z: '\0' (deprecated, but stock Lua still has it)
  kNegate = 1 << 15,  // in kClassOf: %A, %D, ... are complements
};

struct ClassTables {
  uint16_t bits[256] = {};      // the classes of each byte
  uint16_t class_of[256] = {};  // the class of %x (0: x itself)
};

constexpr ClassTables MakeClassTables() {
  ClassTables t;
  for (int c = 0; c < 256; ++c) {
    uint16_t b = 0;
    const bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
    const bool digit = c >= '0' && c <= '9';
    if (upper || lower) b |= kAlpha;
    if (c < 32 || c == 127) b |= kCntrl;
    if (digit) b |= kDigit;
    if (c >= 33 && c <= 126) b |= kGraph;
    if (lower) b |= kLower;
    if (c >= 33 && c <= 126 && !upper && !lower && !digit) b |= kPunct;
    if ((c >= 9 && c <= 13) || c == ' ') b |= kSpace;
    if (upper) b |= kUpper;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) b |= kXdigit;
    if (c == 0) b |= kZero;
    t.bits[c] = b;
  }
  const struct {
    char letter;
    uint16_t bits;
  } classes[] = {{'a', kAlpha},          {'c', kCntrl},  {'d', kDigit}, {'g', kGraph},
                 {'l', kLower},          {'p', kPunct},  {'s', kSpace}, {'u', kUpper},
                 {'w', kAlpha | kDigit}, {'x', kXdigit}, {'z', kZero}};
  for (const auto& k : classes) {
    t.class_of[static_cast<unsigned char>(k.letter)] = k.bits;
    t.class_of[static_cast<unsigned char>(k.letter - 'a' + 'A')] = k.bits | kNegate;
  }
  return t;
}
constexpr ClassTables kClasses = MakeClassTables();

// Does byte `c` belong to %cl?
inline bool MatchClass(int c, int cl) {
  const uint16_t k = kClasses.class_of[cl];
  if (k == 0) return cl == c;  // %x for a non-alphanumeric x: x itself
  const bool res = (kClasses.bits[c] & k & ~kNegate) != 0;
  return (k & kNegate) ? !res : res;
}

// `p` is at the '[' of a set whose ']' is at `ec`.
bool MatchBracket(int c, const char* p, const char* ec) {
  bool sig = true;
  if (p[1] == '^') {
    sig = false;
    ++p;
  }
  while (++p < ec) {
    if (*p == kEsc) {
      ++p;
      if (MatchClass(c, U(*p))) return sig;
    } else if (p[1] == '-' && p + 2 < ec) {
      p += 2;
      if (U(p[-2]) <= c && c <= U(*p)) return sig;
    } else if (U(*p) == c) {
      return sig;
    }
  }
  return !sig;
}

// Just past the single-character class at `p` (its quantifier, if any).
const char* ClassEnd(Matcher* m, const char* p) {
  switch (*p++) {
    case kEsc:
      if (p == m->p_end) luaL_error(m->L, "malformed pattern (ends with '%%')");
      return p + 1;
    case '[':
      if (*p == '^') ++p;
      do {  // the first character (even ']') belongs to the set
        if (p == m->p_end) luaL_error(m->L, "malformed pattern (missing ']')");
        if (*(p++) == kEsc && p < m->p_end) ++p;  // skip escapes such as %]
      } while (*p != ']');
      return p + 1;
    default:
      return p;
  }
}

inline bool SingleMatch(const Matcher* m, const char* s, const char* p, const char* ep) {
  if (s >= m->src_end) return false;
  const int c = U(*s);
  switch (*p) {
    case '.':
      return true;
    case kEsc:
      return MatchClass(c, U(p[1]));
    case '[':
      return MatchBracket(c, p, ep - 1);
    default:
      return U(*p) == c;
  }
}

const char* Match(Matcher* m, const char* s, const char* p);

// %bxy at `s` (`p` is at x).
const char* MatchBalance(Matcher* m, const char* s, const char* p) {
  if (m->p_end - p < 2) luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
  if (*s != *p) return nullptr;
  const char b = p[0], e = p[1];
  const char* const start = s;
  int open = 1;
  while (++s < m->src_end) {
    if (*s == e) {
      if (--open == 0) {
        Step(m, s - start);
        return s + 1;
      }
    } else if (*s == b) {
      ++open;
    }
  }
  Step(m, s - start);
  return nullptr;
}

// The steps one test of the class p..ep costs: 1, more for long sets.
inline int64_t ClassCost(const char* p, const char* ep) { return 1 + ((ep - p) >> 5); }

// As many repetitions as possible, then fewer until the rest matches.
const char* MaxExpand(Matcher* m, const char* s, const char* p, const char* ep) {
  const int64_t cost = ClassCost(p, ep);
  ptrdiff_t i = 0;
  while (SingleMatch(m, s + i, p, ep)) {
    ++i;
    Step(m, cost);
  }
  for (; i >= 0; --i) {
    if (const char* r = Match(m, s + i, ep + 1)) return r;
  }
  return nullptr;
}

// As few repetitions as possible, more until the rest matches.
const char* MinExpand(Matcher* m, const char* s, const char* p, const char* ep) {
  const int64_t cost = ClassCost(p, ep);
  for (;;) {
    if (const char* r = Match(m, s, ep + 1)) return r;
    Step(m, cost);
    if (!SingleMatch(m, s, p, ep)) return nullptr;
    ++s;
  }
}

const char* StartCapture(Matcher* m, const char* s, const char* p, ptrdiff_t what) {
  const int level = m->level;
  if (level >= kMaxCaptures) luaL_error(m->L, "too many captures");
  m->capture[level].init = s;
  m->capture[level].len = what;
  m->level = level + 1;
  const char* r = Match(m, s, p);
  if (!r) m->level--;  // undo the capture
  return r;
}

int CaptureToClose(Matcher* m) {
  for (int level = m->level - 1; level >= 0; --level)
    if (m->capture[level].len == kCapUnfinished) return level;
  return luaL_error(m->L, "invalid pattern capture");
}

const char* EndCapture(Matcher* m, const char* s, const char* p) {
  const int l = CaptureToClose(m);
  m->capture[l].len = s - m->capture[l].init;
  const char* r = Match(m, s, p);
  if (!r) m->capture[l].len = kCapUnfinished;  // undo
  return r;
}

// %1-%9 in a pattern: the index of the (closed) capture.
int CheckCapture(Matcher* m, int c) {
  const int l = c - '1';
  if (l < 0 || l >= m->level || m->capture[l].len == kCapUnfinished)
    return luaL_error(m->L, "invalid capture index %%%d", l + 1);
  return l;
}

const char* MatchCapture(Matcher* m, const char* s, int c) {
  const int l = CheckCapture(m, c);
  const ptrdiff_t len = m->capture[l].len;  // a position capture never matches
  if (len < 0 || m->src_end - s < len) return nullptr;
  Step(m, len);
  if (std::memcmp(m->capture[l].init, s, static_cast<size_t>(len)) != 0) return nullptr;
  return s + len;
}

// The end of the match of pattern `p` at `s`, or null. Tail calls of the
// reference algorithm are iterations of the loop.
const char* Match(Matcher* m, const char* s, const char* p) {
  if (m->depth-- == 0) luaL_error(m->L, "pattern too complex");
  for (;;) {
    Step(m);
    if (p == m->p_end) break;
    switch (*p) {
      case '(':
        s = p[1] == ')' ? StartCapture(m, s, p + 2, kCapPosition)
                        : StartCapture(m, s, p + 1, kCapUnfinished);
        goto done;
      case ')':
        s = EndCapture(m, s, p + 1);
        goto done;
      case '$':
        if (p + 1 != m->p_end) break;  // not at the end: a plain '$'
        if (s != m->src_end) s = nullptr;
        goto done;
      case kEsc:
        switch (p[1]) {
          case 'b':
            s = MatchBalance(m, s, p + 2);
            if (!s) goto done;
            p += 4;
            continue;
          case 'f': {
            p += 2;
            if (*p != '[') luaL_error(m->L, "missing '[' after '%%f' in pattern");
            const char* ep = ClassEnd(m, p);
            const int previous = s == m->src_init ? 0 : U(s[-1]);
            if (!MatchBracket(previous, p, ep - 1) && MatchBracket(U(*s), p, ep - 1)) {
              p = ep;
              continue;
            }
            s = nullptr;
            goto done;
          }
          case '0':
          case '1':
          case '2':
          case '3':
          case '4':
          case '5':
          case '6':
          case '7':
          case '8':
          case '9':
            s = MatchCapture(m, s, U(p[1]));
            if (!s) goto done;
            p += 2;
            continue;
          default:
            break;
        }
        break;
      default:
        break;
    }
    {  // a single-character class and its optional quantifier
      const char* ep = ClassEnd(m, p);
      if (ep - p > 32) Step(m, ClassCost(p, ep));
      if (!SingleMatch(m, s, p, ep)) {
        if (*ep == '*' || *ep == '?' || *ep == '-') {  // may match nothing
          p = ep + 1;
          continue;
        }
        s = nullptr;  // '+' or no quantifier
        goto done;
      }
      switch (*ep) {
        case '?':
          if (const char* r = Match(m, s + 1, ep + 1)) {
            s = r;
            goto done;
          }
          p = ep + 1;
          continue;
        case '+':
          s = MaxExpand(m, s + 1, p, ep);
          goto done;
        case '*':
          s = MaxExpand(m, s, p, ep);
          goto done;
        case '-':
          s = MinExpand(m, s, p, ep);
          goto done;
        default:
          ++s;
          p = ep;
          continue;
      }
    }
  }
done:
  m->depth++;
  return s;
}

// Capture `i` (the whole match s..e when there are none and i == 0): returns
// its length and sets *cap, or pushes a position capture and returns
// kCapPosition.
ptrdiff_t GetCapture(Matcher* m, int i, const char* s, const char* e, const char** cap) {
  if (i >= m->level) {
    if (i != 0) luaL_error(m->L, "invalid capture index %%%d", i + 1);
    *cap = s;
    return e - s;
  }
  const ptrdiff_t len = m->capture[i].len;
  *cap = m->capture[i].init;
  if (len == kCapUnfinished) luaL_error(m->L, "unfinished capture");
  if (len == kCapPosition) lua_pushinteger(m->L, (m->capture[i].init - m->src_init) + 1);
  return len;
}

void PushCapture(Matcher* m, int i, const char* s, const char* e) {
  const char* cap = nullptr;
  const ptrdiff_t len = GetCapture(m, i, s, e, &cap);
  if (len != kCapPosition) lua_pushlstring(m->L, cap, static_cast<size_t>(len));
}

int PushCaptures(Matcher* m, const char* s, const char* e) {
  const int n = (m->level == 0 && s) ? 1 : m->level;
  luaL_checkstack(m->L, n, "too many captures");
  for (int i = 0; i < n; ++i) PushCapture(m, i, s, e);
  return n;
}

// A 1-based position, negative from the end, clipped to 1 below.
size_t PosRelat(lua_Integer pos, size_t len) {
  if (pos > 0) return static_cast<size_t>(pos);
  if (pos == 0) return 1;
  if (pos < -static_cast<lua_Integer>(len)) return 1;
  return len + static_cast<size_t>(pos) + 1;
}

bool NoSpecials(const char* p, size_t lp) {
  for (size_t i = 0; i < lp; ++i) {
    switch (p[i]) {
      case '^':
      case '$':
      case '*':
      case '+':
      case '?':
      case '.':
      case '(':
      case '[':
      case '%':
      case '-':
        return false;
      default:
        break;
    }
  }
  return true;
}

int FindAux(lua_State* L, bool find) {
  size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  const size_t init = PosRelat(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) {  // starts after the end: no match
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || NoSpecials(p, lp))) {  // a plain search
    const void* at = lp == 0 ? s + init : memmem(s + init, ls - init, p, lp);
    if (at) {
      const ptrdiff_t pos = static_cast<const char*>(at) - s;
      lua_pushinteger(L, pos + 1);
      lua_pushinteger(L, pos + static_cast<ptrdiff_t>(lp));
      return 2;
    }
  } else {
    Matcher m;
    const bool anchor = *p == '^';
    if (anchor) {
      ++p;
      --lp;
    }
    Prepare(&m, L, GuardOf(L), s, ls, p, lp);
    Load(&m);
    const char* s1 = s + init;
    do {
      Reset(&m);
      if (const char* e = Match(&m, s1, p)) {
        Save(&m);
        if (find) {
          lua_pushinteger(L, (s1 - s) + 1);
          lua_pushinteger(L, e - s);
          return PushCaptures(&m, nullptr, nullptr) + 2;
        }
        return PushCaptures(&m, s1, e);
      }
    } while (s1++ < m.src_end && !anchor);
    Save(&m);
  }
  luaL_pushfail(L);
  return 1;
}

int Find(lua_State* L) { return FindAux(L, true); }
int MatchFn(lua_State* L) { return FindAux(L, false); }

struct GMatchState {
  const char* src;        // where the next search starts
  const char* p;          // the pattern ('^' is not an anchor here)
  const char* lastmatch;  // end of the last match: no empty match there
  Matcher m;
};

// Upvalues: the guard, the subject, the pattern (both kept alive), the state.
int GMatchNext(lua_State* L) {
  auto* gm = static_cast<GMatchState*>(lua_touserdata(L, lua_upvalueindex(4)));
  gm->m.L = L;
  Load(&gm->m);
  for (const char* src = gm->src; src <= gm->m.src_end; ++src) {
    Reset(&gm->m);
    const char* e = Match(&gm->m, src, gm->p);
    if (e && e != gm->lastmatch) {
      gm->src = gm->lastmatch = e;
      Save(&gm->m);
      return PushCaptures(&gm->m, src, e);
    }
  }
  Save(&gm->m);
  return 0;
}

int GMatch(lua_State* L) {
  size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  size_t init = PosRelat(luaL_optinteger(L, 3, 1), ls) - 1;
  if (init > ls) init = ls + 1;  // after the end: no match (and no overflow)
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);  // guard, s, p
  auto* gm = static_cast<GMatchState*>(lua_newuserdatauv(L, sizeof(GMatchState), 0));
  Prepare(&gm->m, L, GuardOf(L), s, ls, p, lp);
  gm->src = s + init;
  gm->p = p;
  gm->lastmatch = nullptr;
  lua_pushcclosure(L, GMatchNext, 4);
  return 1;
}

// A replacement string: %0-%9 are captures, %% is '%'.
void AddString(Matcher* m, luaL_Buffer* b, const char* s, const char* e) {
  lua_State* L = m->L;
  size_t l = 0;
  const char* news = lua_tolstring(L, 3, &l);
  const char* p;
  while ((p = static_cast<const char*>(std::memchr(news, kEsc, l))) != nullptr) {
    luaL_addlstring(b, news, static_cast<size_t>(p - news));
    ++p;  // the character after '%' ('\0' at the end of the string)
    if (*p == kEsc) {
      luaL_addchar(b, *p);
    } else if (*p == '0') {
      luaL_addlstring(b, s, static_cast<size_t>(e - s));
    } else if (*p >= '0' && *p <= '9') {
      const char* cap = nullptr;
      const ptrdiff_t len = GetCapture(m, *p - '1', s, e, &cap);
      if (len == kCapPosition)
        luaL_addvalue(b);  // the position GetCapture pushed
      else
        luaL_addlstring(b, cap, static_cast<size_t>(len));
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", kEsc);
    }
    l -= static_cast<size_t>(p + 1 - news);
    news = p + 1;
  }
  luaL_addlstring(b, news, l);
}

// Adds the replacement of the match s..e; false when the match is kept as is.
bool AddValue(Matcher* m, luaL_Buffer* b, const char* s, const char* e, int tr) {
  lua_State* L = m->L;
  switch (tr) {
    case LUA_TFUNCTION: {
      lua_pushvalue(L, 3);
      const int n = PushCaptures(m, s, e);
      lua_call(L, n, 1);
      break;
    }
    case LUA_TTABLE:
      PushCapture(m, 0, s, e);
      lua_gettable(L, 3);
      break;
    default:  // a string or a number
      AddString(m, b, s, e);
      return true;
  }
  if (!lua_toboolean(L, -1)) {  // nil or false: keep the original
    lua_pop(L, 1);
    luaL_addlstring(b, s, static_cast<size_t>(e - s));
    return false;
  }
  if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
  luaL_addvalue(b);
  return true;
}

int GSub(lua_State* L) {
  size_t srcl = 0, lp = 0;
  const char* src = luaL_checklstring(L, 1, &srcl);
  const char* p = luaL_checklstring(L, 2, &lp);
  const char* lastmatch = nullptr;
  const int tr = lua_type(L, 3);
  const lua_Integer max_s = luaL_optinteger(L, 4, static_cast<lua_Integer>(srcl) + 1);
  const bool anchor = *p == '^';
  lua_Integer n = 0;
  bool changed = false;
  luaL_argexpected(
      L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
      "string/function/table");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (anchor) {
    ++p;
    --lp;
  }
  Matcher m;
  Prepare(&m, L, GuardOf(L), src, srcl, p, lp);
  Load(&m);
  while (n < max_s) {
    Reset(&m);
    const char* e = Match(&m, src, p);
    if (e && e != lastmatch) {
      ++n;
      Save(&m);  // the replacement function may match too
      changed = AddValue(&m, &b, src, e, tr) || changed;
      Load(&m);
      src = lastmatch = e;
    } else if (src < m.src_end) {
      luaL_addchar(&b, *src++);
    } else {
      break;
    }
    if (anchor) break;
  }
  Save(&m);
  if (!changed) {
    lua_pushvalue(L, 1);
  } else {
    luaL_addlstring(&b, src, static_cast<size_t>(m.src_end - src));
    luaL_pushresult(&b);
  }
  lua_pushinteger(L, n);
  return 2;
}

}  // namespace

void InstallLuaPatterns(lua_State* L, LuaPatternCheck check, void* ud) {
  lua_getglobal(L, LUA_STRLIBNAME);
  auto* guard = static_cast<Guard*>(lua_newuserdatauv(L, sizeof(Guard), 0));
  guard->check = check;
  guard->ud = ud;
  guard->left = kLuaPatternStepsPerCheck;
  const luaL_Reg fns[] = {
      {"find", Find}, {"match", MatchFn}, {"gmatch", GMatch}, {"gsub", GSub}, {nullptr, nullptr}};
  luaL_setfuncs(L, fns, 1);  // each with the guard as upvalue 1
  lua_pop(L, 1);
}

}  // namespace alambic
