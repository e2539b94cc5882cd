#include "webhook/rules.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "webhook/testing/builders.h"

namespace hyperplace::webhook {
namespace {

using testing::InputBuilder;

constexpr std::string_view kTeamA = "hyperpod-ns-team-a";
constexpr std::string_view kTeamAGroup = "hyperpod-ns-team-a-namespace-level-group";
constexpr std::string_view kTeamBGroup = "hyperpod-ns-team-b-namespace-level-group";
constexpr std::string_view kQueueLabel = "kueue.x-k8s.io/queue-name";
constexpr std::string_view kPriorityLabel = "kueue.x-k8s.io/priority-class";
constexpr std::string_view kTypeLabel = "node.kubernetes.io/instance-type";
constexpr std::string_view kQueueA = "hyperpod-ns-team-a-localqueue";

// alice of team-a creating a Pod in team-a's namespace.
InputBuilder& AlicePod(InputBuilder& in) {
  return in.Create(Kind::kPod).In(kTeamA).By("alice", {kTeamAGroup, "system:authenticated"});
}

struct Fixture {
  Config config;
  KueueObjects objects;
  RulesConfig rules;  // the outcome's views may point into it
  Outcome outcome;

  Fixture() { objects = *StaticCatalog(config).Current(); }

  const Outcome& Run(const InputBuilder& in) {
    rules = RulesConfig::FromConfig(config);
    Evaluate(in.input(), rules, objects, outcome);
    return outcome;
  }
};

// "key=value" for each label the mutation adds, in order.
std::vector<std::string> AddedLabels(const Outcome& o) {
  std::vector<std::string> out;
  for (const LabelAddition& l : o.mutation.labels) {
    out.push_back(std::string(l.key) + "=" + std::string(l.value));
  }
  return out;
}

// --- Not applicable: untouched --------------------------------------------------------------

TEST(RulesTest, RequestsOutsideTheRulesAreAllowedUntouched) {
  struct Case {
    const char* name;
    std::function<void(InputBuilder&)> build;
  };
  const Case kCases[] = {
      {"update", [](InputBuilder& in) { AlicePod(in).Request(Operation::kUpdate, Kind::kPod); }},
      {"delete", [](InputBuilder& in) { AlicePod(in).Request(Operation::kDelete, Kind::kPod); }},
      {"connect", [](InputBuilder& in) { AlicePod(in).Request(Operation::kConnect, Kind::kPod); }},
      {"default namespace", [](InputBuilder& in) { AlicePod(in).In("default"); }},
      {"kube-system", [](InputBuilder& in) { AlicePod(in).In("kube-system"); }},
      {"namespace equal to the prefix", [](InputBuilder& in) { AlicePod(in).In("hyperpod-ns-"); }},
      {"prefix not at the start", [](InputBuilder& in) { AlicePod(in).In("x-hyperpod-ns-a"); }},
      {"subresource", [](InputBuilder& in) { AlicePod(in).SubResource("ephemeralcontainers"); }},
      {"no object", [](InputBuilder& in) { AlicePod(in).NoObject(); }},
      // Even a request the rules would deny is untouched outside their scope.
      {"bob updating in team-a",
       [](InputBuilder& in) { in.Update(Kind::kPod).In(kTeamA).By("bob", {kTeamBGroup}); }},
      {"bob creating an Event in team-a",
       [](InputBuilder& in) { in.Create(Kind::kEvent).In(kTeamA).By("bob", {kTeamBGroup}); }},
      {"bob relabelling a ConfigMap in team-a",
       [](InputBuilder& in) {
         in.Update(Kind::kOther, "ConfigMap").In(kTeamA).By("bob", {kTeamBGroup});
         in.OldLabel(kQueueLabel, kQueueA).Label(kQueueLabel, "hyperpod-ns-team-b-localqueue");
       }},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Fixture f;
    InputBuilder in;
    c.build(in);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kAllowed);
    EXPECT_EQ(o.rule, Rule::kNotApplicable);
    EXPECT_TRUE(o.mutation.empty());
    EXPECT_TRUE(o.warnings.empty());
  }
}

// --- Rule 1: team scope -----------------------------------------------------------------------

TEST(RulesTest, TeamMemberIsAllowed) {
  Fixture f;
  InputBuilder in;
  AlicePod(in);
  EXPECT_EQ(f.Run(in).decision, Decision::kPatched);
  EXPECT_EQ(f.outcome.rule, Rule::kPassed);
}

TEST(RulesTest, UserOfAnotherTeamIsDeniedNamingUserTeamAndGroup) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kPod).In(kTeamA).By("bob", {kTeamBGroup, "system:authenticated"});
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.rule, Rule::kTeamScope);
  EXPECT_EQ(o.message, R"(user "bob" of team "team-b" may not create Pod objects in namespace )"
                       R"("hyperpod-ns-team-a": team "team-a" requires membership in group )"
                       R"("hyperpod-ns-team-a-namespace-level-group")");
  EXPECT_TRUE(o.mutation.empty());
}

TEST(RulesTest, UserWithoutAnyTeamIsDenied) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kJob).In(kTeamA).By("carol", {"system:authenticated"});
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.message,
            R"(user "carol" may not create Job objects in namespace "hyperpod-ns-team-a": team )"
            R"("team-a" requires membership in group "hyperpod-ns-team-a-namespace-level-group")");
}

TEST(RulesTest, GroupOfAnotherTeamWithTheSameSuffixDoesNotCount) {
  Fixture f;
  InputBuilder in;
  // "team-a" is a suffix of "big-team-a": the group must match the template exactly.
  in.Create(Kind::kPod).In(kTeamA).By("dave", {"hyperpod-ns-big-team-a-namespace-level-group"});
  EXPECT_EQ(f.Run(in).decision, Decision::kDenied);
}

TEST(RulesTest, ServiceAccountOfTheSameNamespaceIsAllowed) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kPod)
      .In(kTeamA)
      .By("system:serviceaccount:hyperpod-ns-team-a:runner", {"system:serviceaccounts"});
  EXPECT_EQ(f.Run(in).decision, Decision::kPatched);
}

