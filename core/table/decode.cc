#include "core/table/decode.h"

#include <bzlib.h>
#include <fcntl.h>
#include <iconv.h>
#include <lzma.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace alambic {
namespace {

constexpr size_t kReadBlock = size_t{1} << 20;   // compressed bytes read at a time
constexpr size_t kWriteBlock = size_t{1} << 20;  // decompressed / transcoded bytes per step

// Windows-1252 0x80..0x9F; the undefined bytes map to the C1 control of the same value.
constexpr char16_t kWindows1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

void AppendCodePoint(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char DecodeLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

size_t LineOf(std::string_view text, size_t pos) {
  pos = std::min(pos, text.size());
  return static_cast<size_t>(
             std::count(text.begin(), text.begin() + static_cast<long>(pos), '\n')) +
         1;
}

std::string SuggestEncoding() {
  return "give the file's encoding with the `encoding` parameter (e.g. windows-1252, "
         "iso-8859-15, utf-16le, gb18030)";
}

// Decompressed output, grown block by block, bounded by a maximum size.
class Sink {
 public:
  Sink(std::string& s, uint64_t max, const std::string& source)
      : s_(s), max_(max), source_(source) {}
  char* Space(size_t* n) {
    if (s_.size() < have_ + kWriteBlock) s_.resize(std::max(have_ + kWriteBlock, s_.size() * 2));
    *n = s_.size() - have_;
    return s_.data() + have_;
  }
  Status Commit(size_t n) {
    have_ += n;
    if (have_ > max_)
      return Status::Invalid(fmt::format(
          "{}: decompresses to more than {} bytes, the limit (a damaged file or a \"zip bomb\"?); "
          "raise it with the max_decompressed_bytes parameter if the file is genuine",
          source_, max_));
    return Status::Ok();
  }
  void Finish() { s_.resize(have_); }
  size_t size() const { return have_; }

 private:
  std::string& s_;
  uint64_t max_;
  const std::string& source_;
  size_t have_ = 0;
};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads compressed input block by block: from a file descriptor, or from memory.
class Input {
 public:
  Input(int fd, const std::string& source) : fd_(fd), source_(source), buf_(kReadBlock, '\0') {}
  Input(std::string_view mem, const std::string& source) : mem_(mem), source_(source) {}
  // Next block (empty at the end).
  Result<std::string_view> Next() {
    if (fd_ < 0) {
      std::string_view b = mem_.substr(0, kReadBlock);
      mem_.remove_prefix(b.size());
      return b;
    }
    for (;;) {
      const ssize_t r = ::read(fd_, buf_.data(), buf_.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Status::IoError(fmt::format("{}: {}", source_, std::strerror(errno)));
      read_ += static_cast<uint64_t>(r);
      return std::string_view(buf_.data(), static_cast<size_t>(r));
    }
  }
  uint64_t read() const { return read_; }

 private:
  int fd_ = -1;
  std::string_view mem_;
  const std::string& source_;
  std::string buf_;
  uint64_t read_ = 0;
};

Status Damaged(const std::string& source, const char* format, std::string_view why) {
  return Status::Invalid(fmt::format("{}: damaged {} data ({})", source, format, why));
}
Status Truncated(const std::string& source, const char* format) {
  return Status::Invalid(fmt::format(
      "{}: truncated {} data (the file ends before the end of its stream)", source, format));
}

Status Cancelled(const DecodeOptions& o) {
  return Status::Cancelled("cancelled");
  (void)o;
}

Status Gunzip(Input& in, Sink& out, const DecodeOptions& o, const std::string& src) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return Status::Internal("zlib: cannot initialise");
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  bool in_stream = false;  // inside a member (false before the first and after each end)
  for (;;) {
    if (o.cancelled && o.cancelled()) return Cancelled(o);
    ALAMBIC_ASSIGN_OR_RETURN(std::string_view block, in.Next());
    if (block.empty()) break;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(block.data()));
    z.avail_in = static_cast<uInt>(block.size());
    while (z.avail_in > 0) {
      if (!in_stream) {
        if (inflateReset(&z) != Z_OK) return Status::Internal("zlib: cannot reset");
        in_stream = true;
      }
      size_t n;
      char* dst = out.Space(&n);
      n = std::min<size_t>(n, 1u << 30);
      z.next_out = reinterpret_cast<Bytef*>(dst);
      z.avail_out = static_cast<uInt>(n);
      const int ret = inflate(&z, Z_NO_FLUSH);
      ALAMBIC_RETURN_IF_ERROR(out.Commit(n - z.avail_out));
      if (ret == Z_STREAM_END) {
        in_stream = false;
      } else if (ret == Z_BUF_ERROR) {
        continue;
      } else if (ret != Z_OK) {
        return Damaged(src, "gzip", z.msg ? z.msg : "inflate error");
      }
    }
  }
  // A member whose output is still pending in zlib (avail_in is 0 but output was full).
  while (in_stream) {
    size_t n;
    char* dst = out.Space(&n);
    n = std::min<size_t>(n, 1u << 30);
    z.next_out = reinterpret_cast<Bytef*>(dst);
    z.avail_out = static_cast<uInt>(n);
    const int ret = inflate(&z, Z_NO_FLUSH);
    ALAMBIC_RETURN_IF_ERROR(out.Commit(n - z.avail_out));
    if (ret == Z_STREAM_END) {
      in_stream = false;
    } else if (ret == Z_BUF_ERROR || (ret == Z_OK && z.avail_out != 0)) {
      return Truncated(src, "gzip");
    } else if (ret != Z_OK) {
      return Damaged(src, "gzip", z.msg ? z.msg : "inflate error");
    }
  }
  return Status::Ok();
}

Status Bunzip2(Input& in, Sink& out, const DecodeOptions& o, const std::string& src) {
  bz_stream b{};
  bool open = false;
  struct End {
    bz_stream* b;
    bool* open;
    ~End() {
      if (*open) BZ2_bzDecompressEnd(b);
    }
  } end{&b, &open};
  auto step = [&]() -> Result<bool> {  // true at the end of a stream
    if (!open) {
      if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK) return Status::Internal("bzip2: cannot init");
      open = true;
    }
    size_t n;
    char* dst = out.Space(&n);
    n = std::min<size_t>(n, 1u << 30);
    b.next_out = dst;
    b.avail_out = static_cast<unsigned>(n);
    const int ret = BZ2_bzDecompress(&b);
    ALAMBIC_RETURN_IF_ERROR(out.Commit(n - b.avail_out));
    if (ret == BZ_STREAM_END) {
      BZ2_bzDecompressEnd(&b);
      open = false;
      return true;
    }
    if (ret != BZ_OK)
      return Damaged(src, "bzip2",
                     ret == BZ_DATA_ERROR_MAGIC ? "bad signature" : fmt::format("error {}", ret));
    return false;
  };
  for (;;) {
    if (o.cancelled && o.cancelled()) return Cancelled(o);
    ALAMBIC_ASSIGN_OR_RETURN(std::string_view block, in.Next());
    if (block.empty()) break;
    b.next_in = const_cast<char*>(block.data());
    b.avail_in = static_cast<unsigned>(block.size());
    while (b.avail_in > 0) ALAMBIC_RETURN_IF_ERROR(step().status());
  }
  // Drain what the decoder still holds.
  while (open) {
    const size_t before = out.size();
    ALAMBIC_ASSIGN_OR_RETURN(bool ended, step());
    if (!ended && out.size() == before) return Truncated(src, "bzip2");
  }
  return Status::Ok();
}

