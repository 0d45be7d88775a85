// The evaluator of the expression language: typed tree -> column, with
// vectorised kernels over whole columns; and TakeRows.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/table/expr.h"
#include "core/table/expr/internal.h"
#include "core/table/parallel.h"

namespace alambic {

using namespace expr_internal;  // this file is part of the expression language

namespace {

// ---------------------------------------------------------------------------
// Evaluation: each node gives a Val, a whole column or a one-row scalar.

struct Val {
  ColumnPtr col;
  bool scalar = false;
  int64_t length() const { return scalar ? 1 : col->length; }
};

template <class T>
T Get(const Column& c, int64_t i);
template <>
int64_t Get<int64_t>(const Column& c, int64_t i) {
  return c.Int64Data()[i];
}
template <>
int32_t Get<int32_t>(const Column& c, int64_t i) {
  return c.Int32Data()[i];
}
template <>
double Get<double>(const Column& c, int64_t i) {
  return c.DoubleData()[i];
}
template <>
bool Get<bool>(const Column& c, int64_t i) {
  return c.Bool(i);
}
template <>
std::string_view Get<std::string_view>(const Column& c, int64_t i) {
  return c.String(i);
}

// Reads a Val row by row; a scalar repeats its one row.
template <class T>
struct In {
  explicit In(const Val& v) : c(v.col.get()), stride(v.scalar ? 0 : 1) {}
  bool Valid(int64_t i) const { return c->IsValid(i * stride); }
  T operator[](int64_t i) const { return Get<T>(*c, i * stride); }
  const Column* c;
  int64_t stride;
};

void FinishValidity(Column* c, int64_t nulls) {
  c->null_count = nulls;
  if (nulls == 0) {
    c->validity.clear();
  } else if (c->length & 7) {
    c->validity.back() &= static_cast<uint8_t>((1u << (c->length & 7)) - 1);
  }
}

template <class T>
class FixedOut {
 public:
  FixedOut(TypeId type, int64_t n) : col_(std::make_shared<Column>()) {
    col_->type = type;
    col_->length = n;
    col_->data.resize(static_cast<size_t>(n) * sizeof(T));
    col_->validity.assign(static_cast<size_t>((n + 7) / 8), 0xFF);
    p_ = reinterpret_cast<T*>(col_->data.data());
  }
  void Set(int64_t i, T v) { p_[i] = v; }
  void Null(int64_t i) {
    col_->validity[static_cast<size_t>(i >> 3)] &= static_cast<uint8_t>(~(1u << (i & 7)));
    ++nulls_;
  }
  ColumnPtr Finish() {
    FinishValidity(col_.get(), nulls_);
    return col_;
  }

 private:
  std::shared_ptr<Column> col_;
  T* p_;
  int64_t nulls_ = 0;
};

class BoolOut {
 public:
  BoolOut(TypeId, int64_t n) : col_(std::make_shared<Column>()) {
    col_->type = TypeId::kBool;
    col_->length = n;
    col_->data.assign(static_cast<size_t>((n + 7) / 8), 0);
    col_->validity.assign(static_cast<size_t>((n + 7) / 8), 0xFF);
  }
  void Set(int64_t i, bool v) {
    if (v) col_->data[static_cast<size_t>(i >> 3)] |= static_cast<uint8_t>(1u << (i & 7));
  }
  void Null(int64_t i) {
    col_->validity[static_cast<size_t>(i >> 3)] &= static_cast<uint8_t>(~(1u << (i & 7)));
    ++nulls_;
  }
  ColumnPtr Finish() {
    FinishValidity(col_.get(), nulls_);
    return col_;
  }

 private:
  std::shared_ptr<Column> col_;
  int64_t nulls_ = 0;
};

// Strings are appended in row order: Set/Null must be called for i = 0, 1, ...
class StrOut {
 public:
  StrOut(TypeId, int64_t n) : b_(TypeId::kUtf8) { b_.Reserve(n); }
  void Set(int64_t, std::string_view v) { b_.AppendString(v); }
  void Null(int64_t) { b_.AppendNull(); }
  ColumnPtr Finish() { return b_.Finish(); }