TEST(RulesTest, ServiceAccountOfAnotherTeamIsRefusedLikeAUserOfThatTeam) {
  Fixture f;
  InputBuilder in;
  // Even a (forged or impersonated) team-a group does not let another namespace's service
  // account in.
  in.Create(Kind::kPod)
      .In(kTeamA)
      .By("system:serviceaccount:hyperpod-ns-team-b:runner",
          {"system:serviceaccounts", std::string(kTeamAGroup)});
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.rule, Rule::kTeamScope);
  EXPECT_EQ(o.message,
            R"(service account "system:serviceaccount:hyperpod-ns-team-b:runner" of team )"
            R"("team-b" may not create Pod objects in namespace "hyperpod-ns-team-a": team )"
            R"("team-a" requires membership in group "hyperpod-ns-team-a-namespace-level-group" )"
            "(service accounts may only create in their own namespace)");
}

TEST(RulesTest, ServiceAccountOfANonTeamNamespaceIsDenied) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kPod).In(kTeamA).By("system:serviceaccount:ci:deployer");
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.message.rfind(R"(service account "system:serviceaccount:ci:deployer" may not)", 0),
            0u)
      << o.message;
}

TEST(RulesTest, TrustedControllersAreAllowedAndStillDefaulted) {
  for (const char* user : {"system:serviceaccount:kube-system:job-controller",
                           "system:serviceaccount:kubeflow:training-operator",
                           "system:serviceaccount:kueue-system:kueue-controller-manager",
                           "system:serviceaccount:jobset-system:jobset-controller-manager",
                           "system:serviceaccount:lws-system:lws-controller-manager",
                           "system:serviceaccount:ray-system:kuberay-operator",
                           "system:serviceaccount:aws-hyperpod:hyperpod-training-operator",
                           "system:kube-controller-manager"}) {
    SCOPED_TRACE(user);
    Fixture f;
    InputBuilder in;
    in.Create(Kind::kPod).In(kTeamA).By(user);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kPatched);
    EXPECT_EQ(AddedLabels(o),
              (std::vector<std::string>{"kueue.x-k8s.io/queue-name=hyperpod-ns-team-a-localqueue",
                                        "kueue.x-k8s.io/priority-class=fine-tuning-priority"}));
  }
}

TEST(RulesTest, AdminGroupMemberIsAllowedAnywhereButStillFollowsQueueRules) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kPod).In(kTeamA).By("kubernetes-admin", {"system:masters"});
  EXPECT_EQ(f.Run(in).decision, Decision::kPatched);

  InputBuilder wrong_queue;
  wrong_queue.Create(Kind::kPod).In(kTeamA).By("kubernetes-admin", {"system:masters"});
  wrong_queue.Label(kQueueLabel, "hyperpod-ns-team-b-localqueue");
  EXPECT_EQ(f.Run(wrong_queue).decision, Decision::kDenied);
  EXPECT_EQ(f.outcome.rule, Rule::kQueue);
}

TEST(RulesTest, MalformedServiceAccountNameIsTreatedAsAUser) {
  for (const char* user : {"system:serviceaccount:", "system:serviceaccount:hyperpod-ns-team-a",
                           "system:serviceaccount::x", "system:serviceaccount:hyperpod-ns-team-a:",
                           "system:serviceaccount:hyperpod-ns-team-a:a:b"}) {
    SCOPED_TRACE(user);
    Fixture f;
    InputBuilder member, outsider;
    member.Create(Kind::kPod).In(kTeamA).By(user, {kTeamAGroup});
    outsider.Create(Kind::kPod).In(kTeamA).By(user);
    EXPECT_EQ(f.Run(member).decision, Decision::kPatched);
    EXPECT_EQ(f.Run(outsider).decision, Decision::kDenied);
    EXPECT_EQ(f.outcome.message.rfind("user ", 0), 0u) << f.outcome.message;
  }
}

TEST(RulesTest, ConfiguredTemplatesAndListsAreUsed) {
  Fixture f;
  f.config.cluster.team_namespace_prefix = "team-";
  f.config.webhook.team_group_template = "oidc:{team}:members";
  f.config.webhook.local_queue_template = "{team}-queue";
  f.config.webhook.admin_groups = {"platform"};
  f.config.webhook.trusted_users = {};
  f.config.webhook.trusted_service_account_namespaces = {"ops"};
  struct Case {
    std::string user;
    std::vector<std::string> groups;
    Decision decision;
  };
  const Case kCases[] = {
      {"x", {"oidc:blue:members"}, Decision::kPatched},
      {"x", {"oidc:red:members"}, Decision::kDenied},
      {"x", {"platform"}, Decision::kPatched},
      {"x", {"system:masters"}, Decision::kDenied},
      {"system:kube-controller-manager", {}, Decision::kDenied},
      {"system:serviceaccount:ops:bot", {}, Decision::kPatched},
      {"system:serviceaccount:kube-system:job-controller", {}, Decision::kDenied},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.user + " " + (c.groups.empty() ? "" : c.groups[0]));
    InputBuilder in;
    in.Create(Kind::kPod).In("team-blue").By(c.user);
    for (const std::string& g : c.groups) {
      in.By(c.user, {g});
    }
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, c.decision) << o.message;
    if (o.decision == Decision::kPatched) {
      EXPECT_EQ(AddedLabels(o)[0], "kueue.x-k8s.io/queue-name=blue-queue");
    }
  }
}

// --- Rule 1 for every kind created --------------------------------------------------------------

// Each kind a user could create in another team's namespace to have its controller's pods run on
// that team's LocalQueue: the side doors of issue 10.
struct SideDoor {
  Kind kind;
  const char* kind_name;
  const char* controller;  // the trusted service account that acts for it
};
const SideDoor kSideDoors[] = {
    {Kind::kOther, "ReplicaSet", "system:serviceaccount:kube-system:replicaset-controller"},
    {Kind::kOther, "CronJob", "system:serviceaccount:kube-system:cronjob-controller"},
    {Kind::kOther, "DaemonSet", "system:serviceaccount:kube-system:daemon-set-controller"},
    {Kind::kOther, "ReplicationController",
     "system:serviceaccount:kube-system:replication-controller"},
    {Kind::kMPIJob, "MPIJob", "system:serviceaccount:kubeflow:mpi-operator"},
    {Kind::kOther, "NotebookSpawner", "system:serviceaccount:aws-hyperpod:hyperpod-operator"},
};

