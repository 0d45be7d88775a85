#include "core/base/actor.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace alambic::actor_test {
namespace {

// Sets (or unsets) $USER for the test's duration.
class UserVariable {
 public:
  explicit UserVariable(const char* value) {
    if (const char* old = std::getenv("USER")) old_ = old;
    if (value)
      ::setenv("USER", value, 1);
    else
      ::unsetenv("USER");
  }
  ~UserVariable() {
    if (old_)
      ::setenv("USER", old_->c_str(), 1);
    else
      ::unsetenv("USER");
  }

 private:
  std::optional<std::string> old_;
};

std::string HostName() {
  char buf[256] = {0};
  EXPECT_EQ(::gethostname(buf, sizeof buf - 1), 0);
  return buf;
}

TEST(ActorTest, TheUserVariableNamesTheUser) {
  UserVariable user("carol");
  const Actor a = Actor::Current();
  EXPECT_EQ(a.user, "carol");
  EXPECT_EQ(a.host, HostName());
  EXPECT_FALSE(a.host.empty());
}

TEST(ActorTest, WithoutTheVariableThePasswordDatabaseNamesTheUser) {
  struct passwd* pw = ::getpwuid(::getuid());
  ASSERT_NE(pw, nullptr);
  const std::string expected = pw->pw_name;
  for (const char* value : {static_cast<const char*>(nullptr), ""}) {
    UserVariable user(value);
    EXPECT_EQ(Actor::Current().user, expected);
  }
}

}  // namespace
}  // namespace alambic::actor_test
