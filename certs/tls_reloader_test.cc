#include "certs/tls_reloader.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "certs/testing/test_certs.h"
#include "common/metrics.h"
#include "net/http_server.h"

namespace hyperplace::certs {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using testing::Client;
using testing::FileSerialHex;
using testing::MakeCerts;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
using testing::WriteSelfSigned;

TlsReloaderOptions OptionsFor(const TempDir& dir) {
  TlsReloaderOptions options;
  options.cert_file = dir.File("tls.crt");
  options.key_file = dir.File("tls.key");
  options.reload_interval = std::chrono::milliseconds(50);
  return options;
}

std::unique_ptr<TlsReloader> MustCreate(TlsReloaderOptions options,
                                        metrics::Registry* registry = nullptr) {
  StatusOr<std::unique_ptr<TlsReloader>> reloader = TlsReloader::Create(options, registry);
  EXPECT_TRUE(reloader.ok()) << reloader.status().message();
  return reloader.ok() ? std::move(*reloader) : nullptr;
}

std::string CreateError(const TlsReloaderOptions& options) {
  StatusOr<std::unique_ptr<TlsReloader>> reloader = TlsReloader::Create(options);
  EXPECT_FALSE(reloader.ok());
  return reloader.ok() ? "" : reloader.status().message();
}

// A metric's sample line value from the exposition ("" if absent).
std::string Sample(const metrics::Registry& registry, const std::string& series) {
  const std::string text = registry.Render();
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return "";
  const std::size_t begin = at + series.size() + 2;
  return text.substr(begin, text.find('\n', begin) - begin);
}

// An HTTPS server on 127.0.0.1:0 with GET /hello, using the reloader's contexts.
class Server {
 public:
  explicit Server(const TlsReloader& reloader) {
    net::ServerOptions options;
    options.limits.threads = 4;
    options.limits.read_timeout = std::chrono::milliseconds(2000);
    options.tls = reloader.Source();
    server_ = std::make_unique<net::HttpServer>(std::move(options));
    server_->Handle("GET", "/hello",
                    [](const net::Request&, net::Response& res) { res.body = "{\"hi\":1}"; });
    EXPECT_TRUE(server_->Listen(HostPort{"127.0.0.1", 0}).ok());
    EXPECT_TRUE(server_->Start().ok());
  }
  ~Server() { server_->Shutdown(std::chrono::milliseconds(1000)); }
  std::uint16_t port() const { return server_->port(); }

 private:
  std::unique_ptr<net::HttpServer> server_;
};

// --- make-certs.sh ------------------------------------------------------------------------------

struct ParsedCert {
  X509* cert = nullptr;
  ~ParsedCert() { X509_free(cert); }
};

X509* LoadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return nullptr;
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return cert;
}

// "DNS:a, IP Address:1.2.3.4" as OpenSSL prints the SAN extension.
std::string SubjectAltNames(X509* cert) {
  const int index = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
  if (index < 0) return "";
  BIO* bio = BIO_new(BIO_s_mem());
  X509V3_EXT_print(bio, X509_get_ext(cert, index), 0, 0);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return out;
}

