#include "core/base/actor.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace alambic {

namespace {

// Buffer size for getpwuid_r when sysconf does not say.
constexpr size_t kPasswdBuffer = 16384;
constexpr size_t kHostNameMax = 256;

std::string CurrentUser() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  const uid_t uid = ::getuid();
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : kPasswdBuffer);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name)
    return found->pw_name;
  return "uid " + std::to_string(uid);
}

std::string CurrentHost() {
  char buf[kHostNameMax + 1] = {0};
  if (::gethostname(buf, kHostNameMax) != 0) return "";
  return buf;
}

}  // namespace

Actor Actor::Current() { return Actor{CurrentUser(), CurrentHost()}; }

}  // namespace alambic
