// collect from an http:// URL against a real cpp-httplib server on 127.0.0.1:
// fingerprint from the ETag (else Last-Modified, else the body's hash), staleness
// through the planner, errors naming the URL without its credentials.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "core/exec/run.h"
#include "core/exec/session.h"
#include "core/net/http_client.h"
#include "core/recipe/recipe.h"
#include "tests/test_util.h"

namespace alambic::http_source_test {
namespace {

using testing::TempDir;
using testing::WriteFile;

// A real HTTP server on an ephemeral loopback port, serving bodies set by the test.
class LoopbackServer {
 public:
  LoopbackServer() {
    server_.Get(R"(/(.*))", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      if (req.path == "/slow") std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      std::lock_guard l(mu_);
      auto it = pages_.find(req.path);
      if (it == pages_.end()) {
        res.status = 404;
        res.set_content("no such page", "text/plain");
        return;
      }
      res.status = it->second.status;
      if (!it->second.etag.empty()) res.set_header("ETag", it->second.etag);
      if (!it->second.last_modified.empty())
        res.set_header("Last-Modified", it->second.last_modified);
      res.set_content(it->second.body, "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~LoopbackServer() {
    server_.stop();
    thread_.join();
  }
  void Serve(const std::string& path, std::string body, std::string etag = "",
             std::string last_modified = "") {
    std::lock_guard l(mu_);
    pages_[path] = {std::move(body), std::move(etag), std::move(last_modified), 200};
  }
  // Answers `path` with `status` and a body.
  void Fail(const std::string& path, int status) {
    std::lock_guard l(mu_);
    pages_[path] = {"error page", "", "", status};
  }
  std::string Url(const std::string& path) const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }
  int port() const { return port_; }
  int requests() const { return requests_; }

 private:
  struct Page {
    std::string body, etag, last_modified;
    int status = 200;
  };
  httplib::Server server_;
  std::mutex mu_;
  std::map<std::string, Page> pages_;
  std::atomic<int> requests_{0};
  int port_ = -1;
  std::thread thread_;
};

class HttpSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(server_.port(), 0);
    kind_ = alambic::testing::BuiltinKinds().Find("collect");
  }
  RecipeContext Context(const nlohmann::json& params) {
    params_ = params;
    RecipeContext ctx;
    ctx.recipe = "collect_api";
    ctx.params = &params_;
    ctx.outputs = {"out"};
    ctx.workspace = dir_.path();
    return ctx;
  }
  Result<std::string> Fingerprint(const nlohmann::json& params) {
    RecipeContext ctx = Context(params);
    return kind_->SourceFingerprint(ctx);
  }
  Result<RecipeOutput> Run(const nlohmann::json& params) {
    RecipeContext ctx = Context(params);
    return kind_->Run(ctx);
  }

  // A workspace whose one flow collects `url` into the dataset exams.
  void WriteFlow(const std::string& url) {
    WriteFile(dir_.path() / "alambic.yaml", "name: t\n");
    WriteFile(dir_.path() / "flows/f.yaml",
              fmt::format("flow: f\nrecipes:\n  - {{name: api, kind: collect, outputs: [exams], "
                          "params: {{url: \"{}\"}}}}\n",
                          url));
  }
  // The planner's explanation for the flow's only recipe ("" and a failure when it fails).
  std::string Explanation() {
    auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) return "";
    auto p = (*s)->MakePlan({});
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? p->recipes.at(0).explanation : std::string();
  }
  // Runs the workspace; the run's summary.
  Result<RunSummary> RunAll() {
    ALAMBIC_ASSIGN_OR_RETURN(auto s,
                             Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds()));
    return RunFlows(*s, {});
  }
  int Built() {
    auto r = RunAll();
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->succeeded : -1;
  }
  // The current version of `dataset`, as stored.
  Result<Table> Current(const std::string& dataset) {
    ALAMBIC_ASSIGN_OR_RETURN(auto s,
                             Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds()));
    ALAMBIC_ASSIGN_OR_RETURN(auto ids, s->catalog().CurrentVersionIds(s->environment()));
    auto it = ids.find(dataset);
    if (it == ids.end()) return Status::NotFound(dataset + " has no current version");
    return s->store().Read(dataset, it->second);
  }
  // Files under .alambic/ (catalog, logs, store) holding `needle`, byte for byte; the
  // parsed-flow cache is left out: it is a copy of the flow file, which holds the URL.
  std::vector<std::string> StateFilesHolding(const std::string& needle) {
    std::vector<std::string> out;
    const auto flow_cache = dir_.path() / ".alambic/cache/flows";
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() / ".alambic")) {
      if (!e.is_regular_file() || e.path().parent_path() == flow_cache) continue;
      std::ifstream in(e.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      if (bytes.find(needle) != std::string::npos) out.push_back(e.path().string());
    }
    return out;
  }

  LoopbackServer server_;
  TempDir dir_;
  const RecipeKind* kind_ = nullptr;
  nlohmann::json params_;
};