TEST(MakeCertsTest, DefaultsToLocalhostAndLoopbackWithServerAuth) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  for (const char* name : {"ca.crt", "ca.key", "tls.crt", "tls.key"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.File(name))) << name;
  }
  ParsedCert leaf{LoadCert(dir.File("tls.crt"))};
  ParsedCert ca{LoadCert(dir.File("ca.crt"))};
  ASSERT_NE(leaf.cert, nullptr);
  ASSERT_NE(ca.cert, nullptr);
  EXPECT_EQ(SubjectAltNames(leaf.cert), "DNS:localhost, IP Address:127.0.0.1");
  // serverAuth only, not a CA; the CA is one.
  EXPECT_EQ(X509_get_extended_key_usage(leaf.cert), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_check_ca(leaf.cert), 0);
  EXPECT_NE(X509_check_ca(ca.cert), 0);
  // ECDSA P-256 keys.
  EVP_PKEY* key = X509_get0_pubkey(leaf.cert);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(key), 256);
  // Signed by the CA.
  EXPECT_EQ(X509_verify(leaf.cert, X509_get0_pubkey(ca.cert)), 1);
  // 365 days by default.
  int days = 0, secs = 0;
  ASSERT_EQ(
      ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf.cert), X509_get0_notAfter(leaf.cert)),
      1);
  EXPECT_EQ(days, 365);
  // Private keys are readable by their owner only.
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir.File("ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(MakeCertsTest, WritesTheGivenNamesAddressesAndLifetime) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path(), {"--dns", "hyperplace.hyperplace-system.svc", "--dns",
                                   "localhost", "--ip", "10.0.0.7", "--ip", "::1", "--days", "3"}),
            0);
  ParsedCert leaf{LoadCert(dir.File("tls.crt"))};
  ASSERT_NE(leaf.cert, nullptr);
  EXPECT_EQ(SubjectAltNames(leaf.cert),
            "DNS:hyperplace.hyperplace-system.svc, DNS:localhost, IP Address:10.0.0.7, "
            "IP Address:0:0:0:0:0:0:0:1");
  int days = 0, secs = 0;
  ASSERT_EQ(
      ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf.cert), X509_get0_notAfter(leaf.cert)),
      1);
  EXPECT_EQ(days, 3);
}

TEST(MakeCertsTest, EveryRunMakesANewSerial) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  const std::string first = FileSerialHex(dir.File("tls.crt"));
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  const std::string second = FileSerialHex(dir.File("tls.crt"));
  EXPECT_FALSE(first.empty());
  EXPECT_NE(first, second);
}

TEST(MakeCertsTest, ClientOptionAddsAClientAuthCertificateOfTheSameCa) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  EXPECT_FALSE(std::filesystem::exists(dir.File("client.crt")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("client.key")));

  ASSERT_EQ(MakeCerts(dir.path(), {"--client", "hyperplace-scheduler"}), 0);
  ParsedCert client{LoadCert(dir.File("client.crt"))};
  ParsedCert ca{LoadCert(dir.File("ca.crt"))};
  ASSERT_NE(client.cert, nullptr);
  ASSERT_NE(ca.cert, nullptr);
  // clientAuth only, not a CA, no SANs, named by the argument, signed by this run's CA.
  EXPECT_EQ(X509_get_extended_key_usage(client.cert), static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_ca(client.cert), 0);
  EXPECT_EQ(SubjectAltNames(client.cert), "");
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(client.cert), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "hyperplace-scheduler");
  EXPECT_EQ(X509_verify(client.cert, X509_get0_pubkey(ca.cert)), 1);
  EXPECT_NE(FileSerialHex(dir.File("client.crt")), FileSerialHex(dir.File("tls.crt")));
  struct stat st {};
  ASSERT_EQ(::stat(dir.File("client.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(MakeCertsTest, RejectsBadArguments) {
  TempDir dir;
  EXPECT_NE(MakeCerts(dir.path(), {"--days", "0"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--days", "ten"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--dns"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--dns", "bad name"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--ip", "localhost"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--color"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--client"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--client", "CN=x,O=y"}), 0);
  EXPECT_NE(MakeCerts(dir.path(), {"--client", "a/b"}), 0);
  EXPECT_FALSE(std::filesystem::exists(dir.File("tls.crt")));
}

// --- Loading at start ---------------------------------------------------------------------------

TEST(TlsReloaderTest, LoadsTheScriptsPairAndClientsVerifyIt) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir));
  ASSERT_NE(reloader, nullptr);
  EXPECT_NE(reloader->Current(), nullptr);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, FileSerialHex(dir.File("tls.crt")));
  EXPECT_EQ(reloader->CurrentInfo().subject, "CN=localhost");

  Server server(*reloader);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    SCOPED_TRACE(host);
    Client client(server.port());
    client.OfferAlpn({"h2", "http/1.1"});
    ASSERT_TRUE(client.StartTls(dir.File("ca.crt"), host));
    EXPECT_EQ(client.AlpnProtocol(), "http/1.1");
    EXPECT_EQ(client.Get("/hello").status, 200);
  }
  // A name the certificate does not carry fails verification.
  Client wrong_name(server.port());
  EXPECT_FALSE(wrong_name.StartTls(dir.File("ca.crt"), "example.com"));
}