 private:
  ColumnBuilder b_;
};

template <class T>
struct OutFor {
  using type = FixedOut<T>;
};
template <>
struct OutFor<bool> {
  using type = BoolOut;
};
template <>
struct OutFor<std::string_view> {
  using type = StrOut;
};
template <>
struct OutFor<std::string> {
  using type = StrOut;
};
template <class T>
using Out = typename OutFor<T>::type;

template <class T>
struct Tag {
  using type = T;
};

// Calls f(Tag<C++ type>) for a column type.
template <class F>
decltype(auto) Visit(TypeId t, F&& f) {
  switch (t) {
    case TypeId::kInt64:
    case TypeId::kTimestamp:
      return f(Tag<int64_t>{});
    case TypeId::kFloat64:
      return f(Tag<double>{});
    case TypeId::kBool:
      return f(Tag<bool>{});
    case TypeId::kDate32:
      return f(Tag<int32_t>{});
    default:
      return f(Tag<std::string_view>{});
  }
}

Val Scalar(ColumnPtr c) { return Val{std::move(c), true}; }
Val Full(ColumnPtr c) { return Val{std::move(c), false}; }

int64_t LengthOf(const std::vector<Val>& args, bool* scalar) {
  for (const auto& a : args)
    if (!a.scalar) {
      *scalar = false;
      return a.col->length;
    }
  *scalar = true;
  return 1;
}

// Row-wise map of one argument: f(a, &r) returns false for null.
template <class R, class A, class F>
Val Map1(TypeId rt, const Val& a, F&& f) {
  const int64_t n = a.length();
  In<A> ia(a);
  Out<R> out(rt, n);
  R r{};
  for (int64_t i = 0; i < n; ++i) {
    if (ia.Valid(i) && f(ia[i], r)) {
      out.Set(i, r);
    } else {
      out.Null(i);
    }
  }
  return Val{out.Finish(), a.scalar};
}

template <class R, class A, class B, class F>
Val Map2(TypeId rt, const Val& a, const Val& b, F&& f) {
  bool scalar;
  const int64_t n = LengthOf({a, b}, &scalar);
  In<A> ia(a);
  In<B> ib(b);
  Out<R> out(rt, n);
  R r{};
  for (int64_t i = 0; i < n; ++i) {
    if (ia.Valid(i) && ib.Valid(i) && f(ia[i], ib[i], r)) {
      out.Set(i, r);
    } else {
      out.Null(i);
    }
  }
  return Val{out.Finish(), scalar};
}

template <class R, class A, class B, class C, class F>
Val Map3(TypeId rt, const Val& a, const Val& b, const Val& c, F&& f) {
  bool scalar;
  const int64_t n = LengthOf({a, b, c}, &scalar);
  In<A> ia(a);
  In<B> ib(b);
  In<C> ic(c);
  Out<R> out(rt, n);
  R r{};
  for (int64_t i = 0; i < n; ++i) {
    if (ia.Valid(i) && ib.Valid(i) && ic.Valid(i) && f(ia[i], ib[i], ic[i], r)) {
      out.Set(i, r);
    } else {
      out.Null(i);
    }
  }
  return Val{out.Finish(), scalar};
}

// A `len`-row column holding `v`'s rows (a scalar repeated).
ColumnPtr Broadcast(const Val& v, int64_t len) {
  if (!v.scalar) return v.col;
  return Visit(v.col->type, [&](auto tag) -> ColumnPtr {
    using T = typename decltype(tag)::type;
    In<T> in(v);
    Out<T> out(v.col->type, len);
    for (int64_t i = 0; i < len; ++i) {
      if (in.Valid(i)) {
        out.Set(i, in[i]);
      } else {
        out.Null(i);
      }
    }
    return out.Finish();
  });
}

// Rows of `src` picked by `index(i)` for i < n; `valid(i)` false gives null.
template <class Index, class Valid>
ColumnPtr Gather(const Column& src, int64_t n, Index&& index, Valid&& valid) {
  return Visit(src.type, [&](auto tag) -> ColumnPtr {
    using T = typename decltype(tag)::type;
    Out<T> out(src.type, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = valid(i) ? index(i) : -1;
      if (j >= 0 && src.IsValid(j)) {
        out.Set(i, Get<T>(src, j));
      } else {
        out.Null(i);
      }
    }
    return out.Finish();
  });
}

// Maps a result computed on a dictionary back to the rows of `coded`.
ColumnPtr ExpandDictionary(const ColumnPtr& on_dict, const Column& coded) {
  if (on_dict->type == TypeId::kUtf8 && on_dict->null_count == 0 && !on_dict->is_dictionary()) {
    auto out = std::make_shared<Column>();
    out->type = TypeId::kUtf8;
    out->length = coded.length;
    out->null_count = coded.null_count;
    out->validity = coded.validity;
    out->data = coded.data;
    out->dictionary = on_dict;
    return out;
  }
  const int32_t* idx = coded.Int32Data();
  return Gather(
      *on_dict, coded.length, [&](int64_t i) { return int64_t{idx[i]}; },
      [&](int64_t i) { return coded.IsValid(i); });
}

std::shared_ptr<Column> NullScalar(TypeId t) {
  ColumnBuilder b(t == kNullType ? TypeId::kUtf8 : t);
  b.AppendNull();
  return b.Finish();
}

Val LiteralVal(const ExprNode& n) {
  if (n.name == "null" || n.type == kNullType) return Scalar(NullScalar(n.type));
  ColumnBuilder b(n.type);
  switch (n.type) {
    case TypeId::kInt64:
      b.AppendInt64(n.i);
      break;
    case TypeId::kTimestamp:
      b.AppendTimestamp(n.i);
      break;
    case TypeId::kDate32:
      b.AppendDate32(static_cast<int32_t>(n.i));
      break;
    case TypeId::kFloat64:
      b.AppendDouble(n.f);
      break;
    case TypeId::kBool:
      b.AppendBool(n.b);
      break;
    default:
      b.AppendString(n.s);
  }
  return Scalar(b.Finish());
}

bool StrToInt(std::string_view s, int64_t& r) {
  s = Trim(s, true, true);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto res = std::from_chars(s.data(), s.data() + s.size(), r);
  return !s.empty() && res.ec == std::errc() && res.ptr == s.data() + s.size();
}

bool StrToDouble(std::string_view s, double& r) {
  s = Trim(s, true, true);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto res = std::from_chars(s.data(), s.data() + s.size(), r);
  return !s.empty() && res.ec == std::errc() && res.ptr == s.data() + s.size() && !std::isnan(r);
}

bool StrToBool(std::string_view s, bool& r) {
  const std::string l = Lower(Trim(s, true, true));
  if (l == "true" || l == "1") return r = true, true;
  if (l == "false" || l == "0") return r = false, true;
  return false;
}

Val CastVal(const Val& a, TypeId to) {
  const TypeId from = a.col->type;
  if (from == to) return a;
  if (to == TypeId::kUtf8) {
    const int64_t n = a.length();
    StrOut out(to, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = a.scalar ? 0 : i;
      if (a.col->IsValid(j)) {
        out.Set(i, FormatCell(*a.col, j));
      } else {
        out.Null(i);
      }
    }
    return Val{out.Finish(), a.scalar};
  }
  if (from == TypeId::kUtf8) {
    switch (to) {
      case TypeId::kInt64:
        return Map1<int64_t, std::string_view>(to, a, StrToInt);
      case TypeId::kFloat64:
        return Map1<double, std::string_view>(to, a, StrToDouble);
      case TypeId::kBool:
        return Map1<bool, std::string_view>(to, a, StrToBool);
      case TypeId::kDate32:
        return Map1<int32_t, std::string_view>(to, a, [](std::string_view s, int32_t& r) {
          return ParseDate(Trim(s, true, true), &r);
        });
      default:
        return Map1<int64_t, std::string_view>(to, a, [](std::string_view s, int64_t& r) {
          return ParseTimestamp(Trim(s, true, true), &r);
        });
    }
  }
  if (to == TypeId::kTimestamp)  // from date32
    return Map1<int64_t, int32_t>(to, a, [](int32_t d, int64_t& r) {
      r = d * kMicrosPerDay;
      return true;
    });
  if (to == TypeId::kDate32)  // from timestamp
    return Map1<int32_t, int64_t>(to, a, [](int64_t us, int32_t& r) {
      r = static_cast<int32_t>(FloorDiv(us, kMicrosPerDay));
      return true;
    });
  return Visit(from, [&](auto tag) -> Val {
    using A = typename decltype(tag)::type;
    if constexpr (std::is_same_v<A, std::string_view>) {
      return a;  // unreachable: handled above
    } else {
      switch (to) {
        case TypeId::kInt64:
          return Map1<int64_t, A>(to, a, [](A v, int64_t& r) {
            if constexpr (std::is_same_v<A, double>) {
              return DoubleToInt(v, &r);
            } else {
              r = static_cast<int64_t>(v);
              return true;
            }
          });
        case TypeId::kFloat64:
          return Map1<double, A>(to, a, [](A v, double& r) {
            r = static_cast<double>(v);
            return true;
          });
        default:
          return Map1<bool, A>(to, a, [](A v, bool& r) {
            r = v != A{};
            return true;
          });
      }
    }
  });
}

template <class T, class F>
Val CompareTyped(const Val& a, const Val& b, TypeId tb, F&& pred) {
  if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
    if (tb == TypeId::kFloat64)
      return Map2<bool, T, double>(
          TypeId::kBool, a, b, [&](T x, double y, bool& r) { return r = pred(Cmp3(x, y)), true; });
    if (tb == TypeId::kInt64)
      return Map2<bool, T, int64_t>(
          TypeId::kBool, a, b, [&](T x, int64_t y, bool& r) { return r = pred(Cmp3(x, y)), true; });
  }
  return Map2<bool, T, T>(TypeId::kBool, a, b,
                          [&](T x, T y, bool& r) { return r = pred(Cmp3(x, y)), true; });
}

Val Compare(const std::string& op, const Val& a, const Val& b) {
  auto run = [&](auto pred) {
    return Visit(a.col->type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      return CompareTyped<T>(a, b, b.col->type, pred);
    });
  };
  if (op == "=") return run([](int c) { return c == 0; });
  if (op == "!=") return run([](int c) { return c != 0; });
  if (op == "<") return run([](int c) { return c < 0; });
  if (op == "<=") return run([](int c) { return c <= 0; });
  if (op == ">") return run([](int c) { return c > 0; });
  return run([](int c) { return c >= 0; });
}