TEST_F(HttpSourceTest, ReadsCsvJsonAndNdjsonBodies) {
  server_.Serve("/exams.csv", "id;score;day\n1;12,5;31/01/2025\n2;8;01/02/2025\n", "\"v1\"");
  server_.Serve("/people.json", R"([{"id": 1, "who": {"name": "Zoé"}}])");
  server_.Serve("/people.ndjson", "{\"id\": 1}\n{\"id\": 2}\n");
  auto csv = Run({{"url", server_.Url("/exams.csv")}});
  ASSERT_TRUE(csv.ok()) << csv.status().message();
  EXPECT_EQ(csv->tables[0].schema().ToString(), "id:int64, score:float64, day:date32");
  EXPECT_EQ(csv->metrics["rows"], 2);
  auto js = Run({{"url", server_.Url("/people.json")}, {"format", "json"}});
  ASSERT_TRUE(js.ok()) << js.status().message();
  EXPECT_EQ(js->tables[0].schema().ToString(), "id:int64, who.name:utf8");
  auto nd = Run({{"url", server_.Url("/people.ndjson")}, {"format", "ndjson"}});
  ASSERT_TRUE(nd.ok()) << nd.status().message();
  EXPECT_EQ(nd->tables[0].num_rows(), 2);
}

TEST_F(HttpSourceTest, FingerprintIsTheEtagElseLastModifiedElseTheBodyHash) {
  server_.Serve("/a.csv", "x\n1\n", "\"abc\"", "Wed, 21 Oct 2015 07:28:00 GMT");
  server_.Serve("/b.csv", "x\n1\n", "", "Wed, 21 Oct 2015 07:28:00 GMT");
  server_.Serve("/c.csv", "x\n1\n");
  EXPECT_EQ(*Fingerprint({{"url", server_.Url("/a.csv")}}), "etag \"abc\"");
  EXPECT_EQ(*Fingerprint({{"url", server_.Url("/b.csv")}}),
            "last-modified Wed, 21 Oct 2015 07:28:00 GMT");
  auto c1 = Fingerprint({{"url", server_.Url("/c.csv")}});
  ASSERT_TRUE(c1.ok()) << c1.status().message();
  EXPECT_EQ(c1->substr(0, 7), "sha256 ");
  EXPECT_EQ(*Fingerprint({{"url", server_.Url("/c.csv")}}), *c1);
  server_.Serve("/c.csv", "x\n2\n");
  EXPECT_NE(*Fingerprint({{"url", server_.Url("/c.csv")}}), *c1);
}