TEST(TlsReloaderTest, ContextRequiresTls12OrLater) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir));
  ASSERT_NE(reloader, nullptr);
  SSL_CTX* ctx = reloader->Current().get();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
}

TEST(TlsReloaderTest, MissingFileIsAnErrorNamingIt) {
  TempDir dir;
  TlsReloaderOptions options = OptionsFor(dir);
  EXPECT_EQ(CreateError(options), "cannot read TLS certificate file \"" + options.cert_file +
                                      "\": No such file or directory");
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  options.key_file = dir.File("missing.key");
  EXPECT_EQ(CreateError(options), "cannot read TLS private key file \"" + options.key_file +
                                      "\": No such file or directory");
  options.key_file = "";
  EXPECT_EQ(CreateError(options), "no TLS private key file given");
}

TEST(TlsReloaderTest, UnparsablePemIsAnError) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  TlsReloaderOptions options = OptionsFor(dir);

  ASSERT_TRUE(WriteFile(options.cert_file, "not a certificate\n"));
  EXPECT_EQ(CreateError(options), "no PEM certificate in \"" + options.cert_file + "\"");

  ASSERT_TRUE(WriteFile(options.cert_file,
                        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"));
  std::string error = CreateError(options);
  EXPECT_EQ(error.rfind("cannot parse the certificate in \"" + options.cert_file + "\": ", 0), 0u)
      << error;

  ASSERT_EQ(MakeCerts(dir.path()), 0);
  // A key file holding a certificate: no key in it.
  options.key_file = dir.File("ca.crt");
  EXPECT_EQ(CreateError(options), "no PEM private key in \"" + options.key_file + "\"");
  // A damaged key block.
  options.key_file = dir.File("tls.key");
  ASSERT_TRUE(WriteFile(options.key_file,
                        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"));
  error = CreateError(options);
  EXPECT_EQ(error.rfind("cannot parse the private key in \"" + options.key_file + "\": ", 0), 0u)
      << error;
}

TEST(TlsReloaderTest, EncryptedKeyIsRefusedWithoutPrompting) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  TlsReloaderOptions options = OptionsFor(dir);
  // Re-write the key encrypted with a passphrase.
  FILE* in = std::fopen(options.key_file.c_str(), "r");
  ASSERT_NE(in, nullptr);
  EVP_PKEY* key = PEM_read_PrivateKey(in, nullptr, nullptr, nullptr);
  std::fclose(in);
  ASSERT_NE(key, nullptr);
  FILE* out = std::fopen(options.key_file.c_str(), "w");
  static char kPass[] = "secret";
  ASSERT_EQ(PEM_write_PrivateKey(out, key, EVP_aes_256_cbc(), nullptr, 0, nullptr, kPass), 1);
  std::fclose(out);
  EVP_PKEY_free(key);

  EXPECT_EQ(CreateError(options), "the private key in \"" + options.key_file +
                                      "\" is encrypted; encrypted keys are not supported");
}

TEST(TlsReloaderTest, KeyOfAnotherCertificateIsAnError) {
  TempDir a, b;
  ASSERT_EQ(MakeCerts(a.path()), 0);
  ASSERT_EQ(MakeCerts(b.path()), 0);
  TlsReloaderOptions options = OptionsFor(a);
  options.key_file = b.File("tls.key");
  EXPECT_EQ(CreateError(options), "the private key in \"" + options.key_file +
                                      "\" does not match the certificate in \"" +
                                      options.cert_file + "\"");
}

TEST(TlsReloaderTest, ExpiredOrNotYetValidCertificateIsAnError) {
  TempDir dir;
  TlsReloaderOptions options = OptionsFor(dir);
  ASSERT_TRUE(WriteSelfSigned(options.cert_file, options.key_file, -hours(48), -hours(24)));
  std::string error = CreateError(options);
  EXPECT_EQ(error.rfind("the certificate in \"" + options.cert_file + "\" expired at ", 0), 0u)
      << error;

  ASSERT_TRUE(WriteSelfSigned(options.cert_file, options.key_file, hours(24), hours(48)));
  error = CreateError(options);
  EXPECT_EQ(error.rfind("the certificate in \"" + options.cert_file + "\" is not valid before ", 0),
            0u)
      << error;

  ASSERT_TRUE(WriteSelfSigned(options.cert_file, options.key_file, -hours(1), hours(1)));
  EXPECT_NE(MustCreate(options), nullptr);
}

TEST(TlsReloaderTest, LoadsIntermediateCertificatesAfterTheLeaf) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  TlsReloaderOptions options = OptionsFor(dir);
  const std::string chain = ReadFile(dir.File("tls.crt")) + ReadFile(dir.File("ca.crt"));
  options.cert_file = dir.File("chain.crt");
  ASSERT_TRUE(WriteFile(options.cert_file, chain));
  std::unique_ptr<TlsReloader> reloader = MustCreate(options);
  ASSERT_NE(reloader, nullptr);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, FileSerialHex(dir.File("tls.crt")));
  STACK_OF(X509)* extra = nullptr;
  ASSERT_EQ(SSL_CTX_get0_chain_certs(reloader->Current().get(), &extra), 1);
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(sk_X509_num(extra), 1);
}