Status Unxz(Input& in, Sink& out, const DecodeOptions& o, const std::string& src) {
  lzma_stream s = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
    return Status::Internal("xz: cannot initialise");
  struct End {
    lzma_stream* s;
    ~End() { lzma_end(s); }
  } end{&s};
  bool eof = false;
  for (;;) {
    if (s.avail_in == 0 && !eof) {
      if (o.cancelled && o.cancelled()) return Cancelled(o);
      ALAMBIC_ASSIGN_OR_RETURN(std::string_view block, in.Next());
      eof = block.empty();
      s.next_in = reinterpret_cast<const uint8_t*>(block.data());
      s.avail_in = block.size();
    }
    size_t n;
    char* dst = out.Space(&n);
    s.next_out = reinterpret_cast<uint8_t*>(dst);
    s.avail_out = n;
    const lzma_ret ret = lzma_code(&s, eof ? LZMA_FINISH : LZMA_RUN);
    ALAMBIC_RETURN_IF_ERROR(out.Commit(n - s.avail_out));
    if (ret == LZMA_STREAM_END) return Status::Ok();
    if (ret == LZMA_OK) continue;
    if (ret == LZMA_BUF_ERROR) return Truncated(src, "xz");
    return Damaged(src, "xz",
                   ret == LZMA_FORMAT_ERROR ? "bad signature"
                   : ret == LZMA_DATA_ERROR ? "corrupt data"
                   : ret == LZMA_MEM_ERROR  ? "out of memory"
                                            : fmt::format("error {}", static_cast<int>(ret)));
  }
}