TEST(RulesTest, EveryKindCreatedByAnotherTeamIsDenied) {
  for (const SideDoor& door : kSideDoors) {
    SCOPED_TRACE(door.kind_name);
    Fixture f;
    InputBuilder in;
    in.Create(door.kind, door.kind_name).In(kTeamA).By("bob", {kTeamBGroup});
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kDenied);
    EXPECT_EQ(o.rule, Rule::kTeamScope);
    EXPECT_EQ(o.message, std::string(R"(user "bob" of team "team-b" may not create )") +
                             door.kind_name +
                             R"( objects in namespace "hyperpod-ns-team-a": team "team-a" )"
                             R"(requires membership in group )"
                             R"("hyperpod-ns-team-a-namespace-level-group")");
    EXPECT_TRUE(o.mutation.empty());

    InputBuilder sa;
    sa.Create(door.kind, door.kind_name)
        .In(kTeamA)
        .By("system:serviceaccount:hyperpod-ns-team-b:ci");
    EXPECT_EQ(f.Run(sa).decision, Decision::kDenied);
  }
}

TEST(RulesTest, EveryKindMayBeCreatedByTheTeamAdminsAndTrustedControllers) {
  for (const SideDoor& door : kSideDoors) {
    SCOPED_TRACE(door.kind_name);
    struct Who {
      std::string user;
      std::vector<std::string> groups;
    };
    const Who kAllowed[] = {
        {"alice", {std::string(kTeamAGroup), "system:authenticated"}},
        {"system:serviceaccount:hyperpod-ns-team-a:ci", {"system:serviceaccounts"}},
        {"kubernetes-admin", {"system:masters"}},
        {door.controller, {"system:serviceaccounts"}},
        {"system:kube-controller-manager", {}},
    };
    for (const Who& who : kAllowed) {
      SCOPED_TRACE(who.user);
      Fixture f;
      InputBuilder in;
      in.Create(door.kind, door.kind_name).In(kTeamA).By(who.user).Groups(who.groups);
      const Outcome& o = f.Run(in);
      EXPECT_EQ(o.rule, Rule::kPassed);
      if (door.kind == Kind::kOther) {
        // Kueue reads no labels of these kinds: allowed as they are.
        EXPECT_EQ(o.decision, Decision::kAllowed);
        EXPECT_TRUE(o.mutation.empty());
      } else {
        EXPECT_EQ(o.decision, Decision::kPatched);
        EXPECT_EQ(AddedLabels(o), (std::vector<std::string>{
                                      "kueue.x-k8s.io/queue-name=hyperpod-ns-team-a-localqueue",
                                      "kueue.x-k8s.io/priority-class=fine-tuning-priority"}));
      }
    }
  }
}

TEST(RulesTest, OtherKindsAreNeverPatchedWhateverTheyCarry) {
  Fixture f;
  InputBuilder in;
  // A custom resource with a pod-spec-like nodeSelector, no queue label and a foreign one: not
  // the webhook's to label or rewrite.
  in.Create(Kind::kOther, "Widget").In(kTeamA).By("alice", {kTeamAGroup});
  in.Label(kPriorityLabel, "no-such-class");
  in.NodeSelector(kTypeLabel, "p5.48xlarge").Requirement(0, kTypeLabel, "In", {"p5.48xlarge"});
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kAllowed);
  EXPECT_EQ(o.rule, Rule::kPassed);
  EXPECT_TRUE(o.mutation.empty());
  EXPECT_TRUE(o.warnings.empty());
}

TEST(RulesTest, EventsAndSubresourcesAreOutsideTeamScope) {
  struct Case {
    const char* name;
    std::function<void(InputBuilder&)> build;
  };
  // Who writes these in a team namespace: kubelets and schedulers (Events about the team's
  // pods), kube-scheduler and hyperplace's service account (pods/binding), controllers and the
  // disruption budget's users (pods/eviction). None is a team member, and none makes a workload.
  const Case kCases[] = {
      {"kubelet's Event",
       [](InputBuilder& in) {
         in.Create(Kind::kEvent).By("system:node:ip-10-1-2-3.ec2.internal", {"system:nodes"});
       }},
      {"scheduler's Event",
       [](InputBuilder& in) { in.Create(Kind::kEvent).By("system:kube-scheduler"); }},
      {"hyperplace's binding",
       [](InputBuilder& in) {
         in.Create(Kind::kOther, "Binding")
             .SubResource("binding")
             .By("system:serviceaccount:hyperplace-system:hyperplace", {"system:serviceaccounts"});
       }},
      {"scheduler's binding",
       [](InputBuilder& in) {
         in.Create(Kind::kOther, "Binding").SubResource("binding").By("system:kube-scheduler");
       }},
      {"an eviction",
       [](InputBuilder& in) {
         in.Create(Kind::kOther, "Eviction").SubResource("eviction").By("bob", {kTeamBGroup});
       }},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Fixture f;
    InputBuilder in;
    c.build(in);
    in.In(kTeamA);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kAllowed);
    EXPECT_EQ(o.rule, Rule::kNotApplicable);
  }
  // The same users creating a workload are held to team scope.
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kOther, "ReplicaSet").In(kTeamA).By("system:kube-scheduler");
  EXPECT_EQ(f.Run(in).decision, Decision::kDenied);
}

// --- Rule 2: queue ----------------------------------------------------------------------------

TEST(RulesTest, MissingQueueGetsTheTeamsLocalQueue) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label("app", "x");
  const Outcome& o = f.Run(in);
  ASSERT_EQ(o.decision, Decision::kPatched);
  EXPECT_EQ(AddedLabels(o)[0], "kueue.x-k8s.io/queue-name=hyperpod-ns-team-a-localqueue");
}

TEST(RulesTest, TheTeamsOwnQueueIsKept) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kAllowed);
  EXPECT_EQ(o.rule, Rule::kPassed);
  EXPECT_TRUE(o.mutation.empty());
}

TEST(RulesTest, AnotherQueueIsDeniedNamingTheRightOne) {
  for (const char* queue : {"hyperpod-ns-team-b-localqueue", "default", ""}) {
    SCOPED_TRACE(queue);
    Fixture f;
    InputBuilder in;
    AlicePod(in).Label(kQueueLabel, queue);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kDenied);
    EXPECT_EQ(o.rule, Rule::kQueue);
    EXPECT_EQ(o.message, "queue \"" + std::string(queue) +
                             "\" is not allowed in namespace \"hyperpod-ns-team-a\": team "
                             "\"team-a\" must use LocalQueue \"hyperpod-ns-team-a-localqueue\" "
                             "(label kueue.x-k8s.io/queue-name)");
  }
}