// --- Reloading ----------------------------------------------------------------------------------

TEST(TlsReloaderTest, PollReloadsAChangedPairAndCountsIt) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path(), {"--days", "10"}), 0);
  metrics::Registry registry;
  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir), &registry);
  ASSERT_NE(reloader, nullptr);
  const std::shared_ptr<SSL_CTX> first = reloader->Current();
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);
  EXPECT_EQ(reloader->Current(), first);
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_reloads_total{result=\"success\"}"),
            "0");

  ASSERT_EQ(MakeCerts(dir.path(), {"--days", "20"}), 0);
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kReloaded);
  EXPECT_NE(reloader->Current(), first);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, FileSerialHex(dir.File("tls.crt")));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_reloads_total{result=\"success\"}"),
            "1");
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_reloads_total{result=\"failure\"}"),
            "0");
  // The expiry gauge follows the new certificate: about 20 days (19 days 23 h .. 20 days).
  const double expiry =
      std::stod(Sample(registry, "hyperplace_webhook_certificate_expiry_seconds"));
  EXPECT_GT(expiry, 20 * 86400 - 3600);
  EXPECT_LE(expiry, 20 * 86400);
}

TEST(TlsReloaderTest, BrokenNewPairKeepsTheCurrentOneAndIsReportedOnce) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  metrics::Registry registry;
  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir), &registry);
  ASSERT_NE(reloader, nullptr);
  const std::shared_ptr<SSL_CTX> good = reloader->Current();
  const std::string good_serial = reloader->CurrentInfo().serial_hex;

  // Only the certificate rotated: the old key does not match it.
  TempDir other;
  ASSERT_EQ(MakeCerts(other.path()), 0);
  ASSERT_TRUE(WriteFile(dir.File("tls.crt"), ReadFile(other.File("tls.crt"))));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kRejected);
  EXPECT_EQ(reloader->Current(), good);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, good_serial);
  // The same bad bytes are not reported again.
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_reloads_total{result=\"failure\"}"),
            "1");

  // Garbage, then an expired pair: each rejected.
  ASSERT_TRUE(WriteFile(dir.File("tls.crt"), "garbage"));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kRejected);
  ASSERT_TRUE(WriteSelfSigned(dir.File("tls.crt"), dir.File("tls.key"), -hours(48), -hours(24)));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kRejected);
  EXPECT_EQ(reloader->Current(), good);
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_reloads_total{result=\"failure\"}"),
            "3");

  // The key catches up: the new pair loads.
  ASSERT_TRUE(WriteFile(dir.File("tls.crt"), ReadFile(other.File("tls.crt"))));
  ASSERT_TRUE(WriteFile(dir.File("tls.key"), ReadFile(other.File("tls.key"))));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kReloaded);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, FileSerialHex(other.File("tls.crt")));
}