TEST_F(HttpSourceTest, ErrorsNameTheUrlWithoutCredentials) {
  const std::string base = fmt::format("http://user:hunter2@127.0.0.1:{}", server_.port());
  auto missing = Run({{"url", base + "/missing.csv?token=SECRET123"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            fmt::format("recipe collect_api: GET http://127.0.0.1:{}/missing.csv?…: HTTP 404 "
                        "Not Found",
                        server_.port()));
  auto fp = Fingerprint({{"url", server_.Url("/missing.csv")}});
  ASSERT_FALSE(fp.ok());
  EXPECT_EQ(fp.status().message(), fmt::format("recipe collect_api: GET {}: HTTP 404 Not Found",
                                               server_.Url("/missing.csv")));

  server_.Serve("/slow", "x\n1\n");
  auto slow = Run({{"url", server_.Url("/slow")}, {"timeout", 0.3}});
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().message(),
            fmt::format("recipe collect_api: GET {}: no complete answer within 0.3s (read failed)",
                        server_.Url("/slow")));

  // A port nobody listens on (the server's, once stopped, would race: use port 1).
  auto refused = Run({{"url", "http://127.0.0.1:1/x.csv"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "recipe collect_api: GET http://127.0.0.1:1/x.csv: cannot connect");

  server_.Serve("/bad.csv", "a,b\n1,2,3\n");
  auto bad = Run({{"url", server_.Url("/bad.csv") + "?key=SECRET123"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            fmt::format("recipe collect_api: {}?…:2: expected 2 fields, found 3",
                        server_.Url("/bad.csv")));
}

TEST_F(HttpSourceTest, ParamsAreChecked) {
  auto check = [&](const nlohmann::json& p) { return kind_->CheckParams(p).message(); };
  EXPECT_EQ(check({{"url", "ftp://host/x.csv"}}),
            "param 'url': ftp://host/x.csv: unsupported scheme 'ftp' (expected http or https)");
  EXPECT_EQ(check({{"url", "http://a/x"}, {"path", "x.csv"}}),
            "param 'url': give either path or url, not both");
  EXPECT_EQ(check({{"url", "http://a/x"}, {"format", "arrow"}}),
            "param 'format': arrow is not supported with url (use csv, json or ndjson)");
  EXPECT_EQ(check({{"url", "http://a/x"}, {"timeout", 0}}),
            "param 'timeout': must be a number of seconds above 0");
  EXPECT_EQ(check({{"path", "x.csv"}, {"timeout", 3}}),
            "param 'timeout': applies to url sources only");
  EXPECT_EQ(check(nlohmann::json::object()), "param 'path': is required (or url, or connection)");
}

TEST(RedactedUrlTest, DropsUserInfoAndQuery) {
  EXPECT_EQ(RedactedUrl("https://u:p@api.example.org:8443/v1/exams?token=x#f"),
            "https://api.example.org:8443/v1/exams?…");
  EXPECT_EQ(RedactedUrl("http://example.org/a@b"), "http://example.org/a@b");
  EXPECT_EQ(RedactedUrl("http://example.org"), "http://example.org");
}

// Through the planner: a new ETag makes the source stale, the same one does not.
TEST_F(HttpSourceTest, EtagDecidesStaleness) {
  server_.Serve("/exams.csv", "id;n\n1;2\n", "\"v1\"");
  WriteFile(dir_.path() / "alambic.yaml", "name: t\n");
  WriteFile(dir_.path() / "flows/f.yaml",
            fmt::format("flow: f\nrecipes:\n  - {{name: api, kind: collect, outputs: [exams], "
                        "params: {{url: \"{}\"}}}}\n",
                        server_.Url("/exams.csv")));
  auto plan = [&] {
    auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    EXPECT_TRUE(s.ok()) << s.status().message();
    auto p = (*s)->MakePlan({});
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? p->recipes.at(0).explanation : std::string();
  };
  auto run = [&] {
    auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
    auto r = RunFlows(**s, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r->succeeded : -1;
  };
  EXPECT_EQ(plan(), "never built");
  EXPECT_EQ(run(), 1);
  EXPECT_EQ(plan(), "up to date");
  // Same ETag: up to date even though the body changed (the server vouches for it).
  server_.Serve("/exams.csv", "id;n\n1;3\n", "\"v1\"");
  EXPECT_EQ(plan(), "up to date");
  EXPECT_EQ(run(), 0);
  server_.Serve("/exams.csv", "id;n\n1;3\n", "\"v2\"");
  EXPECT_EQ(plan(), fmt::format("source data changed ({})", server_.Url("/exams.csv")));
  EXPECT_EQ(run(), 1);
  EXPECT_EQ(plan(), "up to date");
}

// Without ETag or Last-Modified the body's hash is the version: the same body served again
// keeps the output up to date, another body makes it stale and is read.
TEST_F(HttpSourceTest, BodyHashDecidesStalenessWithoutEtag) {
  server_.Serve("/exams.csv", "id;n\n1;2\n");
  WriteFlow(server_.Url("/exams.csv"));
  EXPECT_EQ(Explanation(), "never built");
  EXPECT_EQ(Built(), 1);
  auto first = Current("exams");
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->column(1)->Int64(0), 2);
  EXPECT_EQ(Explanation(), "up to date");
  server_.Serve("/exams.csv", "id;n\n1;2\n");
  EXPECT_EQ(Explanation(), "up to date");
  EXPECT_EQ(Built(), 0);
  server_.Serve("/exams.csv", "id;n\n1;3\n");
  EXPECT_EQ(Explanation(), fmt::format("source data changed ({})", server_.Url("/exams.csv")));
  EXPECT_EQ(Built(), 1);
  auto second = Current("exams");
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->column(1)->Int64(0), 3);
  EXPECT_EQ(Explanation(), "up to date");
}

TEST_F(HttpSourceTest, AStatusOutside2xxFailsNamingTheRecipeAndTheUrl) {
  server_.Fail("/down.csv", 503);
  server_.Fail("/forbidden.csv", 403);
  server_.Fail("/teapot.csv", 418);
  auto down = Run({{"url", server_.Url("/down.csv")}});
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().message(),
            fmt::format("recipe collect_api: GET {}: HTTP 503 Service Unavailable",
                        server_.Url("/down.csv")));
  auto forbidden = Fingerprint({{"url", server_.Url("/forbidden.csv")}});
  ASSERT_FALSE(forbidden.ok());
  EXPECT_EQ(
      forbidden.status().message(),
      fmt::format("recipe collect_api: GET {}: HTTP 403 Forbidden", server_.Url("/forbidden.csv")));
  auto teapot = Run({{"url", server_.Url("/teapot.csv")}});
  ASSERT_FALSE(teapot.ok());
  EXPECT_EQ(teapot.status().message(),
            fmt::format("recipe collect_api: GET {}: HTTP 418", server_.Url("/teapot.csv")));
  // Through the planner: the plan fails, naming the recipe once.
  WriteFlow(server_.Url("/down.csv"));
  auto s = Session::Open(dir_.path(), "", alambic::testing::BuiltinKinds());
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto plan = (*s)->MakePlan({});
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), fmt::format("recipe api: GET {}: HTTP 503 Service Unavailable",
                                                 server_.Url("/down.csv")));
}

// A user, password or query string in the URL may be a credential: the run's log, its
// error, the plan's explanation and every file of .alambic/ leave them out.
TEST_F(HttpSourceTest, CredentialsInTheUrlStayOutOfLogsMessagesAndState) {
  server_.Serve("/exams.csv", "id;n\n1;2\n");
  const std::string url =
      fmt::format("http://user:hunter2@127.0.0.1:{}/exams.csv?token=SECRET123", server_.port());
  const std::string shown = server_.Url("/exams.csv") + "?…";
  WriteFlow(url);
  auto ok = RunAll();
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->succeeded, 1);
  ASSERT_EQ(ok->recipes.size(), 1u);
  EXPECT_NE(ok->recipes[0].log.find("from " + shown), std::string::npos) << ok->recipes[0].log;
  server_.Serve("/exams.csv", "id;n\n1;3\n");
  EXPECT_EQ(Explanation(), "source data changed (" + shown + ")");
  server_.Serve("/exams.csv", "id;n\n1;3;4\n");
  auto bad = RunAll();
  ASSERT_TRUE(bad.ok()) << bad.status().message();
  ASSERT_EQ(bad->failed, 1);
  EXPECT_EQ(bad->recipes.at(0).error, "recipe api: " + shown + ":2: expected 2 fields, found 3");
  for (const std::string secret : {"hunter2", "SECRET123"}) {
    EXPECT_EQ(ok->recipes[0].log.find(secret), std::string::npos);
    EXPECT_EQ(bad->recipes.at(0).error.find(secret), std::string::npos);
    EXPECT_EQ(bad->recipes.at(0).log.find(secret), std::string::npos);
    EXPECT_EQ(StateFilesHolding(secret), std::vector<std::string>{}) << secret;
  }
  EXPECT_FALSE(StateFilesHolding("exams.csv").empty());  // the scan does see the state
}

