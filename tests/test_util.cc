#include "tests/test_util.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/recipe/recipe.h"
#include "recipes/builtin_kinds.h"

namespace alambic::testing {

void CapturingLogger::Log(LogLevel level, const std::string& message) {
  std::lock_guard l(mu_);
  lines_.emplace_back(level, message);
}

std::vector<std::string> CapturingLogger::lines() const {
  std::lock_guard l(mu_);
  std::vector<std::string> out;
  for (const auto& [level, message] : lines_) out.push_back(message);
  return out;
}

std::vector<std::string> CapturingLogger::tagged() const {
  std::lock_guard l(mu_);
  std::vector<std::string> out;
  for (const auto& [level, message] : lines_)
    out.push_back((level == LogLevel::kWarn    ? "warn: "
                   : level == LogLevel::kError ? "error: "
                                               : "") +
                  message);
  return out;
}

std::string CapturingLogger::text() const {
  std::string out;
  for (const auto& line : lines()) out += line + "\n";
  return out;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "alambic-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::filesystem::path& p, const std::string& content) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string Python(const std::string& program, const std::vector<std::string>& args) {
  std::string cmd = "/usr/bin/python3 -c " + ShellQuote(program);
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  if (::pclose(f) != 0) return "python failed: " + out;
  return out;
}

CliResult Cli(const std::filesystem::path& cwd, const std::vector<std::string>& args,
              const std::string& env) {
  TempDir io;
  std::string cmd =
      "cd " + ShellQuote(cwd.string()) + " && " + env + " " + ShellQuote(ALAMBIC_BINARY);
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  cmd += " >" + ShellQuote((io.path() / "out").string()) + " 2>" +
         ShellQuote((io.path() / "err").string());
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(io.path() / "out");
  r.err = ReadFile(io.path() / "err");
  return r;
}

std::unique_ptr<RecipeRegistry> MakeBuiltinKinds() {
  auto registry = std::make_unique<RecipeRegistry>();
  if (Status st = RegisterBuiltinKinds(*registry); !st.ok()) {
    std::fprintf(stderr, "cannot register the built-in recipe kinds: %s\n", st.message().c_str());
    std::abort();
  }
  return registry;
}

const RecipeRegistry& BuiltinKinds() {
  static const RecipeRegistry* registry = MakeBuiltinKinds().release();
  return *registry;
}

}  // namespace alambic::testing
