#include "cmd/cli.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace hyperplace::cli {
namespace {

TEST(CommandLineTest, ServeFlagsInBothForms) {
  auto cmd = ParseCommandLine({"serve", "--config", "c.yaml", "--extender-listen=127.0.0.1:9",
                               "--log-level", "debug", "--tls-cert-file=a",
                               "--tls-private-key-file", "b"});
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  EXPECT_EQ(cmd->kind, Command::Kind::kServe);
  EXPECT_EQ(cmd->serve.config_file, "c.yaml");
  EXPECT_EQ(cmd->serve.extender_listen, "127.0.0.1:9");
  EXPECT_EQ(cmd->serve.log_level, "debug");
  EXPECT_EQ(cmd->serve.tls_cert_file, "a");
  EXPECT_EQ(cmd->serve.tls_private_key_file, "b");
}

TEST(CommandLineTest, MistakesAreNamed) {
  struct {
    std::vector<std::string> args;
    const char* message_part;
  } cases[] = {
      {{}, "missing command"},
      {{"sever"}, "unknown command \"sever\""},
      {{"serve", "--confg", "x"}, "unknown flag \"--confg\""},
      {{"serve", "--config"}, "--config needs a value"},
      {{"serve", "--config="}, "--config needs a non-empty value"},
      {{"serve", "--tls-cert-file", "a"}, "go together"},
      {{"serve", "--extender-tls-private-key-file", "a"},
       "--extender-tls-cert-file and --extender-tls-private-key-file go together"},
      {{"check-config"}, "exactly one FILE"},
      {{"version", "x"}, "no arguments"},
      {{"topology", "--output", "yaml"}, "--output: must be one of text, json, mermaid, html"},
      {{"topology", "--form", "x"}, "unknown flag \"--form\""},
      {{"topology", "--from"}, "--from needs a value"},
      {{"topology", "cluster.json"}, "topology takes no argument \"cluster.json\""},
      {{"topology", "--kubeconfig", "k", "--from", "f"}, "exclude each other"},
  };
  for (auto& c : cases) {
    auto cmd = ParseCommandLine(c.args);
    ASSERT_FALSE(cmd.ok());
    EXPECT_NE(cmd.status().message().find(c.message_part), std::string::npos)
        << cmd.status().message();
  }
}

TEST(CommandLineTest, OtherCommands) {
  EXPECT_EQ(ParseCommandLine({"version"})->kind, Command::Kind::kVersion);
  EXPECT_EQ(ParseCommandLine({"--help"})->kind, Command::Kind::kHelp);
  EXPECT_EQ(ParseCommandLine({"topology", "--help"})->kind, Command::Kind::kHelp);
  EXPECT_EQ(ParseCommandLine({"serve", "-h"})->kind, Command::Kind::kHelp);
  auto check = ParseCommandLine({"check-config", "f.yaml"});
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->check_config_file, "f.yaml");
}

TEST(CommandLineTest, TopologyFlags) {
  auto cmd = ParseCommandLine({"topology", "--from", "a.json", "--from=b.json", "--output=html",
                               "--jobs", "--config", "c.yaml"});
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  EXPECT_EQ(cmd->kind, Command::Kind::kTopology);
  EXPECT_EQ(cmd->topology.from, (std::vector<std::string>{"a.json", "b.json"}));
  EXPECT_EQ(cmd->topology.output, "html");
  EXPECT_TRUE(cmd->topology.jobs);
  EXPECT_EQ(cmd->topology.config_file, "c.yaml");
  auto live = ParseCommandLine({"topology", "--kubeconfig", "k.yaml"});
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(live->topology.kubeconfig, "k.yaml");
  EXPECT_EQ(live->topology.output, "text");
  EXPECT_FALSE(live->topology.jobs);
  // The chart is the tree alone: asking it for the jobs is refused, not silently ignored.
  auto chart = ParseCommandLine({"topology", "--output", "mermaid", "--jobs"});
  ASSERT_FALSE(chart.ok());
  EXPECT_NE(chart.status().message().find("--jobs has no Mermaid form"), std::string::npos);
}