Status Unzstd(Input& in, Sink& out, const DecodeOptions& o, const std::string& src) {
  ZSTD_DStream* ds = ZSTD_createDStream();
  if (!ds) return Status::Internal("zstd: cannot initialise");
  struct End {
    ZSTD_DStream* ds;
    ~End() { ZSTD_freeDStream(ds); }
  } end{ds};
  ZSTD_initDStream(ds);
  size_t last = 0;  // 0 once a frame is complete
  bool any = false;
  for (;;) {
    if (o.cancelled && o.cancelled()) return Cancelled(o);
    ALAMBIC_ASSIGN_OR_RETURN(std::string_view block, in.Next());
    if (block.empty()) break;
    any = true;
    ZSTD_inBuffer ib{block.data(), block.size(), 0};
    bool full = true;
    while (ib.pos < ib.size || full) {
      size_t n;
      char* dst = out.Space(&n);
      ZSTD_outBuffer ob{dst, n, 0};
      last = ZSTD_decompressStream(ds, &ob, &ib);
      if (ZSTD_isError(last)) return Damaged(src, "zstd", ZSTD_getErrorName(last));
      ALAMBIC_RETURN_IF_ERROR(out.Commit(ob.pos));
      full = ob.pos == ob.size;
    }
  }
  if (!any || last != 0) return Truncated(src, "zstd");
  return Status::Ok();
}

Status Decompress(Compression c, Input& in, Sink& out, const DecodeOptions& o,
                  const std::string& src) {
  switch (c) {
    case Compression::kGzip:
      return Gunzip(in, out, o, src);
    case Compression::kBzip2:
      return Bunzip2(in, out, o, src);
    case Compression::kXz:
      return Unxz(in, out, o, src);
    case Compression::kZstd:
      return Unzstd(in, out, o, src);
    default:
      return Status::Internal("not a stream compression");
  }
}

