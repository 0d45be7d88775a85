// The test binary's main: GoogleTest, or the plugin host when the plugin
// tests start this binary again to run a plugin kind (plugins/host.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "plugins/host.h"

int main(int argc, char** argv) {
  if (alambic::plugin_host::IsHostInvocation(argc, argv))
    alambic::plugin_host::HostMain(argc, argv);
  ::testing::InitGoogleMock(&argc, argv);
  return RUN_ALL_TESTS();
}