TEST(RulesTest, ClusterCatalogMustHaveTheQueue) {
  Fixture f;
  f.objects.from_cluster = true;
  f.objects.local_queues = {{"hyperpod-ns-team-b", "hyperpod-ns-team-b-localqueue"},
                            {"hyperpod-ns-team-a", "other-queue"}};
  const std::string kMissing =
      "LocalQueue \"hyperpod-ns-team-a-localqueue\" does not exist in namespace "
      "\"hyperpod-ns-team-a\", so Kueue would never admit this workload; ask the cluster "
      "administrator to create it";

  InputBuilder defaulted;
  AlicePod(defaulted);
  EXPECT_EQ(f.Run(defaulted).decision, Decision::kDenied);
  EXPECT_EQ(f.outcome.message, kMissing);

  InputBuilder named;
  AlicePod(named).Label(kQueueLabel, kQueueA);
  EXPECT_EQ(f.Run(named).decision, Decision::kDenied);
  EXPECT_EQ(f.outcome.message, kMissing);

  f.objects.local_queues.insert({std::string(kTeamA), std::string(kQueueA)});
  EXPECT_EQ(f.Run(defaulted).decision, Decision::kPatched);
  EXPECT_EQ(AddedLabels(f.outcome)[0], "kueue.x-k8s.io/queue-name=hyperpod-ns-team-a-localqueue");
  EXPECT_EQ(f.Run(named).decision, Decision::kPatched);  // the priority class is still added
  EXPECT_EQ(AddedLabels(f.outcome),
            std::vector<std::string>{"kueue.x-k8s.io/priority-class=fine-tuning-priority"});
}

TEST(RulesTest, TeamWhoseQueueNameWouldExceedALabelValueIsDenied) {
  Fixture f;
  const std::string team(60, 't');  // "hyperpod-ns-" + 60 + "-localqueue" = 83 > 63
  InputBuilder in;
  in.Create(Kind::kPod).In("hyperpod-ns-" + team).By("x", {"system:masters"});
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.rule, Rule::kQueue);
  EXPECT_NE(o.message.find("is longer than 63 characters"), std::string::npos) << o.message;
}

// --- Rule 3: priority -------------------------------------------------------------------------

TEST(RulesTest, MissingPriorityGetsTheLowestClass) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA);
  // inference 15, training 10, fine-tuning 5: fine-tuning is the lowest.
  EXPECT_EQ(AddedLabels(f.Run(in)),
            std::vector<std::string>{"kueue.x-k8s.io/priority-class=fine-tuning-priority"});
}

TEST(RulesTest, LowestClassTieIsBrokenByName) {
  Fixture f;
  f.objects.priority_classes = {{"zeta", 1}, {"alpha", 1}, {"high", 9}};
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA);
  EXPECT_EQ(AddedLabels(f.Run(in)),
            std::vector<std::string>{"kueue.x-k8s.io/priority-class=alpha"});
}

TEST(RulesTest, ConfiguredDefaultClassIsUsed) {
  Fixture f;
  f.config.webhook.default_priority_class = "training-priority";
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA);
  EXPECT_EQ(AddedLabels(f.Run(in)),
            std::vector<std::string>{"kueue.x-k8s.io/priority-class=training-priority"});
}

TEST(RulesTest, DefaultClassMissingFromTheClusterFallsBackToTheLowest) {
  Fixture f;
  f.config.webhook.default_priority_class = "training-priority";
  f.objects.from_cluster = true;
  f.objects.local_queues = {{std::string(kTeamA), std::string(kQueueA)}};
  f.objects.priority_classes = {{"batch", 1}, {"urgent", 100}};
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA);
  EXPECT_EQ(AddedLabels(f.Run(in)),
            std::vector<std::string>{"kueue.x-k8s.io/priority-class=batch"});
}

TEST(RulesTest, DefaultAboveTheTeamMaximumIsLoweredToIt) {
  Fixture f;
  f.config.webhook.default_priority_class = "inference-priority";                // 15
  f.config.webhook.team_max_priority_class = {{"team-a", "training-priority"}};  // 10
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA);
  EXPECT_EQ(AddedLabels(f.Run(in)),
            std::vector<std::string>{"kueue.x-k8s.io/priority-class=training-priority"});
  // Another team keeps the default.
  InputBuilder other;
  other.Create(Kind::kPod).In("hyperpod-ns-team-b").By("bob", {kTeamBGroup});
  other.Label(kQueueLabel, "hyperpod-ns-team-b-localqueue");
  EXPECT_EQ(AddedLabels(f.Run(other)),
            std::vector<std::string>{"kueue.x-k8s.io/priority-class=inference-priority"});
}

TEST(RulesTest, NoClassAtAllWritesNoPriorityLabel) {
  Fixture f;
  f.objects.priority_classes.clear();
  InputBuilder in;
  AlicePod(in);
  EXPECT_EQ(AddedLabels(f.Run(in)),
            std::vector<std::string>{"kueue.x-k8s.io/queue-name=hyperpod-ns-team-a-localqueue"});
}

TEST(RulesTest, UnknownPriorityClassIsDeniedListingTheAllowedOnes) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kPriorityLabel, "urgent");
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.rule, Rule::kPriority);
  EXPECT_EQ(o.message,
            "priority class \"urgent\" does not exist; use one of inference-priority (15), "
            "training-priority (10), fine-tuning-priority (5) (label "
            "kueue.x-k8s.io/priority-class)");

  f.objects.priority_classes.clear();
  EXPECT_EQ(f.Run(in).decision, Decision::kDenied);
  EXPECT_EQ(f.outcome.message,
            "priority class \"urgent\" does not exist: the cluster has no WorkloadPriorityClass; "
            "remove label kueue.x-k8s.io/priority-class");
}

TEST(RulesTest, ClassAboveTheTeamMaximumIsDenied) {
  Fixture f;
  f.config.webhook.team_max_priority_class = {{"team-a", "training-priority"}};
  struct Case {
    const char* requested;
    Decision decision;
  };
  // Maximum training-priority (10): inference (15) is above it; training (10) and fine-tuning
  // (5) are within it.
  const Case kCases[] = {
      {"inference-priority", Decision::kDenied},
      {"training-priority", Decision::kPatched},
      {"fine-tuning-priority", Decision::kPatched},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.requested);
    InputBuilder in;
    AlicePod(in).Label(kPriorityLabel, c.requested);
    EXPECT_EQ(f.Run(in).decision, c.decision);
  }
  InputBuilder in;
  AlicePod(in).Label(kPriorityLabel, "inference-priority");
  EXPECT_EQ(f.Run(in).message,
            "priority class \"inference-priority\" (15) is above team \"team-a\"'s maximum "
            "\"training-priority\" (10)");
}