// Python's float floor division (Objects/floatobject.c, float_floor_div):
// floor of the exact quotient, not floor(x / y) (1 // 0.1 is 9.0, as in
// Python, where floor(1 / 0.1) would be 10).
double FloatFloorDiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, x / y);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

Val Arithmetic(const std::string& op, const Val& a, const Val& b) {
  const TypeId t = a.col->type;
  const char o = op == "//" ? 'f' : op[0];
  if (t == TypeId::kInt64) {
    return Map2<int64_t, int64_t, int64_t>(t, a, b, [o](int64_t x, int64_t y, int64_t& r) {
      switch (o) {
        case '+':
          return !__builtin_add_overflow(x, y, &r);
        case '-':
          return !__builtin_sub_overflow(x, y, &r);
        case '*':
          return !__builtin_mul_overflow(x, y, &r);
        case 'f':  // `//`; `/` is always float64 (see Compile)
          if (y == 0 || (y == -1 && x == std::numeric_limits<int64_t>::min())) return false;
          r = FloorDiv(x, y);
          return true;
        default:
          if (y == 0) return false;
          r = y == -1 ? 0 : x % y;
          return true;
      }
    });
  }
  return Map2<double, double, double>(t, a, b, [o](double x, double y, double& r) {
    switch (o) {
      case '+':
        r = x + y;
        break;
      case '-':
        r = x - y;
        break;
      case '*':
        r = x * y;
        break;
      case '/':
        if (y == 0) return false;
        r = x / y;
        break;
      case 'f':
        if (y == 0) return false;
        r = FloatFloorDiv(x, y);
        break;
      default:
        if (y == 0) return false;
        r = std::fmod(x, y);
    }
    return !std::isnan(r);
  });
}

