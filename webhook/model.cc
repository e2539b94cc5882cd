#include "webhook/model.h"

namespace hyperplace::webhook {
namespace {

struct KnownKind {
  std::string_view group;
  std::string_view kind;
  Kind value;
};

constexpr KnownKind kKnownKinds[] = {
    {"", "Event", Kind::kEvent},
    {"events.k8s.io", "Event", Kind::kEvent},
    {"", "Pod", Kind::kPod},
    {"batch", "Job", Kind::kJob},
    {"kubeflow.org", "PyTorchJob", Kind::kPyTorchJob},
    {"kubeflow.org", "MPIJob", Kind::kMPIJob},
    {"kubeflow.org", "TFJob", Kind::kTFJob},
    {"kubeflow.org", "XGBoostJob", Kind::kXGBoostJob},
    {"kubeflow.org", "PaddleJob", Kind::kPaddleJob},
    {"kubeflow.org", "JAXJob", Kind::kJAXJob},
    {"trainer.kubeflow.org", "TrainJob", Kind::kTrainJob},
    {"jobset.x-k8s.io", "JobSet", Kind::kJobSet},
    {"ray.io", "RayJob", Kind::kRayJob},
    {"ray.io", "RayCluster", Kind::kRayCluster},
    {"leaderworkerset.x-k8s.io", "LeaderWorkerSet", Kind::kLeaderWorkerSet},
    {"apps", "Deployment", Kind::kDeployment},
    {"apps", "StatefulSet", Kind::kStatefulSet},
};

}  // namespace

Kind ClassifyKind(std::string_view group, std::string_view kind) {
  for (const KnownKind& k : kKnownKinds) {
    if (k.kind == kind && k.group == group) return k.value;
  }
  return Kind::kOther;
}

Operation ClassifyOperation(std::string_view operation) {
  if (operation == "CREATE") return Operation::kCreate;
  if (operation == "UPDATE") return Operation::kUpdate;
  if (operation == "DELETE") return Operation::kDelete;
  if (operation == "CONNECT") return Operation::kConnect;
  return Operation::kOther;
}

std::string_view KindName(Kind kind) {
  for (const KnownKind& k : kKnownKinds) {
    if (k.value == kind) return k.kind;
  }
  return "other";
}

std::string_view OperationName(Operation operation) {
  switch (operation) {
    case Operation::kCreate:
      return "CREATE";
    case Operation::kUpdate:
      return "UPDATE";
    case Operation::kDelete:
      return "DELETE";
    case Operation::kConnect:
      return "CONNECT";
    case Operation::kOther:
      break;
  }
  return "other";
}

}  // namespace hyperplace::webhook
