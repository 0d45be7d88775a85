// The UI bundle's files, served from one directory: confined to it (no "..",
// no hidden names, no symbolic link leading out, checked on the resolved
// path), with their MIME type; a path without an extension is the single-page
// app's index.html. When the directory or its index.html is missing, "/"
// answers a short plain-text page saying the UI is not built.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace httplib {
struct Response;
}

namespace alambic {

// The MIME type of a file name by its extension (application/octet-stream
// when unknown).
const char* MimeType(const std::string& name);

class StaticFiles {
 public:
  StaticFiles() = default;
  explicit StaticFiles(std::filesystem::path dir);
  // Answers a GET of the decoded path `segments`. `spa`: a path whose last
  // segment has no extension is index.html.
  void Serve(const std::vector<std::string>& segments, bool spa, httplib::Response& res) const;

 private:
  std::filesystem::path dir_;  // canonical; empty when missing
};

}  // namespace alambic