std::string ZipError(int code) {
  zip_error_t e;
  zip_error_init_with_code(&e, code);
  std::string msg = zip_error_strerror(&e);
  zip_error_fini(&e);
  return msg;
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Reads the member of a zip archive into `out`; `chosen` receives its name.
Status Unzip(const std::filesystem::path& path, Sink& out, const DecodeOptions& o,
             const std::string& src, std::string* chosen) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY, &err);
  if (!z) return Damaged(src, "zip", ZipError(err));
  struct Close {
    zip_t* z;
    ~Close() { zip_discard(z); }
  } close{z};
  const zip_int64_t n = zip_get_num_entries(z, 0);
  std::vector<std::string> files;
  std::vector<zip_uint64_t> index;
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(z, static_cast<zip_uint64_t>(i), 0);
    if (!name) continue;
    std::string_view nm(name);
    if (!nm.empty() && nm.back() == '/') continue;  // a directory
    files.emplace_back(nm);
    index.push_back(static_cast<zip_uint64_t>(i));
  }
  size_t pick = 0;
  if (o.member.empty()) {
    if (files.empty())
      return Status::Invalid(fmt::format("{}: the zip archive holds no file", src));
    if (files.size() > 1)
      return Status::Invalid(
          fmt::format("{}: the zip archive holds {} files ({}); name one with the member parameter",
                      src, files.size(), JoinNames(files)));
  } else {
    auto it = std::find(files.begin(), files.end(), o.member);
    if (it == files.end())
      return Status::Invalid(fmt::format("{}: the zip archive has no member '{}' (it holds: {})",
                                         src, o.member, JoinNames(files)));
    pick = static_cast<size_t>(it - files.begin());
  }
  *chosen = files[pick];
  zip_file_t* f = zip_fopen_index(z, index[pick], 0);
  if (!f) return Damaged(src, "zip", fmt::format("{}: {}", files[pick], zip_strerror(z)));
  struct FClose {
    zip_file_t* f;
    ~FClose() { zip_fclose(f); }
  } fclose_{f};
  for (;;) {
    if (o.cancelled && o.cancelled()) return Cancelled(o);
    size_t space;
    char* dst = out.Space(&space);
    const zip_int64_t r = zip_fread(f, dst, std::min<size_t>(space, kWriteBlock));
    if (r < 0) return Damaged(src, "zip", fmt::format("{}: {}", files[pick], zip_file_strerror(f)));
    if (r == 0) break;
    ALAMBIC_RETURN_IF_ERROR(out.Commit(static_cast<size_t>(r)));
  }
  return Status::Ok();
}

}  // namespace

class Decoder {
 public:
  // Settles the encoding of `d.text()` (its bytes owned by d or mapped).
  static Status Encode(DecodedText& d, const DecodeOptions& o, const std::string& src) {
    std::string enc;
    if (!o.encoding.empty()) {
      enc = CanonicalEncoding(o.encoding);
      if (enc.empty())
        return Status::Invalid(fmt::format("{}: unknown encoding '{}'", src, o.encoding));
    }
    const std::string_view text = d.text();
    if (enc.empty()) {
      const size_t bad = InvalidUtf8Offset(text);
      if (bad == std::string_view::npos) {
        enc = "utf-8";
        d.notes_.push_back(text.substr(0, 3) == "\xEF\xBB\xBF"
                               ? "encoding: detected utf-8 (valid UTF-8 with a byte-order mark)"
                               : "encoding: detected utf-8 (valid UTF-8)");
      } else if (text.substr(0, 2) == "\xFF\xFE" || text.substr(0, 2) == "\xFE\xFF") {
        enc = text[0] == '\xFF' ? "UTF-16LE" : "UTF-16BE";
        d.notes_.push_back(fmt::format("encoding: detected {} (byte-order mark)",
                                       text[0] == '\xFF' ? "utf-16le" : "utf-16be"));
        Drop(d, 2);
      } else {
        enc = "windows-1252";
        d.notes_.push_back(
            fmt::format("encoding: detected windows-1252 (invalid UTF-8 at byte {}, line {}); give "
                        "`encoding` if it is another one",
                        bad, LineOf(text, bad)));
      }
    }
    if (enc == "utf-8") {
      if (!o.keep_single_byte) {
        const std::string_view t = d.text();
        const size_t bad = InvalidUtf8Offset(t);
        if (bad != std::string_view::npos)
          return Status::Invalid(fmt::format(
              "{}:{}: invalid UTF-8 at byte {} (byte 0x{:02X}); {}", src, LineOf(t, bad), bad,
              static_cast<unsigned char>(t[bad]), SuggestEncoding()));
        if (d.text().substr(0, 3) == "\xEF\xBB\xBF") Drop(d, 3);
      }
      d.encoding_ = "utf-8";
      return Status::Ok();
    }
    if (enc == "latin-1" || enc == "windows-1252") {
      if (o.keep_single_byte) {
        d.encoding_ = enc;
        return Status::Ok();
      }
      std::string out;
      const std::string_view t = d.text();
      out.reserve(t.size() + t.size() / 8);
      AppendSingleByteAsUtf8(out, t.data(), t.size(), enc == "windows-1252");
      Own(d, std::move(out));
      return Status::Ok();
    }
    ALAMBIC_ASSIGN_OR_RETURN(std::string out, Iconv(d.text(), enc, o, src));
    Own(d, std::move(out));
    if (d.text().substr(0, 3) == "\xEF\xBB\xBF") Drop(d, 3);
    return Status::Ok();
  }

