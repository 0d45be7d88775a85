#include "ui/web/static_files.h"

#include <fstream>
#include <sstream>

#include <httplib.h>

namespace alambic {

namespace fs = std::filesystem;

namespace {

constexpr const char* kNotBuilt =
    "Alambic: the web UI bundle is not built (or --static-dir does not point to it).\n"
    "The JSON API answers under /api/ (see docs/api.md).\n";

void NotFound(httplib::Response& res) {
  res.status = 404;
  res.set_content("not found\n", "text/plain; charset=utf-8");
}

bool SafeSegment(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s[0] == '.') return false;
  for (char c : s)
    if (c == '/' || c == '\\' || c == '\0' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

}  // namespace

const char* MimeType(const std::string& name) {
  const std::string ext = fs::path(name).extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".gif") return "image/gif";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".webp") return "image/webp";
  if (ext == ".woff2") return "font/woff2";
  if (ext == ".woff") return "font/woff";
  if (ext == ".ttf") return "font/ttf";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  if (ext == ".wasm") return "application/wasm";
  return "application/octet-stream";
}

StaticFiles::StaticFiles(fs::path dir) {
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return;
  dir_ = fs::canonical(dir, ec);
  if (ec) dir_.clear();
}

void StaticFiles::Serve(const std::vector<std::string>& segments, bool spa,
                        httplib::Response& res) const {
  std::error_code ec;
  const bool has_index = !dir_.empty() && fs::is_regular_file(dir_ / "index.html", ec);
  std::vector<std::string> path = segments;
  if (path.empty() || (spa && fs::path(path.back()).extension().empty())) {
    if (!has_index) {
      if (spa && segments.empty()) {
        res.status = 200;
        res.set_content(kNotBuilt, "text/plain; charset=utf-8");
        return;
      }
      NotFound(res);
      return;
    }
    // The SPA's own routes: the client reads the path.
    for (const auto& s : segments)
      if (!s.empty() && s[0] == '.') return NotFound(res);
    path = {"index.html"};
  }
  if (dir_.empty()) return NotFound(res);
  fs::path p = dir_;
  for (const auto& s : path) {
    if (!SafeSegment(s)) return NotFound(res);
    p /= s;
  }
  // Resolved, it must still be inside the directory (a symbolic link out is refused).
  const fs::path real = fs::canonical(p, ec);
  if (ec || !fs::is_regular_file(real, ec)) return NotFound(res);
  const fs::path rel = real.lexically_relative(dir_);
  if (rel.empty() || *rel.begin() == "..") return NotFound(res);
  std::ifstream in(real, std::ios::binary);
  if (!in) return NotFound(res);
  std::stringstream ss;
  ss << in.rdbuf();
  res.status = 200;
  res.set_content(ss.str(), MimeType(real.filename().string()));
  // Hashed asset names may be cached; index.html is revalidated.
  res.set_header("Cache-Control",
                 real.filename() == "index.html" ? "no-cache" : "public, max-age=3600");
}

}  // namespace alambic