Val Logic(bool is_and, const Val& a, const Val& b) {
  bool scalar;
  const int64_t n = LengthOf({a, b}, &scalar);
  In<bool> ia(a), ib(b);
  BoolOut out(TypeId::kBool, n);
  for (int64_t i = 0; i < n; ++i) {
    const bool va = ia.Valid(i), vb = ib.Valid(i);
    const bool xa = va && ia[i], xb = vb && ib[i];
    if (is_and) {
      if ((va && !xa) || (vb && !xb)) {
        out.Set(i, false);
      } else if (va && vb) {
        out.Set(i, true);
      } else {
        out.Null(i);
      }
    } else {
      if (xa || xb) {
        out.Set(i, true);
      } else if (va && vb) {
        out.Set(i, false);
      } else {
        out.Null(i);
      }
    }
  }
  return Val{out.Finish(), scalar};
}

// Picks, row by row, the value of the first branch whose condition holds.
Val CaseVal(const ExprNode& n, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  const size_t pairs = (args.size() - (n.has_else ? 1 : 0)) / 2;
  return Visit(n.type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    std::vector<In<bool>> conds;
    std::vector<In<T>> values;
    for (size_t k = 0; k < pairs; ++k) {
      conds.emplace_back(args[2 * k]);
      values.emplace_back(args[2 * k + 1]);
    }
    if (n.has_else) values.emplace_back(args.back());
    Out<T> out(n.type, len);
    for (int64_t i = 0; i < len; ++i) {
      size_t pick = n.has_else ? pairs : SIZE_MAX;
      for (size_t k = 0; k < pairs; ++k)
        if (conds[k].Valid(i) && conds[k][i]) {
          pick = k;
          break;
        }
      if (pick != SIZE_MAX && values[pick].Valid(i)) {
        out.Set(i, values[pick][i]);
      } else {
        out.Null(i);
      }
    }
    return Val{out.Finish(), scalar};
  });
}