  static void Drop(DecodedText& d, size_t n) {
    d.begin_ += n;
    d.size_ -= n;
  }

  static void Own(DecodedText& d, std::string s) {
    d.mapping_.reset();
    d.owned_ = std::move(s);
    d.begin_ = 0;
    d.size_ = d.owned_.size();
    d.encoding_ = "utf-8";
  }

  static Result<std::string> Iconv(std::string_view in, const std::string& enc,
                                   const DecodeOptions& o, const std::string& src) {
    iconv_t cd = iconv_open("UTF-8", enc.c_str());
    if (cd == reinterpret_cast<iconv_t>(-1))
      return Status::Invalid(fmt::format("{}: unknown encoding '{}'", src, enc));
    struct Close {
      iconv_t cd;
      ~Close() { iconv_close(cd); }
    } close{cd};
    std::string out;
    size_t have = 0;
    char* ip = const_cast<char*>(in.data());
    size_t il = in.size();
    size_t until_check = 0;
    while (il > 0) {
      if (++until_check % 64 == 0 && o.cancelled && o.cancelled()) return Cancelled(o);
      if (out.size() < have + kWriteBlock)
        out.resize(std::max(have + kWriteBlock, out.size() + out.size() / 2));
      char* op = out.data() + have;
      size_t ol = std::min(out.size() - have, kWriteBlock * 4);
      const size_t r = iconv(cd, &ip, &il, &op, &ol);
      have = static_cast<size_t>(op - out.data());
      if (r != static_cast<size_t>(-1) || errno == E2BIG) continue;
      const size_t at = static_cast<size_t>(ip - in.data());
      const size_t line = LineOf(std::string_view(out.data(), have), have);
      if (errno == EINVAL)
        return Status::Invalid(
            fmt::format("{}:{}: the text ends inside a character (byte {}) decoding it as {}; {}",
                        src, line, at, enc, SuggestEncoding()));
      return Status::Invalid(fmt::format("{}:{}: cannot decode byte {} (0x{:02X}) as {}; {}", src,
                                         line, at, static_cast<unsigned char>(in[at]), enc,
                                         SuggestEncoding()));
    }
    out.resize(have);
    return out;
  }

  static Result<DecodedText> FromStream(Compression c, Input& in, const DecodeOptions& o,
                                        const std::string& src, uint64_t compressed_size) {
    DecodedText d;
    d.compression_ = c;
    Sink sink(d.owned_, o.max_bytes, src);
    ALAMBIC_RETURN_IF_ERROR(Decompress(c, in, sink, o, src));
    sink.Finish();
    d.size_ = d.owned_.size();
    d.notes_.push_back(fmt::format("{}: {} compressed bytes, {} decompressed", CompressionName(c),
                                   compressed_size ? compressed_size : in.read(), sink.size()));
    ALAMBIC_RETURN_IF_ERROR(Encode(d, o, src));
    return d;
  }