// DESIGN §3: a pair refused for a reason that passes with time (not yet valid) is retried at the
// next check, and served as soon as it is valid, without the files changing again.
TEST(TlsReloaderTest, APairNotYetValidIsRetriedUntilItIsValid) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  auto now =
      std::make_shared<std::chrono::system_clock::time_point>(std::chrono::system_clock::now());
  TlsReloaderOptions options = OptionsFor(dir);
  options.clock = [now] { return *now; };
  metrics::Registry registry;
  std::unique_ptr<TlsReloader> reloader = MustCreate(options, &registry);
  ASSERT_NE(reloader, nullptr);
  const std::string old_serial = reloader->CurrentInfo().serial_hex;

  // The issuer's clock runs an hour ahead: the new pair is valid from then.
  ASSERT_TRUE(WriteSelfSigned(dir.File("tls.crt"), dir.File("tls.key"), hours(1), hours(48)));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kRejected);
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);  // reported once
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, old_serial);
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_reloads_total{result=\"failure\"}"),
            "1");

  *now += hours(2);  // the same bytes are valid now
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kReloaded);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, FileSerialHex(dir.File("tls.crt")));
  EXPECT_NE(reloader->CurrentInfo().serial_hex, old_serial);
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);

  // A pair refused for good (the key of another certificate) is still not retried.
  TempDir other;
  ASSERT_EQ(MakeCerts(other.path()), 0);
  ASSERT_TRUE(WriteFile(dir.File("tls.crt"), ReadFile(other.File("tls.crt"))));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kRejected);
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);
}

TEST(TlsReloaderTest, FilesVanishingAndComingBackUnchangedKeepServing) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  metrics::Registry registry;
  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir), &registry);
  ASSERT_NE(reloader, nullptr);
  const std::shared_ptr<SSL_CTX> good = reloader->Current();
  const std::string key = ReadFile(dir.File("tls.key"));
  ASSERT_EQ(std::remove(dir.File("tls.key").c_str()), 0);
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kRejected);
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);  // reported once
  ASSERT_TRUE(WriteFile(dir.File("tls.key"), key));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kUnchanged);
  EXPECT_EQ(reloader->Current(), good);
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_reloads_total{result=\"failure\"}"),
            "1");
}

// A Secret volume as the kubelet writes it: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>,
// and an update is a new timestamped directory plus an atomic rename of a new ..data symlink.
TEST(TlsReloaderTest, FollowsAKubernetesSecretVolumeSymlinkSwap) {
  namespace fs = std::filesystem;
  TempDir dir;
  const fs::path root = dir.path();
  auto make_version = [&](const std::string& name) {
    fs::create_directory(root / name);
    return MakeCerts((root / name).string()) == 0;
  };
  ASSERT_TRUE(make_version("..2026_11_23_01_00_00.1"));
  fs::create_directory_symlink("..2026_11_23_01_00_00.1", root / "..data");
  fs::create_symlink("..data/tls.crt", root / "tls.crt");
  fs::create_symlink("..data/tls.key", root / "tls.key");

  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir));
  ASSERT_NE(reloader, nullptr);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex,
            FileSerialHex((root / "..2026_11_23_01_00_00.1" / "tls.crt").string()));

  ASSERT_TRUE(make_version("..2026_11_23_02_00_00.2"));
  fs::create_directory_symlink("..2026_11_23_02_00_00.2", root / "..data_tmp");
  fs::rename(root / "..data_tmp", root / "..data");  // atomic, as the kubelet's AtomicWriter
  fs::remove_all(root / "..2026_11_23_01_00_00.1");

  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kReloaded);
  EXPECT_EQ(reloader->CurrentInfo().serial_hex,
            FileSerialHex((root / "..2026_11_23_02_00_00.2" / "tls.crt").string()));
}