TEST(RulesTest, TeamMaximumUsesTheClustersValues) {
  Fixture f;
  f.config.webhook.team_max_priority_class = {{"team-a", "training-priority"}};
  f.objects.priority_classes = {{"training-priority", 50}, {"inference-priority", 40}};
  InputBuilder in;
  AlicePod(in).Label(kPriorityLabel, "inference-priority");
  // In this cluster inference (40) is below training (50).
  EXPECT_EQ(f.Run(in).decision, Decision::kPatched);
}

// --- Rule 4: instance type --------------------------------------------------------------------

TEST(RulesTest, NodeSelectorWithoutThePrefixIsRewrittenWithAWarning) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.NodeSelector("topology.k8s.aws/network-node-layer-3", "nn-1");
  in.NodeSelector(kTypeLabel, "p5.48xlarge");
  const Outcome& o = f.Run(in);
  ASSERT_EQ(o.decision, Decision::kPatched);
  ASSERT_EQ(o.mutation.rewrites.size(), 1u);
  const ValueRewrite& r = o.mutation.rewrites[0];
  EXPECT_EQ(r.location, SpecLocation::kSpec);
  EXPECT_EQ(r.field, ValueRewrite::Field::kNodeSelector);
  EXPECT_EQ(r.selector_key, kTypeLabel);
  EXPECT_EQ(r.from, "p5.48xlarge");
  EXPECT_EQ(r.to, "ml.p5.48xlarge");
  EXPECT_EQ(o.warnings, std::vector<std::string>{"instance type \"p5.48xlarge\" rewritten to "
                                                 "\"ml.p5.48xlarge\" in spec.nodeSelector"});
}

TEST(RulesTest, PrefixedOrEmptySelectorsAreLeftAlone) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.NodeSelector(kTypeLabel, "ml.p5.48xlarge");
  in.Requirement(0, kTypeLabel, "In", {"ml.g5.xlarge", ""}).SchedulerName("hyperplace");
  EXPECT_EQ(f.Run(in).decision, Decision::kAllowed);
}

TEST(RulesTest, RepeatedNodeSelectorKeyUsesTheLastValue) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.NodeSelector(kTypeLabel, "g5.xlarge").NodeSelector(kTypeLabel, "ml.p5.48xlarge");
  EXPECT_TRUE(f.Run(in).mutation.rewrites.empty());

  InputBuilder reversed;
  AlicePod(reversed).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  reversed.NodeSelector(kTypeLabel, "ml.p5.48xlarge").NodeSelector(kTypeLabel, "g5.xlarge");
  ASSERT_EQ(f.Run(reversed).mutation.rewrites.size(), 1u);
  EXPECT_EQ(f.outcome.mutation.rewrites[0].to, "ml.g5.xlarge");
}

TEST(RulesTest, RequiredAffinityInValuesWithoutThePrefixAreRewritten) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.Requirement(0, "topology.k8s.aws/network-node-layer-1", "Exists", {});
  in.Requirement(0, kTypeLabel, "In", {"ml.p5.48xlarge", "p5e.48xlarge"});
  in.Requirement(1, kTypeLabel, "NotIn", {"g5.xlarge"});  // only In is rewritten
  in.Requirement(1, "other/key", "In", {"g5.xlarge"});
  in.Requirement(1, kTypeLabel, "In", {"p4d.24xlarge"});
  const Outcome& o = f.Run(in);
  ASSERT_EQ(o.decision, Decision::kPatched);
  ASSERT_EQ(o.mutation.rewrites.size(), 2u);
  // nodeSelectorTerms[0].matchExpressions[1].values[1] and terms[1].matchExpressions[2].values[0]
  const ValueRewrite& a = o.mutation.rewrites[0];
  EXPECT_EQ(a.field, ValueRewrite::Field::kAffinity);
  EXPECT_EQ(a.term, 0u);
  EXPECT_EQ(a.expression, 1u);
  EXPECT_EQ(a.value, 1u);
  EXPECT_EQ(a.to, "ml.p5e.48xlarge");
  const ValueRewrite& b = o.mutation.rewrites[1];
  EXPECT_EQ(b.term, 1u);
  EXPECT_EQ(b.expression, 2u);
  EXPECT_EQ(b.value, 0u);
  EXPECT_EQ(b.to, "ml.p4d.24xlarge");
  EXPECT_EQ(o.warnings.size(), 2u);
  EXPECT_EQ(o.warnings[0],
            "instance type \"p5e.48xlarge\" rewritten to \"ml.p5e.48xlarge\" in the required node "
            "affinity");
}

TEST(RulesTest, JobsAreRewrittenInTheirPodTemplateOnly) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kJob).In(kTeamA).By("alice", {kTeamAGroup});
  in.Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.NodeSelector(kTypeLabel, "g5.xlarge", /*template_spec=*/true);
  in.NodeSelector(kTypeLabel, "c5.large");  // a Job has no spec.nodeSelector: not a pod spec
  const Outcome& o = f.Run(in);
  ASSERT_EQ(o.mutation.rewrites.size(), 1u);
  EXPECT_EQ(o.mutation.rewrites[0].location, SpecLocation::kTemplateSpec);
  EXPECT_EQ(o.mutation.rewrites[0].to, "ml.g5.xlarge");
  EXPECT_EQ(o.warnings[0],
            "instance type \"g5.xlarge\" rewritten to \"ml.g5.xlarge\" in "
            "spec.template.spec.nodeSelector");

  InputBuilder pod;
  AlicePod(pod).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  pod.NodeSelector(kTypeLabel, "g5.xlarge", /*template_spec=*/true);
  EXPECT_EQ(f.Run(pod).decision, Decision::kAllowed);
}

TEST(RulesTest, OtherKindsGetLabelsButNoSelectorRewrites) {
  for (int k = static_cast<int>(Kind::kPod); k < kKindCount; ++k) {
    const Kind kind = static_cast<Kind>(k);
    if (kind == Kind::kPod || kind == Kind::kJob) continue;
    SCOPED_TRACE(KindName(kind));
    Fixture f;
    InputBuilder in;
    in.Create(kind).In(kTeamA).By("alice", {kTeamAGroup});
    in.NodeSelector(kTypeLabel, "g5.xlarge").NodeSelector(kTypeLabel, "g5.xlarge", true);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kPatched);
    EXPECT_EQ(AddedLabels(o).size(), 2u);
    EXPECT_TRUE(o.mutation.rewrites.empty());
  }
}