Val CoalesceVal(TypeId type, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  return Visit(type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    std::vector<In<T>> ins;
    for (const auto& a : args) ins.emplace_back(a);
    Out<T> out(type, len);
    for (int64_t i = 0; i < len; ++i) {
      bool set = false;
      for (const auto& in : ins)
        if (in.Valid(i)) {
          out.Set(i, in[i]);
          set = true;
          break;
        }
      if (!set) out.Null(i);
    }
    return Val{out.Finish(), scalar};
  });
}

// min()/max() of several arguments: null when any argument is null (as SQLite).
Val MinMaxVal(bool is_max, TypeId type, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  return Visit(type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    std::vector<In<T>> ins;
    for (const auto& a : args) ins.emplace_back(a);
    Out<T> out(type, len);
    for (int64_t i = 0; i < len; ++i) {
      bool valid = true;
      T best{};
      for (size_t k = 0; k < ins.size() && valid; ++k) {
        if (!ins[k].Valid(i)) {
          valid = false;
          break;
        }
        const T v = ins[k][i];
        if (k == 0 || (is_max ? best < v : v < best)) best = v;
      }
      if (valid) {
        out.Set(i, best);
      } else {
        out.Null(i);
      }
    }
    return Val{out.Finish(), scalar};
  });
}

Val InVal(const ExprNode& n, const std::vector<Val>& args) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  return Visit(args[0].col->type, [&](auto tag) -> Val {
    using T = typename decltype(tag)::type;
    In<T> x(args[0]);
    std::vector<In<T>> items;
    for (size_t k = 1; k < args.size(); ++k) items.emplace_back(args[k]);
    BoolOut out(TypeId::kBool, len);
    for (int64_t i = 0; i < len; ++i) {
      if (!x.Valid(i)) {
        out.Null(i);
        continue;
      }
      const T v = x[i];
      bool found = false, saw_null = false;
      for (const auto& it : items) {
        if (!it.Valid(i)) {
          saw_null = true;
        } else if (Cmp3(v, it[i]) == 0) {
          found = true;
          break;
        }
      }
      if (found) {
        out.Set(i, !n.negated);
      } else if (saw_null) {
        out.Null(i);
      } else {
        out.Set(i, n.negated);
      }
    }
    return Val{out.Finish(), scalar};
  });
}

Val ConcatVal(const std::vector<Val>& args, bool skip_nulls) {
  bool scalar;
  const int64_t len = LengthOf(args, &scalar);
  std::vector<In<std::string_view>> ins;
  for (const auto& a : args) ins.emplace_back(a);
  StrOut out(TypeId::kUtf8, len);
  std::string s;
  for (int64_t i = 0; i < len; ++i) {
    s.clear();
    bool null = false;
    for (const auto& in : ins) {
      if (!in.Valid(i)) {
        if (!skip_nulls) null = true;
        continue;
      }
      s += in[i];
    }
    if (null) {
      out.Null(i);
    } else {
      out.Set(i, s);
    }
  }
  return Val{out.Finish(), scalar};
}

template <class T>
Val RoundLike(const std::string& f, const Val& a, const Val* digits) {
  const TypeId t = a.col->type;
  if constexpr (std::is_same_v<T, int64_t>) {
    if (f == "abs")
      return Map1<int64_t, int64_t>(t, a, [](int64_t v, int64_t& r) {
        if (v == std::numeric_limits<int64_t>::min()) return false;
        r = v < 0 ? -v : v;
        return true;
      });
    if (digits)  // round(int, n): the int itself
      return Map2<int64_t, int64_t, int64_t>(t, a, *digits, [](int64_t v, int64_t, int64_t& r) {
        r = v;
        return true;
      });
    return a;  // floor, ceil, round of an int
  } else {
    if (f == "abs")
      return Map1<double, double>(t, a, [](double v, double& r) { return r = std::fabs(v), true; });
    if (f == "floor")
      return Map1<double, double>(t, a,
                                  [](double v, double& r) { return r = std::floor(v), true; });
    if (f == "ceil")
      return Map1<double, double>(t, a, [](double v, double& r) { return r = std::ceil(v), true; });
    auto round_to = [](double v, int64_t n, double& r) {
      constexpr int64_t kMaxDigits = 30;
      n = std::clamp<int64_t>(n, 0, kMaxDigits);
      if (n == 0) {
        r = std::round(v);
        return true;
      }
      char buf[400];
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(n), v);
      r = std::strtod(buf, nullptr);
      return true;
    };
    if (!digits)
      return Map1<double, double>(t, a, [&](double v, double& r) { return round_to(v, 0, r); });
    return Map2<double, double, int64_t>(
        t, a, *digits, [&](double v, int64_t n, double& r) { return round_to(v, n, r); });
  }
}

