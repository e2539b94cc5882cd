// The standard suite: which scenarios run, against what, in which order.
//
// Per cluster size (100, 1000, 5000 nodes by default), a fake API server is filled with the
// generated nodes and 30 placed pods per node (150,000 at 5000 nodes), hyperplace is started with
// a kubeconfig pointing at it, and once /readyz answers 200 its memory is recorded and it is
// loaded with, one pod at a time on one keep-alive connection as kube-scheduler calls it:
//   extender/names/{filter,prioritize,filter+prioritize}/n<N>/c1/closed
//   extender/full/{filter,prioritize,filter+prioritize}/n<N>/c1/closed
//   extender/bind/n<N>/c4/closed             (binds of pending pods created for it, through to the
//                                            fake API server; last, as they change the cache)
// Then hyperplace is started again with a serving certificate and its webhook is loaded over TLS:
//   webhook/mutate/c4/r5000                  (open loop, 5,000 admissions/s)
//   webhook/mutate/c4/closed                 (as fast as 4 connections go)
//   webhook/mutate/c64/r5000                 (5,000/s spread over an API server's 64 connections)
// Every extender reply is checked against the generator's model of the cluster (bench/expect.h)
// and every admission against the case's expected decision and patch; a wrong answer is a
// bad_body error.
// The floor server (`hpbench floor-server`, the same HTTP server with a trivial handler) gets the
// same load for names filter+prioritize, full filter and both webhook scenarios ("floor/..." ids).
//
// Against a running hyperplace (--extender-url / --webhook-url) nothing is started except the
// floor; names-mode scenarios then expect its cache to hold the generated nodes
// (`hpbench fake-cluster` serves them).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/report.h"

namespace hyperplace::bench {

struct SuiteOptions {
  std::string hyperplace;                    // binary to start; empty: use the URLs below
  std::vector<std::string> hyperplace_args;  // extra arguments for `hyperplace serve`
  std::string extender_url;                  // a running extender, e.g. http://127.0.0.1:8888
  std::string webhook_url;                   // a running webhook, e.g. https://127.0.0.1:8443
  std::string webhook_ca_file;               // CA of the running webhook's certificate
  int server_pid = 0;     // a running server to sample (URL mode); 0: no server CPU/RSS figures
  std::string certs_dir;  // ca.crt, tls.crt, tls.key (certs/make-certs.sh); empty: generated

  bool floor = true;
  std::vector<int> nodes = {100, 1000, 5000};
  int pods_per_node = 30;
  std::uint64_t seed = 1;
  std::vector<std::string> only;  // run scenarios whose id contains one of these; empty: all
  double warmup_s = 1.0;
  double duration_s = 4.0;
  double full_duration_s = 0;  // full-node scenarios (tens of ms each); 0: duration_s
  int bind_connections = 4;
  // Pending pods created for the bind scenario, each bound once: more than it binds. 0: 6000 per
  // second of its warm-up and duration (about twice what 4 connections bind on 2 cores).
  int bind_pods = 0;
  int webhook_connections = 4;
  double webhook_rate = 5000;
  // An API server's connection pool (DESIGN §5): the open-loop rate again over this many
  // connections; 0: not run.
  int webhook_pool_connections = 64;
  // The Go standard-library peer webhook (e2e/peers/gowebhook) to run the webhook loads against
  // too, as "go/..." scenarios; empty: not run.
  std::string go_webhook;
  double timeout_s = 5.0;
  bool progress = true;  // draw a progress bar (only when stdout is a terminal)
  bool keep_work_dir = false;
  // Pin the servers to CPU 0 and this harness (client, fake API server) to CPU 1, as
  // shared/research/performance-limits.md measured; off by default (the servers then use every
  // core, as in a pod without a CPU limit).
  bool pin = false;
};

// Runs the suite; scenarios that cannot run are recorded as skipped with the reason. Returns the
// results without targets (the caller adds micro-benchmarks first) or an error that stopped
// everything (a binary that does not start at all).
StatusOr<Results> RunSuite(const SuiteOptions& options, const std::atomic<bool>* cancel);

// `hpbench fake-cluster`: serves a generated cluster until SIGINT/SIGTERM, for a hyperplace
// started by hand (e.g. under perf). Writes DIR/kubeconfig.
int RunFakeClusterCommand(int nodes, int pods_per_node, std::uint64_t seed, const std::string& dir);

}  // namespace hyperplace::bench