TEST(EffectiveConfigTest, NoFileGivesTheEmbeddedDefaults) {
  auto config = EffectiveConfig({});
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->extender.listen, "0.0.0.0:8888");
  EXPECT_EQ(config->cluster.max_pods_per_instance_type.at("ml.p5.48xlarge"), 49u);
}

TEST(EffectiveConfigTest, FlagsOverrideTheFile) {
  std::string path = ::testing::TempDir() + "/hyperplace-cli-test.yaml";
  {
    std::ofstream out(path);
    out << "extender:\n  listen: 127.0.0.1:7000\nlog:\n  level: warn\n";
  }
  ServeFlags flags;
  flags.config_file = path;
  auto from_file = EffectiveConfig(flags);
  ASSERT_TRUE(from_file.ok()) << from_file.status().message();
  EXPECT_EQ(from_file->extender.listen, "127.0.0.1:7000");
  EXPECT_EQ(from_file->log.level, LogLevel::kWarn);

  flags.extender_listen = "127.0.0.1:7001";
  flags.log_level = "error";
  auto overridden = EffectiveConfig(flags);
  ASSERT_TRUE(overridden.ok());
  EXPECT_EQ(overridden->extender.listen, "127.0.0.1:7001");
  EXPECT_EQ(overridden->log.level, LogLevel::kError);
  std::remove(path.c_str());
}

TEST(EffectiveConfigTest, ExtenderTlsFlagsOverrideTheFile) {
  auto cmd = ParseCommandLine({"serve", "--extender-tls-cert-file", "e.crt",
                               "--extender-tls-private-key-file=e.key", "--extender-client-ca-file",
                               "ca.crt"});
  ASSERT_TRUE(cmd.ok()) << cmd.status().message();
  auto config = EffectiveConfig(cmd->serve);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->extender.tls_cert_file, "e.crt");
  EXPECT_EQ(config->extender.tls_private_key_file, "e.key");
  EXPECT_EQ(config->extender.client_ca_file, "ca.crt");
  // The webhook's certificate is its own.
  EXPECT_EQ(config->webhook.tls_cert_file, "");

  std::string path = ::testing::TempDir() + "/hyperplace-cli-tls-test.yaml";
  {
    std::ofstream out(path);
    out << "extender:\n  tlsCertFile: f.crt\n  tlsPrivateKeyFile: f.key\n";
  }
  ServeFlags flags;
  flags.config_file = path;
  flags.extender_client_ca_file = "ca.crt";  // adds client authentication to the file's pair
  auto combined = EffectiveConfig(flags);
  ASSERT_TRUE(combined.ok()) << combined.status().message();
  EXPECT_EQ(combined->extender.tls_cert_file, "f.crt");
  EXPECT_EQ(combined->extender.client_ca_file, "ca.crt");
  std::remove(path.c_str());

  // Without any certificate the client CA would authenticate nothing: refused.
  ServeFlags ca_only;
  ca_only.extender_client_ca_file = "ca.crt";
  auto refused = EffectiveConfig(ca_only);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "extender.clientCAFile: needs TLS: set extender.tlsCertFile and "
            "extender.tlsPrivateKeyFile too");
}

TEST(EffectiveConfigTest, BadFlagValuesAreAllReported) {
  ServeFlags flags;
  flags.extender_listen = "nohost";
  flags.log_level = "loud";
  auto config = EffectiveConfig(flags);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--extender-listen"), std::string::npos);
  EXPECT_NE(config.status().message().find("--log-level"), std::string::npos);
}

TEST(EffectiveConfigTest, MissingFileIsAnError) {
  ServeFlags flags;
  flags.config_file = "/nonexistent/hyperplace.yaml";
  auto config = EffectiveConfig(flags);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("/nonexistent/hyperplace.yaml"), std::string::npos);
}

}  // namespace
}  // namespace hyperplace::cli