Val CallVal(const ExprNode& n, const std::vector<Val>& args) {
  const std::string& f = n.name;
  const TypeId t = n.type;
  using SV = std::string_view;
  if (f == "coalesce") return CoalesceVal(t, args);
  if (f == "min" || f == "max") return MinMaxVal(f == "max", t, args);
  if (f == "concat") return ConcatVal(args, true);
  if (f == "nullif") {
    return Visit(t, [&](auto tag) -> Val {
      using T = typename decltype(tag)::type;
      bool scalar;
      const int64_t len = LengthOf(args, &scalar);
      In<T> a(args[0]), b(args[1]);
      Out<T> out(t, len);
      for (int64_t i = 0; i < len; ++i) {
        if (!a.Valid(i) || (b.Valid(i) && Cmp3(a[i], b[i]) == 0)) {
          out.Null(i);
        } else {
          out.Set(i, a[i]);
        }
      }
      return Val{out.Finish(), scalar};
    });
  }
  if (f == "length")
    return Map1<int64_t, SV>(t, args[0], [](SV s, int64_t& r) { return r = CodePoints(s), true; });
  if (f == "lower" || f == "upper") {
    const bool up = f == "upper";
    return Map1<std::string, SV>(t, args[0], [up](SV s, std::string& r) {
      ChangeCase(s, up, &r);
      return true;
    });
  }
  if (f == "trim" || f == "ltrim" || f == "rtrim") {
    const bool l = f != "rtrim", r = f != "ltrim";
    return Map1<std::string, SV>(t, args[0], [l, r](SV s, std::string& out) {
      out.assign(Trim(s, l, r));
      return true;
    });
  }
  if (f == "substr") {
    if (args.size() == 2)
      return Map2<std::string, SV, int64_t>(t, args[0], args[1],
                                            [](SV s, int64_t p, std::string& r) {
                                              r.assign(Substr(s, p, 0, false));
                                              return true;
                                            });
    return Map3<std::string, SV, int64_t, int64_t>(t, args[0], args[1], args[2],
                                                   [](SV s, int64_t p, int64_t l, std::string& r) {
                                                     r.assign(Substr(s, p, l, true));
                                                     return true;
                                                   });
  }
  if (f == "replace")
    return Map3<std::string, SV, SV, SV>(t, args[0], args[1], args[2],
                                         [](SV s, SV a, SV b, std::string& r) {
                                           Replace(s, a, b, &r);
                                           return true;
                                         });
  if (f == "starts_with")
    return Map2<bool, SV, SV>(t, args[0], args[1],
                              [](SV s, SV p, bool& r) { return r = s.starts_with(p), true; });
  if (f == "ends_with")
    return Map2<bool, SV, SV>(t, args[0], args[1],
                              [](SV s, SV p, bool& r) { return r = s.ends_with(p), true; });
  if (f == "contains")
    return Map2<bool, SV, SV>(t, args[0], args[1],
                              [](SV s, SV p, bool& r) { return r = s.find(p) != SV::npos, true; });
  if (f == "year" || f == "month" || f == "day") {
    const int part = f == "year" ? 0 : (f == "month" ? 1 : 2);
    Val d = args[0].col->type == TypeId::kDate32 ? args[0] : CastVal(args[0], TypeId::kDate32);
    return Map1<int64_t, int32_t>(t, d, [part](int32_t days, int64_t& r) {
      int y;
      unsigned m, dd;
      CivilFromDays(days, &y, &m, &dd);
      r = part == 0 ? int64_t{y} : int64_t{part == 1 ? m : dd};
      return true;
    });
  }
  if (f == "date_diff")
    return Map2<int64_t, int32_t, int32_t>(
        t, args[0], args[1],
        [](int32_t a, int32_t b, int64_t& r) { return r = int64_t{a} - b, true; });
  if (f == "add_days") {
    if (t == TypeId::kDate32)
      return Map2<int32_t, int32_t, int64_t>(
          t, args[0], args[1], [](int32_t d, int64_t k, int32_t& r) {
            const int64_t v = int64_t{d} + std::clamp<int64_t>(k, INT32_MIN * 2LL, INT32_MAX * 2LL);
            if (v < INT32_MIN || v > INT32_MAX) return false;
            r = static_cast<int32_t>(v);
            return true;
          });
    return Map2<int64_t, int64_t, int64_t>(
        t, args[0], args[1], [](int64_t us, int64_t k, int64_t& r) {
          int64_t delta;
          return !__builtin_mul_overflow(k, kMicrosPerDay, &delta) &&
                 !__builtin_add_overflow(us, delta, &r);
        });
  }
  // abs, floor, ceil, round
  const Val* digits = args.size() > 1 ? &args[1] : nullptr;
  if (t == TypeId::kInt64) return RoundLike<int64_t>(f, args[0], digits);
  return RoundLike<double>(f, args[0], digits);
}