  static Result<DecodedText> FromZip(const std::filesystem::path& path, const DecodeOptions& o,
                                     const std::string& src) {
    DecodedText d;
    d.compression_ = Compression::kZip;
    Sink sink(d.owned_, o.max_bytes, src);
    std::string member;
    ALAMBIC_RETURN_IF_ERROR(Unzip(path, sink, o, src, &member));
    sink.Finish();
    d.size_ = d.owned_.size();
    d.notes_.push_back(fmt::format("zip: member {}, {} bytes", member, sink.size()));
    ALAMBIC_RETURN_IF_ERROR(Encode(d, o, src));
    return d;
  }

  static Result<DecodedText> FromMapping(std::shared_ptr<const void> m, std::string owned,
                                         size_t size, const DecodeOptions& o,
                                         const std::string& src) {
    DecodedText d;
    d.mapping_ = std::move(m);
    d.owned_ = std::move(owned);
    d.size_ = d.mapping_ ? size : d.owned_.size();
    ALAMBIC_RETURN_IF_ERROR(Encode(d, o, src));
    return d;
  }
};

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kBzip2:
      return "bzip2";
    case Compression::kXz:
      return "xz";
    case Compression::kZstd:
      return "zstd";
    case Compression::kZip:
      return "zip";
  }
  return "?";
}

Compression CompressionFromMagic(std::string_view h) {
  if (h.substr(0, 2) == "\x1F\x8B") return Compression::kGzip;
  if (h.size() >= 4 && h.substr(0, 3) == "BZh" && h[3] >= '1' && h[3] <= '9')
    return Compression::kBzip2;
  if (h.substr(0, 6) == std::string_view("\xFD"
                                         "7zXZ\0",
                                         6))
    return Compression::kXz;
  if (h.substr(0, 4) == "\x28\xB5\x2F\xFD") return Compression::kZstd;
  if (h.substr(0, 4) == "PK\x03\x04" || h.substr(0, 4) == "PK\x05\x06") return Compression::kZip;
  return Compression::kNone;
}

Compression CompressionFromName(std::string_view name) {
  std::string n;
  for (char c : name) n.push_back(DecodeLower(c));
  auto ends = [&](std::string_view suf) {
    return n.size() > suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends(".gz")) return Compression::kGzip;
  if (ends(".bz2")) return Compression::kBzip2;
  if (ends(".xz")) return Compression::kXz;
  if (ends(".zst")) return Compression::kZstd;
  if (ends(".zip")) return Compression::kZip;
  return Compression::kNone;
}

std::string CanonicalEncoding(std::string_view name) {
  std::string key;
  for (char c : name)
    if (c != '-' && c != '_' && c != ' ') key.push_back(DecodeLower(c));
  if (key.empty()) return "";
  if (key == "utf8" || key == "utf8sig" || key == "ascii" || key == "usascii") return "utf-8";
  if (key == "latin1" || key == "iso88591" || key == "l1" || key == "iso885911987")
    return "latin-1";
  if (key == "windows1252" || key == "cp1252" || key == "win1252") return "windows-1252";
  std::string upper;
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7E) return "";
    upper.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  // "//TRANSLIT" and the like would change what iconv does on bad input.
  if (upper.find('/') != std::string::npos) return "";
  iconv_t cd = iconv_open("UTF-8", upper.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return "";
  iconv_close(cd);
  return upper;
}

