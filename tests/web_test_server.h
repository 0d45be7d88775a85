// A web server for the tests over real HTTP on loopback (tests/web_server_test.cc,
// tests/web_attack_test.cc): started on a free port, stopped on destruction.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "ui/web/server.h"

namespace alambic::testing {

// A TCP server held by a thread, stopped on destruction.
struct RunningServer {
  std::unique_ptr<WebServer> server;
  std::thread thread;
  ~RunningServer() {
    if (server) server->Stop();
    if (thread.joinable()) thread.join();
    if (server) server->WaitForRuns();
  }
  int port() const { return server->port(); }
};

// Starts a server on `root` on a free port and waits until it accepts.
inline std::unique_ptr<RunningServer> StartServer(const std::filesystem::path& root,
                                                  ServerOptions o, UiConfig ui,
                                                  const std::string& secret) {
  o.port = 0;
  auto s = WebServer::Create(root, std::move(o), std::move(ui), secret);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return nullptr;
  EXPECT_TRUE((*s)->Bind().ok());
  auto r = std::make_unique<RunningServer>();
  r->server = std::move(*s);
  WebServer* srv = r->server.get();
  r->thread = std::thread([srv] { srv->Run(); });
  for (int i = 0; i < 200; ++i) {
    httplib::Client c("127.0.0.1", srv->port());
    if (auto res = c.Get("/api/config"); res) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return r;
}

// A logged-in browser session: its cookie and CSRF token.
struct WebSession {
  std::string cookie, csrf;
};

}  // namespace alambic::testing