// Strict nodes give null whenever an argument is null, so they can be computed
// on a dictionary's distinct values instead of every row.
bool IsStrict(const ExprNode& n, size_t arg) {
  switch (n.kind) {
    case NodeKind::kUnary:
    case NodeKind::kCast:
      return true;
    case NodeKind::kBinary:
      return n.name != "and" && n.name != "or";
    case NodeKind::kIn:
      return arg == 0;  // `'a' in ('a', x)` is true even where x is null
    case NodeKind::kCall:
      return n.name != "coalesce" && n.name != "concat" && n.name != "nullif";
    default:
      return false;
  }
}

// matches(s, 'pattern'): PCRE2 costs up to microseconds a row, so a large column
// is matched in chunks on several threads, each with its own matcher, then the
// results are written in order. A match that reaches the regex limits fails
// the evaluation, naming the first such row.
Result<Val> MatchesVal(const ExprNode& n, const Val& a) {
  const Regex& re = *n.regex;
  const int64_t rows = a.length();
  In<std::string_view> ia(a);
  enum : uint8_t { kNo, kYes, kNull };
  std::vector<uint8_t> hit(static_cast<size_t>(rows));
  constexpr int64_t kChunk = 1 << 13;
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  const int threads =
      rows >= 2 * kChunk ? static_cast<int>(std::min<int64_t>(chunks, MaxThreads())) : 1;
  std::atomic<int64_t> next_chunk{0};
  // The first failing row of each thread; the earliest of all is reported.
  std::atomic<int64_t> first_failure{rows};
  std::vector<std::pair<int64_t, Status>> failures(static_cast<size_t>(threads),
                                                   {rows, Status::Ok()});
  ParallelFor(threads, threads > 1, [&](int64_t thread) {
    Regex::Matcher m(re);
    for (int64_t k = next_chunk.fetch_add(1); k < chunks; k = next_chunk.fetch_add(1)) {
      const int64_t end = std::min(rows, (k + 1) * kChunk);
      for (int64_t i = k * kChunk; i < end; ++i) {
        if (i >= first_failure.load(std::memory_order_relaxed)) return;
        if (!ia.Valid(i)) {
          hit[static_cast<size_t>(i)] = kNull;
          continue;
        }
        auto found = m.Search(ia[i]);
        if (!found.ok()) {
          failures[static_cast<size_t>(thread)] = std::make_pair(i, found.status());
          int64_t seen = first_failure.load();
          while (i < seen && !first_failure.compare_exchange_weak(seen, i)) {
          }
          return;
        }
        hit[static_cast<size_t>(i)] = *found ? kYes : kNo;
      }
    }
  });
  const auto first =
      std::min_element(failures.begin(), failures.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
  if (first->first < rows) {
    const ExprNode& arg = *n.args[0];
    return first->second.WithContext(
        arg.kind == NodeKind::kColumn
            ? fmt::format("matches() on column '{}', row {}", arg.name, first->first + 1)
            : fmt::format("matches(), row {}", first->first + 1));
  }
  Out<bool> out(TypeId::kBool, rows);
  for (int64_t i = 0; i < rows; ++i) {
    const uint8_t h = hit[static_cast<size_t>(i)];
    if (h == kNull)
      out.Null(i);
    else
      out.Set(i, h == kYes);
  }
  return Val{out.Finish(), a.scalar};
}

Result<Val> Apply(const ExprNode& n, const std::vector<Val>& args) {
  switch (n.kind) {
    case NodeKind::kUnary:
      if (n.name == "not")
        return Map1<bool, bool>(TypeId::kBool, args[0],
                                [](bool v, bool& r) { return r = !v, true; });
      if (n.type == TypeId::kInt64)
        return Map1<int64_t, int64_t>(n.type, args[0], [](int64_t v, int64_t& r) {
          return !__builtin_sub_overflow(int64_t{0}, v, &r);
        });
      return Map1<double, double>(n.type, args[0],
                                  [](double v, double& r) { return r = -v, true; });
    case NodeKind::kBinary:
      if (n.name == "and" || n.name == "or") return Logic(n.name == "and", args[0], args[1]);
      if (n.name == "||") return ConcatVal(args, false);
      if (n.type == TypeId::kBool) return Compare(n.name, args[0], args[1]);
      return Arithmetic(n.name, args[0], args[1]);
    case NodeKind::kIsNull: {
      const Val& a = args[0];
      const int64_t len = a.length();
      BoolOut out(TypeId::kBool, len);
      for (int64_t i = 0; i < len; ++i) out.Set(i, a.col->IsNull(a.scalar ? 0 : i) != n.negated);
      return Val{out.Finish(), a.scalar};
    }
    case NodeKind::kIn:
      return InVal(n, args);
    case NodeKind::kCase:
      return CaseVal(n, args);
    case NodeKind::kCast:
      return CastVal(args[0], n.type);
    case NodeKind::kCall:
      if (n.name == "matches") return MatchesVal(n, args[0]);
      return CallVal(n, args);
    default:
      return args[0];
  }
}

Result<Val> Eval(const ExprNode& n, const Table& table) {
  if (n.kind == NodeKind::kLiteral) return LiteralVal(n);
  if (n.kind == NodeKind::kColumn) {
    ColumnPtr c = table.ColumnByName(n.name);
    if (!c) return Status::Invalid(fmt::format("no column '{}' in the table", n.name));
    if (c->type != n.type)
      return Status::Invalid(
          fmt::format("column '{}' is {}, but the expression was compiled for {}", n.name,
                      TypeName(c->type), TypeName(n.type)));
    return Full(std::move(c));
  }
  std::vector<Val> args;
  args.reserve(n.args.size());
  for (const auto& a : n.args) {
    ALAMBIC_ASSIGN_OR_RETURN(Val v, Eval(*a, table));
    args.push_back(std::move(v));
  }
  // One dictionary-encoded column among scalars: compute on its distinct values.
  int full = -1, fulls = 0;
  for (size_t k = 0; k < args.size(); ++k)
    if (!args[k].scalar) full = static_cast<int>(k), ++fulls;
  if (fulls == 1 && IsStrict(n, static_cast<size_t>(full))) {
    const ColumnPtr& c = args[static_cast<size_t>(full)].col;
    if (c->is_dictionary() && c->dictionary->length < c->length) {
      std::vector<Val> on_dict = args;
      on_dict[static_cast<size_t>(full)] = Full(c->dictionary);
      auto r = Apply(n, on_dict);
      // An error names a row of the column, not an entry of its dictionary.
      if (!r.ok()) return Apply(n, args);
      return Full(ExpandDictionary(r->col, *c));
    }
  }
  return Apply(n, args);
}

}  // namespace