// A self-signed certificate for 127.0.0.1 (subjectAltName IP), valid for an hour.
struct SelfSignedCertificate {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, EVP_PKEY_free};
  std::unique_ptr<X509, decltype(&X509_free)> cert{nullptr, X509_free};

  SelfSignedCertificate() {
    key.reset(EVP_RSA_gen(2048));
    cert.reset(X509_new());
    X509* x = cert.get();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key.get());
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    X509_sign(x, key.get(), EVP_sha256());
  }
  bool WritePem(const std::filesystem::path& file) const {
    FILE* f = std::fopen(file.c_str(), "w");
    if (!f) return false;
    const bool ok = PEM_write_X509(f, cert.get()) == 1;
    std::fclose(f);
    return ok;
  }
};

// https:// goes through TLS with the server's certificate verified: one the client trusts
// (here through SSL_CERT_FILE, which OpenSSL's default verify paths read) is fetched; an
// untrusted one fails naming the URL.
TEST(HttpsSourceTest, VerifiesTheServerCertificate) {
  SelfSignedCertificate tls;
  ASSERT_TRUE(tls.key && tls.cert);
  httplib::SSLServer server(tls.cert.get(), tls.key.get());
  ASSERT_TRUE(server.is_valid());
  server.Get("/exams.csv", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("ETag", "\"tls1\"");
    res.set_content("id;n\n1;2\n", "text/csv");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { server.listen_after_bind(); });
  for (int i = 0; i < 500 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const std::string url = fmt::format("https://127.0.0.1:{}/exams.csv", port);
  TempDir dir;
  const RecipeKind* kind = alambic::testing::BuiltinKinds().Find("collect");
  const nlohmann::json params = {{"url", url}};
  RecipeContext ctx;
  ctx.recipe = "collect_tls";
  ctx.params = &params;
  ctx.outputs = {"out"};
  ctx.workspace = dir.path();

  ::unsetenv("SSL_CERT_FILE");  // the system's trusted certificates only
  auto untrusted = kind->Run(ctx);
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.status().message(),
            fmt::format("recipe collect_tls: GET {}: TLS error: the server's certificate is not "
                        "trusted or not for this host",
                        url));

  ASSERT_TRUE(tls.WritePem(dir.path() / "ca.pem"));
  ::setenv("SSL_CERT_FILE", (dir.path() / "ca.pem").c_str(), 1);
  auto out = kind->Run(ctx);
  ::unsetenv("SSL_CERT_FILE");
  server.stop();
  thread.join();
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->tables[0].schema().ToString(), "id:int64, n:int64");
  EXPECT_EQ(out->tables[0].column(1)->Int64(0), 2);
}

}  // namespace
}  // namespace alambic::http_source_test