TEST(TlsReloaderTest, WatcherThreadPicksUpARotation) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir));  // polls every 50 ms
  ASSERT_NE(reloader, nullptr);
  const std::string before = reloader->CurrentInfo().serial_hex;
  reloader->StartWatching();
  reloader->StartWatching();  // a second call is harmless
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  const std::string expected = FileSerialHex(dir.File("tls.crt"));
  ASSERT_NE(expected, before);
  // Wait for the condition (not for a duration): the hang guard is generous.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (reloader->CurrentInfo().serial_hex != expected &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(reloader->CurrentInfo().serial_hex, expected);
  reloader->StopWatching();
}

TEST(TlsReloaderTest, NewConnectionsSeeTheNewCertificateAndOldOnesKeepWorking) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir));
  ASSERT_NE(reloader, nullptr);
  const std::string first_serial = FileSerialHex(dir.File("tls.crt"));
  Server server(*reloader);

  Client old_connection(server.port());
  ASSERT_TRUE(old_connection.StartTls(dir.File("ca.crt")));
  EXPECT_EQ(old_connection.PeerSerialHex(), first_serial);
  EXPECT_EQ(old_connection.Get("/hello").status, 200);

  ASSERT_EQ(MakeCerts(dir.path()), 0);  // a new CA too: the old connection's chain is gone
  const std::string second_serial = FileSerialHex(dir.File("tls.crt"));
  ASSERT_EQ(reloader->Poll(), TlsReloader::PollResult::kReloaded);

  Client new_connection(server.port());
  ASSERT_TRUE(new_connection.StartTls(dir.File("ca.crt")));
  EXPECT_EQ(new_connection.PeerSerialHex(), second_serial);
  EXPECT_EQ(new_connection.Get("/hello").status, 200);

  EXPECT_EQ(old_connection.Get("/hello").status, 200);
  EXPECT_EQ(old_connection.PeerSerialHex(), first_serial);

  // A broken pair later: new connections still get the second certificate.
  ASSERT_TRUE(WriteFile(dir.File("tls.key"), "broken"));
  EXPECT_EQ(reloader->Poll(), TlsReloader::PollResult::kRejected);
  Client after_broken(server.port());
  ASSERT_TRUE(after_broken.StartTls(dir.File("ca.crt")));
  EXPECT_EQ(after_broken.PeerSerialHex(), second_serial);
  EXPECT_EQ(after_broken.Get("/hello").status, 200);
}

TEST(TlsReloaderTest, SourceOutlivesTheReloader) {
  TempDir dir;
  ASSERT_EQ(MakeCerts(dir.path()), 0);
  metrics::Registry registry;
  net::TlsContextSource source;
  {
    std::unique_ptr<TlsReloader> reloader = MustCreate(OptionsFor(dir), &registry);
    ASSERT_NE(reloader, nullptr);
    source = reloader->Source();
  }
  EXPECT_NE(source(), nullptr);
  source = nullptr;
  // The expiry gauge of a destroyed reloader reads 0 instead of freed memory.
  EXPECT_EQ(Sample(registry, "hyperplace_webhook_certificate_expiry_seconds"), "0");
}

}  // namespace
}  // namespace hyperplace::certs