TEST(RulesTest, UnusableSpecPartsAreLeftAlone) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.NodeSelector(kTypeLabel, "g5.xlarge").Requirement(0, kTypeLabel, "In", {"g5.xlarge"});
  in.UnusableSpec();
  EXPECT_EQ(f.Run(in).decision, Decision::kAllowed);
}

TEST(RulesTest, ConfiguredInstanceTypeLabelAndPrefixAreUsed) {
  Fixture f;
  f.config.cluster.instance_type_label = "example.com/type";
  f.config.cluster.instance_type_prefix = "hp-";
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.NodeSelector(kTypeLabel, "g5.xlarge").NodeSelector("example.com/type", "big");
  const Outcome& o = f.Run(in);
  ASSERT_EQ(o.mutation.rewrites.size(), 1u);
  EXPECT_EQ(o.mutation.rewrites[0].to, "hp-big");
}

TEST(RulesTest, WarningsStayWithin120Bytes) {
  Fixture f;
  InputBuilder in;
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  in.Create(Kind::kJob);
  // A multi-byte character straddling the cut must not be split.
  // The value is quoted cut to 40 bytes: 39 x and the first byte of "é" would be a split.
  in.NodeSelector(kTypeLabel, std::string(39, 'x') + "\xc3\xa9" + std::string(200, 'y'), true);
  const Outcome& o = f.Run(in);
  ASSERT_EQ(o.warnings.size(), 1u);
  EXPECT_LE(o.warnings[0].size(), kMaxWarningBytes);
  EXPECT_EQ(o.warnings[0].find('\xc3'), std::string::npos) << o.warnings[0];
  EXPECT_EQ(
      o.warnings[0].rfind("instance type \"" + std::string(39, 'x') + "...\" rewritten to", 0), 0u)
      << o.warnings[0];
}

TEST(RulesTest, DenialMessagesStayOneLineAndBounded) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kPod).In(kTeamA).By("mallory\n" + std::string(10000, 'm'));
  const Outcome& o = f.Run(in);
  ASSERT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.message.find('\n'), std::string::npos);
  EXPECT_LT(o.message.size(), 1000u);
  EXPECT_NE(o.message.find("\"mallory?mmm"), std::string::npos) << o.message;
}

// --- Rule 5: scheduler name --------------------------------------------------------------------

// A pod of team-a that passes rules 1-3 untouched, so that only rule 5 can patch it.
InputBuilder& LabelledAlicePod(InputBuilder& in) {
  AlicePod(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  return in;
}

TEST(RulesTest, PodNamingNoSchedulerOrTheDefaultOneGoesToHyperplace) {
  struct Case {
    const char* name;
    std::function<void(InputBuilder&)> build;
  };
  const Case kCases[] = {
      {"no schedulerName", [](InputBuilder& in) { in.EmptySpec(); }},
      // What every AdmissionReview of a pod that named none carries (the API server's default).
      {"default-scheduler", [](InputBuilder& in) { in.SchedulerName("default-scheduler"); }},
      {"empty", [](InputBuilder& in) { in.SchedulerName(""); }},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Fixture f;
    InputBuilder in;
    LabelledAlicePod(in);
    c.build(in);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kPatched);
    EXPECT_EQ(o.mutation.scheduler_name, "hyperplace");
    EXPECT_TRUE(o.mutation.labels.empty());
    EXPECT_TRUE(o.warnings.empty());
  }
}

TEST(RulesTest, PodNamingAnotherSchedulerKeepsIt) {
  for (std::string_view named : {"hyperplace", "volcano", "kai-scheduler", "default-scheduler2"}) {
    SCOPED_TRACE(named);
    Fixture f;
    InputBuilder in;
    LabelledAlicePod(in).SchedulerName(named);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kAllowed);
    EXPECT_TRUE(o.mutation.empty());
  }
}

TEST(RulesTest, SchedulerNameIsConfiguredOrOff) {
  {
    Fixture f;
    f.config.extender.scheduler_names = {"gpu"};
    f.config.webhook.scheduler_name = "gpu";
    InputBuilder in;
    LabelledAlicePod(in).SchedulerName("default-scheduler");
    EXPECT_EQ(f.Run(in).mutation.scheduler_name, "gpu");
  }
  {
    // Off: hyperplace is the extender of the cluster's default scheduler.
    Fixture f;
    f.config.webhook.scheduler_name.clear();
    InputBuilder in;
    LabelledAlicePod(in).SchedulerName("default-scheduler");
    EXPECT_EQ(f.Run(in).decision, Decision::kAllowed);
    EXPECT_TRUE(f.outcome.mutation.empty());
  }
}

TEST(RulesTest, SchedulerNameIsSetOnTeamPodsCreatedOnly) {
  struct Case {
    const char* name;
    std::function<void(InputBuilder&)> build;
  };
  const Case kCases[] = {
      // Jobs, ReplicaSets and the like make pods, which the webhook sees and sets.
      {"a Job's pod template",
       [](InputBuilder& in) { LabelledAlicePod(in).Create(Kind::kJob).EmptySpec(true); }},
      {"a pod outside team namespaces",
       [](InputBuilder& in) { LabelledAlicePod(in).In("default").EmptySpec(); }},
      // spec.schedulerName is immutable; an UPDATE changing a label is held to rules 1-3 only.
      {"an UPDATE",
       [](InputBuilder& in) {
         LabelledAlicePod(in).Update(Kind::kPod).EmptySpec();
         in.OldLabel(kQueueLabel, kQueueA).OldLabel(kPriorityLabel, "fine-tuning-priority");
       }},
      {"a schedulerName of another type",
       [](InputBuilder& in) { LabelledAlicePod(in).UnusableSpec(); }},
      {"no spec", [](InputBuilder& in) { LabelledAlicePod(in); }},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    Fixture f;
    InputBuilder in;
    c.build(in);
    const Outcome& o = f.Run(in);
    EXPECT_NE(o.decision, Decision::kDenied);
    EXPECT_EQ(o.mutation.scheduler_name, "");
  }
}