Result<ColumnPtr> TypedExpr::Evaluate(const Table& table) const {
  ALAMBIC_ASSIGN_OR_RETURN(Val v, Eval(*root_, table));
  if (!v.scalar && v.col->length != table.num_rows())
    return Status::Internal("expression result has the wrong number of rows");
  return Broadcast(v, table.num_rows());
}

ColumnPtr TakeRows(const Column& col, const std::vector<int64_t>& rows) {
  const auto n = static_cast<int64_t>(rows.size());
  if (col.is_dictionary()) {
    auto out = std::make_shared<Column>();
    out->type = TypeId::kUtf8;
    out->length = n;
    out->dictionary = col.dictionary;
    out->data.resize(rows.size() * sizeof(int32_t));
    auto* idx = reinterpret_cast<int32_t*>(out->data.data());
    const int32_t* src = col.Int32Data();
    int64_t nulls = 0;
    if (col.null_count > 0) out->validity.assign(static_cast<size_t>((n + 7) / 8), 0xFF);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = rows[static_cast<size_t>(i)];
      idx[i] = src[j];
      if (col.null_count > 0 && col.IsNull(j)) {
        out->validity[static_cast<size_t>(i >> 3)] &= static_cast<uint8_t>(~(1u << (i & 7)));
        idx[i] = 0;
        ++nulls;
      }
    }
    FinishValidity(out.get(), nulls);
    return out;
  }
  return Gather(
      col, n, [&](int64_t i) { return rows[static_cast<size_t>(i)]; },
      [](int64_t) { return true; });
}

}  // namespace alambic
