#include "kube/access.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace hyperplace::kube {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/hyperplace-access-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  std::string Write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ + "/" + name) << content;
    return path_ + "/" + name;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr char kKubeconfig[] = R"(apiVersion: v1
kind: Config
current-context: e2e
clusters:
- name: other
  cluster: {server: "https://10.0.0.1:6443"}
- name: e2e
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: ca.crt
    tls-server-name: kubernetes
users:
- name: admin
  user:
    token: admin-token
- name: certs
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: files
  user:
    tokenFile: token
contexts:
- name: e2e
  context: {cluster: e2e, user: admin}
- name: with-certs
  context: {cluster: e2e, user: certs}
- name: with-file
  context: {cluster: e2e, user: files}
- name: broken
  context: {cluster: missing, user: admin}
)";

TEST(KubeconfigTest, ReadsTheCurrentContext) {
  TempDir dir;
  dir.Write("ca.crt", "CA PEM");
  auto access = LoadKubeconfig(dir.Write("config", kKubeconfig));
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->server, "https://127.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(access->ca_pem, "CA PEM");                  // relative to the kubeconfig
  EXPECT_EQ(access->tls_server_name, "kubernetes");
  EXPECT_EQ(access->token, "admin-token");
  EXPECT_FALSE(access->insecure_skip_tls_verify);
}

TEST(KubeconfigTest, NamedContextsAndInlineData) {
  TempDir dir;
  dir.Write("ca.crt", "CA PEM");
  const std::string path = dir.Write("config", kKubeconfig);
  auto certs = LoadKubeconfig(path, "with-certs");
  ASSERT_TRUE(certs.ok()) << certs.status().message();
  EXPECT_EQ(certs->client_cert_pem, "CERT");
  EXPECT_EQ(certs->client_key_pem, "KEY");
  EXPECT_TRUE(certs->token.empty());
  auto files = LoadKubeconfig(path, "with-file");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->token_file, dir.path() + "/token");
}

TEST(KubeconfigTest, ProblemsAreNamed) {
  TempDir dir;
  dir.Write("ca.crt", "CA PEM");
  const std::string path = dir.Write("config", kKubeconfig);
  struct {
    std::string file;
    std::string context;
    const char* message_part;
  } cases[] = {
      {path, "broken", "cluster \"missing\" not found"},
      {path, "nope", "context \"nope\" not found"},
      {dir.path() + "/absent", "", "absent"},
      {dir.Write("exec",
                 "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
                 "clusters: [{name: k, cluster: {server: 'https://h:1'}}]\n"
                 "users: [{name: u, user: {exec: {command: aws}}}]\n"),
       "", "exec or auth-provider"},
      {dir.Write("noscheme",
                 "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
                 "clusters: [{name: k, cluster: {server: 'h:1'}}]\n"),
       "", "http(s)://"},
      {dir.Write("bad", "{{{"), "", "kubeconfig"},
  };
  for (auto& c : cases) {
    auto access = LoadKubeconfig(c.file, c.context);
    ASSERT_FALSE(access.ok()) << c.file;
    EXPECT_NE(access.status().message().find(c.message_part), std::string::npos)
        << access.status().message();
  }
}

TEST(InClusterTest, NeedsTheServiceEnvironment) {
  TempDir dir;
  dir.Write("ca.crt", "CA");
  dir.Write("token", "t0\n");
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_FALSE(InClusterAccess(dir.path()).ok());
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto access = InClusterAccess(dir.path());
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  ASSERT_TRUE(access.ok()) << access.status().message();
  EXPECT_EQ(access->server, "https://10.96.0.1:443");
  EXPECT_EQ(access->ca_pem, "CA");
  TokenSource tokens(*access);
  EXPECT_EQ(*tokens.Token(), "t0");
}

TEST(TokenSourceTest, RereadsARotatedTokenFile) {
  TempDir dir;
  Access access;
  access.token_file = dir.Write("token", "first");
  TokenSource tokens(access);
  EXPECT_EQ(*tokens.Token(), "first");
  // The kubelet rotates projected tokens by replacing the file; size or mtime changes.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  dir.Write("token", "second-token");
  EXPECT_EQ(*tokens.Token(), "second-token");
}

}  // namespace
}  // namespace hyperplace::kube