TEST(RulesTest, DeniedPodGetsNoSchedulerName) {
  Fixture f;
  InputBuilder in;
  in.Create(Kind::kPod).In(kTeamA).By("bob", {kTeamBGroup}).EmptySpec();
  EXPECT_EQ(f.Run(in).decision, Decision::kDenied);
  EXPECT_TRUE(f.outcome.mutation.empty());
}

// --- Idempotence ------------------------------------------------------------------------------

TEST(RulesTest, ApplyingTheMutationLeavesNothingForASecondPass) {
  Fixture f;
  InputBuilder first;
  AlicePod(first).Label("app", "x");
  first.NodeSelector(kTypeLabel, "p5.48xlarge");
  first.Requirement(0, kTypeLabel, "In", {"p5.48xlarge"});
  const Outcome& o = f.Run(first);
  ASSERT_EQ(o.decision, Decision::kPatched);

  // The object as the patch leaves it.
  InputBuilder second;
  AlicePod(second).Label("app", "x");
  for (const LabelAddition& l : o.mutation.labels) second.Label(l.key, l.value);
  second.NodeSelector(kTypeLabel, o.mutation.rewrites[0].to);
  second.Requirement(0, kTypeLabel, "In", {o.mutation.rewrites[1].to});
  ASSERT_EQ(o.mutation.scheduler_name, "hyperplace");
  second.SchedulerName(o.mutation.scheduler_name);
  EXPECT_EQ(f.Run(second).decision, Decision::kAllowed);
  EXPECT_TRUE(f.outcome.mutation.empty());
}

// --- Rule 6: updates ---------------------------------------------------------------------------

constexpr std::string_view kQueueB = "hyperpod-ns-team-b-localqueue";

// alice updating her Job in team-a, which was created with the team's queue and training
// priority; the new object keeps both unless the case changes them.
InputBuilder& AliceUpdatesJob(InputBuilder& in) {
  in.Update(Kind::kJob).In(kTeamA).By("alice", {kTeamAGroup, "system:authenticated"});
  in.OldLabel(kQueueLabel, kQueueA).OldLabel(kPriorityLabel, "training-priority");
  return in;
}

TEST(RulesTest, UpdateToAnotherTeamsQueueIsDenied) {
  Fixture f;
  InputBuilder in;
  AliceUpdatesJob(in).Label(kQueueLabel, kQueueB).Label(kPriorityLabel, "training-priority");
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.rule, Rule::kQueue);
  EXPECT_EQ(o.message, R"(queue "hyperpod-ns-team-b-localqueue" is not allowed in namespace )"
                       R"("hyperpod-ns-team-a": team "team-a" must use LocalQueue )"
                       R"("hyperpod-ns-team-a-localqueue" (label kueue.x-k8s.io/queue-name))");
}

TEST(RulesTest, UpdateRaisingPriorityAboveTheTeamMaximumIsDenied) {
  Fixture f;
  f.config.webhook.team_max_priority_class = {{"team-a", "training-priority"}};
  InputBuilder in;
  AliceUpdatesJob(in).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "inference-priority");
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.rule, Rule::kPriority);
  // inference (15) > the maximum training (10).
  EXPECT_EQ(o.message,
            "priority class \"inference-priority\" (15) is above team \"team-a\"'s maximum "
            "\"training-priority\" (10)");

  InputBuilder unknown;
  AliceUpdatesJob(unknown).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "urgent");
  EXPECT_EQ(f.Run(unknown).decision, Decision::kDenied);
  EXPECT_EQ(f.outcome.rule, Rule::kPriority);

  // Lowering it (fine-tuning, 5) is within the maximum: allowed, nothing to add.
  InputBuilder lower;
  AliceUpdatesJob(lower).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "fine-tuning-priority");
  EXPECT_EQ(f.Run(lower).decision, Decision::kAllowed);
  EXPECT_EQ(f.outcome.rule, Rule::kPassed);
  EXPECT_TRUE(f.outcome.mutation.empty());
}

TEST(RulesTest, UpdateThatKeepsBothLabelsIsUntouchedWhoeverSendsIt) {
  Fixture f;
  f.config.webhook.team_max_priority_class = {{"team-a", "training-priority"}};
  struct Case {
    const char* name;
    std::string user;
    std::vector<std::string> groups;
    // The labels, the same before and after: even values the rules would refuse on CREATE
    // (a workload admitted before hyperplace) are left alone when an UPDATE does not touch them.
    std::string queue, priority;
  };
  const Case kCases[] = {
      {"alice", "alice", {std::string(kTeamAGroup)}, std::string(kQueueA), "training-priority"},
      {"Kueue unsuspending",
       "system:serviceaccount:kueue-system:kueue-controller-manager",
       {"system:serviceaccounts"},
       std::string(kQueueA),
       "training-priority"},
      {"bob annotating",
       "bob",
       {std::string(kTeamBGroup)},
       std::string(kQueueA),
       "training-priority"},
      {"older foreign labels",
       "alice",
       {std::string(kTeamAGroup)},
       std::string(kQueueB),
       "inference-priority"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    InputBuilder in;
    in.Update(Kind::kJob).In(kTeamA).By(c.user).Groups(c.groups);
    in.OldLabel(kQueueLabel, c.queue).OldLabel(kPriorityLabel, c.priority);
    in.Label("app", "changed").Label(kPriorityLabel, c.priority).Label(kQueueLabel, c.queue);
    in.NodeSelector(kTypeLabel, "p5.48xlarge", /*template_spec=*/true);
    const Outcome& o = f.Run(in);
    EXPECT_EQ(o.decision, Decision::kAllowed);
    EXPECT_EQ(o.rule, Rule::kNotApplicable);
    EXPECT_TRUE(o.mutation.empty());
    EXPECT_TRUE(o.warnings.empty());
  }
}

TEST(RulesTest, UpdateChangingALabelIsHeldToTeamScope) {
  Fixture f;
  InputBuilder in;
  in.Update(Kind::kJob).In(kTeamA).By("bob", {kTeamBGroup});
  in.OldLabel(kQueueLabel, kQueueA).OldLabel(kPriorityLabel, "fine-tuning-priority");
  in.Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kDenied);
  EXPECT_EQ(o.rule, Rule::kTeamScope);
  EXPECT_EQ(o.message,
            R"(user "bob" of team "team-b" may not change the queue or priority of Job objects )"
            R"(in namespace "hyperpod-ns-team-a": team "team-a" requires membership in group )"
            R"("hyperpod-ns-team-a-namespace-level-group")");
}

