// The `alambic` binary against hostile recipes and interrupted work: a Lua
// finalizer that never returns, Ctrl-C during an endless script, a run killed
// with SIGKILL (marked abandoned by the next run), tracebacks on several lines,
// and gc's dry run counting what gc deletes.
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace alambic::hostile_cli_test {
namespace {

using testing::Cli;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
using Clock = std::chrono::steady_clock;

// `alambic ARGS` started in `cwd`, stdout and stderr to files of `io`.
pid_t Spawn(const std::filesystem::path& cwd, const std::filesystem::path& io,
            const std::vector<std::string>& args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::chdir(cwd.c_str()) != 0) ::_exit(127);
    const int out = ::open((io / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open((io / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> argv;
    std::string bin = ALAMBIC_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(ALAMBIC_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits up to `seconds` for `pid`; kills it (SIGKILL) past that. Returns its wait
// status, or -1 when it had to be killed.
int WaitAtMost(pid_t pid, double seconds) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (Clock::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

// Waits until the output files in `io` contain `text` (a run's progress), up to 10 s.
bool WaitForText(const std::filesystem::path& io, const std::string& text) {
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < until) {
    std::error_code ec;
    if (std::filesystem::exists(io / "err", ec) &&
        (ReadFile(io / "out") + ReadFile(io / "err")).find(text) != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

class HostileCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ws_ = dir_.path() / "ws";
    auto r = Cli(dir_.path(), {"init", "ws"});
    ASSERT_EQ(r.code, 0) << r.err;
  }
  // A flow with one Lua recipe running `code` with `limits` (a YAML mapping).
  void LuaFlow(const std::string& code, const std::string& limits) {
    WriteFile(ws_ / "recipes" / "s.lua", code);
    WriteFile(ws_ / "flows" / "f.yaml",
              "flow: f\nusecase: demo\nrecipes:\n  - {name: s, kind: lua, outputs: [o], script: "
              "recipes/s.lua, params: " +
                  limits + "}\n");
  }
  TempDir dir_, io_;
  std::filesystem::path ws_;
};

// A finalizer that loops: Lua runs it with hooks off, where no limit could stop it.
// The script is refused where it installs it; the loop after it stops at Ctrl-C
// and at the time limit, promptly.
constexpr const char* kFinalizerLoop =
    "local ok, err = pcall(setmetatable, {}, {__gc = function() while true do end end})\n"
    "print(err)\n"
    "output{'x:int64'}\n"
    "while true do end\n";

TEST_F(HostileCliTest, CtrlCStopsAScriptThatPlantedALoopingFinalizer) {
  LuaFlow(kFinalizerLoop, "{instructions: 0, timeout_s: 0}");
  const pid_t pid = Spawn(ws_, io_.path(), {"run", "-v"});
  ASSERT_TRUE(WaitForText(io_.path(), "__gc")) << ReadFile(io_.path() / "out");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto sent = Clock::now();
  ::kill(pid, SIGINT);
  const int status = WaitAtMost(pid, 5);
  const double took = std::chrono::duration<double>(Clock::now() - sent).count();
  ASSERT_NE(status, -1) << "alambic did not stop after SIGINT";
  EXPECT_LT(took, 2.5);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(ReadFile(io_.path() / "out") + ReadFile(io_.path() / "err"),
              HasSubstr("setmetatable: a metatable may not have a __gc field in a recipe"));
}

TEST_F(HostileCliTest, TheTimeLimitStopsAScriptThatPlantedALoopingFinalizer) {
  LuaFlow(kFinalizerLoop, "{instructions: 0, timeout_s: 0.5}");
  const auto start = Clock::now();
  const pid_t pid = Spawn(ws_, io_.path(), {"run"});
  const int status = WaitAtMost(pid, 8);
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_NE(status, -1) << "alambic did not stop at the time limit";
  EXPECT_LT(took, 4);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(ReadFile(io_.path() / "out") + ReadFile(io_.path() / "err"),
              HasSubstr("time limit of 0.5s exceeded (lua: timeout_s)"));
}

TEST_F(HostileCliTest, ARunKilledMidwayIsMarkedAbandonedByTheNextRun) {
  LuaFlow("print('started')\noutput{'x:int64'}\nwhile true do end\n",
          "{instructions: 0, timeout_s: 0}");
  const pid_t pid = Spawn(ws_, io_.path(), {"run", "-v"});
  ASSERT_TRUE(WaitForText(io_.path(), "started")) << ReadFile(io_.path() / "out");
  ::kill(pid, SIGKILL);
  ASSERT_EQ(WaitAtMost(pid, 5), SIGKILL);
  auto before = Cli(ws_, {"runs"});
  ASSERT_EQ(before.code, 0) << before.err;
  EXPECT_THAT(before.out, HasSubstr("running"));

  LuaFlow("output{'x:int64'}:append{x = 1}\n", "{}");
  auto again = Cli(ws_, {"run"});
  ASSERT_EQ(again.code, 0) << again.out << again.err;
  auto runs = Cli(ws_, {"runs"});
  EXPECT_THAT(runs.out, HasSubstr("abandoned"));
  EXPECT_THAT(runs.out, Not(HasSubstr("running")));
  // The killed run is the older one: the last line of `runs`.
  const std::string last = runs.out.substr(runs.out.rfind('\n', runs.out.size() - 2) + 1);
  EXPECT_THAT(last, HasSubstr("abandoned"));
  auto log = Cli(ws_, {"log", last.substr(0, 8)});
  ASSERT_EQ(log.code, 0) << log.err;
  EXPECT_THAT(log.out, HasSubstr("status    abandoned"));
  EXPECT_THAT(log.out, HasSubstr("its process ended without finishing the run"));
  EXPECT_THAT(log.out, ::testing::ContainsRegex("finished  20[0-9][0-9]-"));
}

TEST_F(HostileCliTest, TracebacksArePrintedOnSeveralLines) {
  LuaFlow("local function check(v)\n  error('bad centre ' .. v)\nend\ncheck(7)\n", "{}");
  auto r = Cli(ws_, {"run"});
  EXPECT_NE(r.code, 0);
  const std::string all = r.out + r.err;
  EXPECT_THAT(all, HasSubstr("recipes/s.lua:2: bad centre 7\n"));
  EXPECT_THAT(all, ::testing::ContainsRegex("\n +stack traceback:\n"));
  EXPECT_THAT(all, ::testing::ContainsRegex("\n +recipes/s.lua:4: in main chunk"));
  EXPECT_THAT(all, Not(HasSubstr("\\n")));
  EXPECT_THAT(all, Not(HasSubstr("\\t")));
}

// The figure after the last ", " of gc's summary line, digits only.
int64_t GcBytes(const std::string& out) {
  const size_t comma = out.rfind(", ");
  std::string digits;
  for (size_t i = comma + 2; i < out.size() && out[i] != 'b'; ++i)
    if (std::isdigit(static_cast<unsigned char>(out[i]))) digits += out[i];
  return digits.empty() ? -1 : std::stoll(digits);
}

// After a gc interrupted between the catalog and the files, the store holds
// version files no catalog records: the dry run counts them as gc deletes them.
TEST_F(HostileCliTest, GcDryRunCountsWhatGcDeletes) {
  LuaFlow("output{'x:int64'}:append{x = 1}\n", "{}");
  ASSERT_EQ(Cli(ws_, {"run"}).code, 0);
  const auto store = ws_ / ".alambic" / "store" / "datalab";
  std::filesystem::create_directories(store / "o");
  WriteFile(store / "o" / "00000000000000aa.arrow", std::string(70000, 'x'));
  std::filesystem::create_directories(store / "gone");
  WriteFile(store / "gone" / "00000000000000bb.arrow", std::string(5003, 'y'));
  int64_t expected = 70000 + 5003;

  auto dry = Cli(ws_, {"gc", "--dry-run"});
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_THAT(dry.out, HasSubstr("would delete unrecorded file gone/00000000000000bb.arrow"));
  EXPECT_THAT(dry.out, HasSubstr("and 2 unrecorded file(s)"));
  EXPECT_EQ(GcBytes(dry.out), expected) << dry.out;
  EXPECT_TRUE(std::filesystem::exists(store / "o" / "00000000000000aa.arrow"));

  auto gc = Cli(ws_, {"gc"});
  ASSERT_EQ(gc.code, 0) << gc.err;
  EXPECT_EQ(GcBytes(gc.out), GcBytes(dry.out)) << gc.out;
  EXPECT_FALSE(std::filesystem::exists(store / "o" / "00000000000000aa.arrow"));
  EXPECT_FALSE(std::filesystem::exists(store / "gone" / "00000000000000bb.arrow"));
  // The recorded version stays; a second dry run finds nothing.
  EXPECT_EQ(GcBytes(Cli(ws_, {"gc", "--dry-run"}).out), 0);
  EXPECT_EQ(Cli(ws_, {"show", "o"}).code, 0);
}

// A full disk: the commands that only read still work (the catalog is opened
// read-only, without the shared-memory file SQLite cannot make), and those that
// must write say the disk is full. Needs a small tmpfs of its own: mounting one
// takes root (CAP_SYS_ADMIN), so the test is skipped without it.
TEST(HostileDiskTest, ReadCommandsWorkOnAFullDiskAndWritesSayItIsFull) {
  TempDir dir;
  const auto mnt = dir.path() / "small";
  std::filesystem::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << std::strerror(errno);
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  ASSERT_EQ(Cli(mnt, {"init", "ws"}).code, 0);
  const auto ws = mnt / "ws";
  WriteFile(ws / "recipes" / "s.lua", "output{'x:int64'}:append{x = 41}\n");
  WriteFile(ws / "flows" / "f.yaml",
            "flow: f\nusecase: demo\nrecipes:\n  - {name: s, kind: lua, outputs: [o], script: "
            "recipes/s.lua}\n");
  auto run = Cli(ws, {"run"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  // Fill the disk.
  {
    const int fd = ::open((mnt / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    const std::string block(1 << 16, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    const std::string byte(1, 'f');
    while (::write(fd, byte.data(), 1) > 0) {
    }
    ::close(fd);
  }
  auto status = Cli(ws, {"status"});
  EXPECT_EQ(status.code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("o "));
  auto show = Cli(ws, {"show", "o"});
  EXPECT_EQ(show.code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("41"));
  auto runs = Cli(ws, {"runs"});
  EXPECT_EQ(runs.code, 0) << runs.err;
  EXPECT_THAT(runs.out, HasSubstr("succeeded"));
  auto again = Cli(ws, {"run", "--force"});
  EXPECT_NE(again.code, 0);
  EXPECT_THAT(again.err + again.out, HasSubstr("the disk is full"));
  EXPECT_THAT(again.err + again.out, Not(HasSubstr("alambic: catalog: disk I/O error")));
}

}  // namespace
}  // namespace alambic::hostile_cli_test