size_t InvalidUtf8Offset(std::string_view s) {
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    // ASCII fast path, eight bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, u + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = u[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (u[i + 1] < lo || u[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((u[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

std::optional<Diagnostic> NotUtf8Diagnostic(std::string_view text, const std::string& file) {
  const size_t bad = InvalidUtf8Offset(text);
  if (bad == std::string_view::npos) return std::nullopt;
  const size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
  const size_t begin = line_start == std::string_view::npos || bad == 0 ? 0 : line_start + 1;
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + begin, '\n'));
  return Diagnostic{{file, line, static_cast<int>(bad - begin) + 1},
                    fmt::format("not UTF-8 text (byte 0x{:02X}): save the file as UTF-8",
                                static_cast<unsigned char>(text[bad]))};
}

void AppendSingleByteAsUtf8(std::string& out, const char* p, size_t n, bool windows1252) {
  size_t ascii = 0;
  while (ascii < n && static_cast<unsigned char>(p[ascii]) < 0x80) ++ascii;
  out.append(p, ascii);
  for (size_t i = ascii; i < n; ++i) {
    const auto b = static_cast<unsigned char>(p[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
    } else if (b < 0xA0 && windows1252) {
      AppendCodePoint(out, kWindows1252High[b - 0x80]);
    } else {
      AppendCodePoint(out, b);
    }
  }
}

Result<DecodedText> DecodeFile(const std::filesystem::path& path, const DecodeOptions& opts) {
  const std::string src = opts.source_name.empty() ? path.string() : opts.source_name;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound(fmt::format("{}: no such file", src));
    return Status::IoError(fmt::format("{}: {}", src, std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0)
    return Status::IoError(fmt::format("{}: {}", src, std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) return Status::Invalid(fmt::format("{}: is a directory", src));
  if (!S_ISREG(st.st_mode)) {
    // A pipe or special file: read it whole, then as a buffer.
    std::string all;
    Input in(fd.get(), src);
    for (;;) {
      ALAMBIC_ASSIGN_OR_RETURN(std::string_view b, in.Next());
      if (b.empty()) break;
      all.append(b);
    }
    DecodeOptions o = opts;
    o.source_name = src;
    return DecodeBuffer(std::move(all), o);
  }
  char head[8] = {};
  ssize_t got = ::pread(fd.get(), head, sizeof head, 0);
  if (got < 0) return Status::IoError(fmt::format("{}: {}", src, std::strerror(errno)));
  const Compression magic = CompressionFromMagic(std::string_view(head, static_cast<size_t>(got)));
  const Compression named = CompressionFromName(path.filename().string());
  if (named != Compression::kNone && magic != named)
    return Status::Invalid(fmt::format(
        "{}: not {} data (its first bytes are not the {} signature): the file is damaged or "
        "misnamed",
        src, CompressionName(named), CompressionName(named)));
  if (magic == Compression::kZip) return Decoder::FromZip(path, opts, src);
  if (magic != Compression::kNone) {
    Input in(fd.get(), src);
    return Decoder::FromStream(magic, in, opts, src, 0);
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd.get(), 0);
    if (m != MAP_FAILED) {
      std::shared_ptr<const void> mapping(
          m, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
      return Decoder::FromMapping(std::move(mapping), {}, size, opts, src);
    }
  }
  std::string all;
  Input in(fd.get(), src);
  for (;;) {
    ALAMBIC_ASSIGN_OR_RETURN(std::string_view b, in.Next());
    if (b.empty()) break;
    all.append(b);
  }
  return Decoder::FromMapping(nullptr, std::move(all), 0, opts, src);
}

Result<DecodedText> DecodeBuffer(std::string data, const DecodeOptions& opts) {
  const std::string src = opts.source_name.empty() ? "<input>" : opts.source_name;
  const Compression magic = CompressionFromMagic(data);
  if (magic == Compression::kZip)
    return Status::Invalid(fmt::format("{}: a zip archive can only be read from a file", src));
  if (magic != Compression::kNone) {
    Input in(std::string_view(data), src);
    return Decoder::FromStream(magic, in, opts, src, data.size());
  }
  return Decoder::FromMapping(nullptr, std::move(data), 0, opts, src);
}

}  // namespace alambic
