// hyperplace: a kube-scheduler extender and admission webhook for HyperPod-style GPU clusters.
#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cmd/cli.h"
#include "cmd/serve.h"
#include "cmd/topology.h"
#include "common/config.h"
#include "extender/codec.h"

#ifndef HYPERPLACE_VERSION
#define HYPERPLACE_VERSION "dev"
#endif

int main(int argc, char** argv) {
  // glibc raises its mmap threshold to the size of each large block freed (up to 32 MiB), after
  // which blocks that size come from the heap and stay in the process once freed. A fixed
  // threshold keeps every large buffer (request bodies, replies, scratch a huge request grew)
  // mmapped, so releasing it gives the memory back to the system at once.
  // Fixing it also fixes the trim threshold, at 128 KiB: every request would then give the top
  // of the heap back and fault it in again. Idle handler threads trim explicitly instead.
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  using hyperplace::cli::Command;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cmd = hyperplace::cli::ParseCommandLine(args);
  if (!cmd.ok()) {
    std::fprintf(stderr, "hyperplace: %s\n", cmd.status().message().c_str());
    return 2;
  }
  switch (cmd->kind) {
    case Command::Kind::kHelp:
      std::fputs(hyperplace::cli::Usage().c_str(), stdout);
      return 0;
    case Command::Kind::kVersion:
      std::printf("hyperplace %s (json kernel %s)\n", HYPERPLACE_VERSION,
                  std::string(hyperplace::extender::DecoderKernel()).c_str());
      return 0;
    case Command::Kind::kCheckConfig: {
      auto config = hyperplace::LoadConfigFile(cmd->check_config_file);
      if (!config.ok()) {
        std::fprintf(stderr, "%s: invalid configuration:\n%s\n", cmd->check_config_file.c_str(),
                     config.status().message().c_str());
        return 1;
      }
      std::fputs(hyperplace::ConfigToYaml(*config).c_str(), stdout);
      return 0;
    }
    case Command::Kind::kTopology:
      return hyperplace::cli::Topology(cmd->topology);
    case Command::Kind::kServe: {
      auto config = hyperplace::cli::EffectiveConfig(cmd->serve);
      if (!config.ok()) {
        std::fprintf(stderr, "hyperplace: invalid configuration:\n%s\n",
                     config.status().message().c_str());
        return 1;
      }
      return hyperplace::cli::Serve(*config, cmd->serve);
    }
  }
  return 2;
}