TEST(RulesTest, TrustedControllersAndAdminsChangingALabelFollowTheQueueAndPriorityRules) {
  for (const char* user : {"system:serviceaccount:kueue-system:kueue-controller-manager",
                           "system:kube-controller-manager"}) {
    SCOPED_TRACE(user);
    Fixture f;
    InputBuilder own;
    own.Update(Kind::kJob).In(kTeamA).By(user).OldLabel(kPriorityLabel, "fine-tuning-priority");
    own.Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "training-priority");
    EXPECT_EQ(f.Run(own).decision, Decision::kAllowed);
    EXPECT_EQ(f.outcome.rule, Rule::kPassed);

    InputBuilder foreign;
    foreign.Update(Kind::kJob).In(kTeamA).By(user).OldLabel(kQueueLabel, kQueueA);
    foreign.Label(kQueueLabel, kQueueB).Label(kPriorityLabel, "training-priority");
    EXPECT_EQ(f.Run(foreign).decision, Decision::kDenied);
    EXPECT_EQ(f.outcome.rule, Rule::kQueue);
  }
  Fixture f;
  InputBuilder admin;
  admin.Update(Kind::kJob).In(kTeamA).By("kubernetes-admin", {"system:masters"});
  admin.OldLabel(kQueueLabel, kQueueA).Label(kQueueLabel, kQueueB);
  EXPECT_EQ(f.Run(admin).decision, Decision::kDenied);
  EXPECT_EQ(f.outcome.rule, Rule::kQueue);
}

TEST(RulesTest, UpdateRemovingALabelGetsItBack) {
  Fixture f;
  // Without its queue label Kueue would stop holding the Job to the team's quota.
  InputBuilder in;
  AliceUpdatesJob(in).Label(kPriorityLabel, "training-priority");
  const Outcome& o = f.Run(in);
  EXPECT_EQ(o.decision, Decision::kPatched);
  EXPECT_EQ(AddedLabels(o),
            (std::vector<std::string>{"kueue.x-k8s.io/queue-name=hyperpod-ns-team-a-localqueue"}));

  InputBuilder no_labels;
  AliceUpdatesJob(no_labels).Metadata(Presence::kPresent, Presence::kAbsent);
  EXPECT_EQ(AddedLabels(f.Run(no_labels)),
            (std::vector<std::string>{"kueue.x-k8s.io/queue-name=hyperpod-ns-team-a-localqueue",
                                      "kueue.x-k8s.io/priority-class=fine-tuning-priority"}));

  // The object as the patch leaves it passes without a patch.
  InputBuilder again;
  AliceUpdatesJob(again).Label(kQueueLabel, kQueueA).Label(kPriorityLabel, "fine-tuning-priority");
  EXPECT_EQ(f.Run(again).decision, Decision::kAllowed);
  EXPECT_TRUE(f.outcome.mutation.empty());
}

TEST(RulesTest, UpdateAddingLabelsToAnUnlabelledWorkloadIsChecked) {
  Fixture f;
  InputBuilder in;
  in.Update(Kind::kDeployment).In(kTeamA).By("alice", {kTeamAGroup});
  in.Label(kQueueLabel, kQueueB);
  EXPECT_EQ(f.Run(in).decision, Decision::kDenied);
  EXPECT_EQ(f.outcome.rule, Rule::kQueue);
}

TEST(RulesTest, StatusUpdatesAreUntouched) {
  Fixture f;
  InputBuilder in;
  // Only a status writer (a controller) can reach /status, and the API server keeps metadata
  // from it; whatever it carries, it is no relabelling.
  AliceUpdatesJob(in).SubResource("status").Label(kQueueLabel, kQueueB);
  EXPECT_EQ(f.Run(in).decision, Decision::kAllowed);
  EXPECT_EQ(f.outcome.rule, Rule::kNotApplicable);
}

TEST(RulesTest, UpdateOfEveryKindKueueReadsIsChecked) {
  for (int k = static_cast<int>(Kind::kPod); k < kKindCount; ++k) {
    const Kind kind = static_cast<Kind>(k);
    ASSERT_TRUE(IsKueueKind(kind));
    SCOPED_TRACE(KindName(kind));
    Fixture f;
    InputBuilder in;
    in.Update(kind).In(kTeamA).By("alice", {kTeamAGroup}).OldLabel(kQueueLabel, kQueueA);
    in.Label(kQueueLabel, kQueueB);
    EXPECT_EQ(f.Run(in).decision, Decision::kDenied);
    EXPECT_EQ(f.outcome.rule, Rule::kQueue);
  }
  EXPECT_FALSE(IsKueueKind(Kind::kOther));
  EXPECT_FALSE(IsKueueKind(Kind::kEvent));
}

// --- TeamTemplate -----------------------------------------------------------------------------

TEST(TeamTemplateTest, ExpandsMatchesAndExtracts) {
  TeamTemplate t("hyperpod-ns-{team}-localqueue");
  EXPECT_EQ(t.Expand("a"), "hyperpod-ns-a-localqueue");
  EXPECT_TRUE(t.Matches("hyperpod-ns-a-localqueue", "a"));
  EXPECT_FALSE(t.Matches("hyperpod-ns-a-localqueue", "b"));
  EXPECT_FALSE(t.Matches("hyperpod-ns-a-localqueue-x", "a"));
  EXPECT_FALSE(t.Matches("hyperpod-ns-a-localqueu", "a"));
  EXPECT_EQ(t.ExtractTeam("hyperpod-ns-team-b-localqueue"), "team-b");
  EXPECT_EQ(t.ExtractTeam("hyperpod-ns--localqueue"), std::nullopt);
  EXPECT_EQ(t.ExtractTeam("other"), std::nullopt);

  TeamTemplate twice("{team}/{team}");
  EXPECT_EQ(twice.Expand("x"), "x/x");
  EXPECT_TRUE(twice.Matches("x/x", "x"));
  EXPECT_FALSE(twice.Matches("x/y", "x"));
  EXPECT_EQ(twice.ExtractTeam("x/x"), std::nullopt);  // ambiguous in general: not attempted

  TeamTemplate bare("{team}");
  EXPECT_EQ(bare.Expand("q"), "q");
  EXPECT_EQ(bare.ExtractTeam("q"), "q");
}

}  // namespace
}  // namespace hyperplace::webhook
