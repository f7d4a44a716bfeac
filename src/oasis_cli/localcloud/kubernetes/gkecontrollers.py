"""GKE's own controllers in a simulated cluster: the ComputeClass controller and the
network parameter controller. Both accept any object the schema allows and report
what is wrong with it in `status.conditions`, as GKE does; nothing here refuses an
object at admission.

ComputeClass (condition `Health`):
- GKE reports a class's configuration errors in its status, not at admission: "Look
  at `status.conditions[].reason` and `.message` — these surface invalid spec ... and
  unsupported field combinations directly" (Google's gke-compute-classes skill,
  debugging guide); a healthy class reads `Health True`, reason `Health`, message
  "Crd is healthy." 20 seconds after it is created (CLASS_S: creation 21:32:50,
  transition 21:33:10 in a `kubectl describe computeclass` capture from a public GKE
  lab, December 2025). Network objects' first verdict (NETWORK_S, 5 s) is ours: no
  source gives the controller's delay.
- A priority rule that names `nodepools` may hold no other field ("About custom
  ComputeClasses": the node pools' own settings give spot, flex-start or a
  reservation). Sources name no reason code for this case; the simulation says
  `InvalidPriorities` with a message naming the rule and its extra fields.
- A pool a rule names must carry the node label `cloud.google.com/compute-class:
  <class>`, or the class is unhealthy with "Crd label doesn't match Crd name for
  the nodepool <pool>" (reason `NodepoolMisconfigured`, reported by users on GKE).

GKENetworkParamSet (condition `Ready`) and Network (`ParamsReady`, `Ready`), as
kubernetes/cloud-provider-gcp's gkenetworkparamset controller has them
(gnpcontroller_validations.go; reasons from GoogleCloudPlatform/gke-networking-api):
- a param set needs a VPC and a subnet (`GNPConfigInvalid`), the subnet must exist
  in the cluster's region (`SubnetNotFound`, "subnet: S not found in VPC: V"), the VPC
  must exist (`VPCNotFound`, "VPC: V not found"), a deviceMode set may not name the
  cluster's own VPC (`DeviceModeCantUseDefaultVPC`) nor a subnet an older deviceMode
  set already uses (`DeviceModeSubnetAlreadyInUse`); valid is `Ready True`,
  reason `GNPReady`;
- a Network of type Device needs a deviceMode in its params (`DeviceModeMissing`);
  its ParamsReady follows the param set (`GNPParamsReady` / `GNPParamsNotReady`),
  and Ready is True only when ParamsReady is ("Ready represents that the object is
  correct (validated) and all other conditions are set to true").

Each controller runs on every pass once the object's first reconcile is due, so a
subnet deleted later, or a pool losing its label, turns the condition False.
"""

from __future__ import annotations

import time
from typing import Any

from oasis_cli.localcloud.infra import world as world_tables
from oasis_cli.localcloud.infra.rest import timestamp
from oasis_cli.localcloud.kubernetes.objects import BY_KIND, KubeWorld

CLASS_S, NETWORK_S = 20.0, 5.0
CLASS_LABEL = "cloud.google.com/compute-class"
RECONCILED = ("ComputeClass", "GKENetworkParamSet", "Network")


def first_reconcile_s(kind: str) -> float:
    return CLASS_S if kind == "ComputeClass" else NETWORK_S


def reconcile(kube: KubeWorld, obj: dict[str, Any]) -> bool:
    """Set the object's conditions from the world; True when they changed."""
    kind = obj["kind"]
    wanted: list[dict[str, Any]] | None
    if kind == "ComputeClass":
        wanted = [_class_health(kube, obj)]
    elif kind == "GKENetworkParamSet":
        wanted = [_params_ready(kube, obj)]
    else:
        wanted = _network_conditions(kube, obj)
    if wanted is None:
        return False  # waits for what it depends on to be reconciled first
    status = obj.setdefault("status", {})
    before = {c["type"]: c for c in status.get("conditions", [])}
    conditions = []
    generation = obj["metadata"].get("generation", 1)
    for condition in wanted:
        old = before.get(condition["type"])
        same = old is not None and old["status"] == condition["status"]
        changed_at = old["lastTransitionTime"] if old and same else timestamp(time.time())
        conditions.append(
            {**condition, "observedGeneration": generation, "lastTransitionTime": changed_at}
        )
    new = {**status, "conditions": conditions}
    if kind == "GKENetworkParamSet":
        new["networkName"] = _network_of(kube, obj["metadata"]["name"])
    if new == status:
        return False
    obj["status"] = new
    return True


def _condition(kind: str, ok: bool, reason: str, message: str = "") -> dict[str, Any]:
    found = {"type": kind, "status": "True" if ok else "False", "reason": reason}
    return {**found, "message": message} if message else found


def _cluster(kube: KubeWorld) -> dict[str, Any]:
    found: dict[str, Any] = world_tables.CLUSTERS.rows(kube.world).get(kube.cluster, {})
    return found


def _class_health(kube: KubeWorld, obj: dict[str, Any]) -> dict[str, Any]:
    name = obj["metadata"]["name"]
    pools = {p["name"]: p for p in _cluster(kube).get("nodePools", [])}
    for i, rule in enumerate(obj.get("spec", {}).get("priorities", [])):
        extra = sorted(k for k in rule if k != "nodepools")
        if "nodepools" in rule and extra:
            return _condition(
                "Health",
                False,
                "InvalidPriorities",
                f"compute-class {name}: priorities[{i}] names nodepools and also "
                f"{', '.join(extra)}; a nodepools rule may hold no other field",
            )
        for pool in rule.get("nodepools", []):
            labels = pools.get(pool, {}).get("config", {}).get("labels", {})
            if pool in pools and labels.get(CLASS_LABEL) != name:
                return _condition(
                    "Health",
                    False,
                    "NodepoolMisconfigured",
                    f"Crd label doesn't match Crd name for the nodepool {pool}",
                )
    return _condition("Health", True, "Health", "Crd is healthy.")


def _params_ready(kube: KubeWorld, obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec", {})
    vpc, subnet, mode = spec.get("vpc", ""), spec.get("vpcSubnet", ""), spec.get("deviceMode", "")
    cluster = _cluster(kube)
    _, project, _, region, _, _ = kube.cluster.split("/")
    if not spec.get("networkAttachment") and not (vpc and subnet):
        return _condition(
            "Ready",
            False,
            "GNPConfigInvalid",
            "NetworkAttachment or (VPC + VPCSubnet) must be specified",
        )
    subnets = world_tables.SUBNETWORKS.rows(kube.world)
    if f"projects/{project}/regions/{region}/subnetworks/{subnet}" not in subnets:
        return _condition(
            "Ready", False, "SubnetNotFound", f"subnet: {subnet} not found in VPC: {vpc}"
        )
    if f"projects/{project}/global/networks/{vpc}" not in world_tables.NETWORKS.rows(kube.world):
        return _condition("Ready", False, "VPCNotFound", f"VPC: {vpc} not found")
    if mode and vpc == cluster.get("network"):
        return _condition(
            "Ready",
            False,
            "DeviceModeCantUseDefaultVPC",
            "GNP with deviceMode can't reference the default VPC",
        )
    mine = obj["metadata"]["creationTimestamp"]
    for other in kube.list(BY_KIND["GKENetworkParamSet"], ""):
        same_subnet = other.get("spec", {}).get("vpcSubnet") == subnet
        older = other["metadata"]["creationTimestamp"] < mine
        if mode and other is not obj and same_subnet and older:
            return _condition(
                "Ready",
                False,
                "DeviceModeSubnetAlreadyInUse",
                "GNP with deviceMode can't reference a subnet already in use. Subnet "
                f"'{vpc}' is already in use by '{other['metadata']['name']}'",
            )
    return _condition("Ready", True, "GNPReady")


def _network_of(kube: KubeWorld, params: str) -> str:
    for network in kube.list(BY_KIND["Network"], ""):
        if network.get("spec", {}).get("parametersRef", {}).get("name") == params:
            return str(network["metadata"]["name"])
    return ""


def _network_conditions(kube: KubeWorld, obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    """ParamsReady and Ready; None until the param set has been reconciled."""
    ref = obj.get("spec", {}).get("parametersRef") or {}
    params = kube.get(BY_KIND["GKENetworkParamSet"], "", ref.get("name", ""))
    if params is None:
        ready = _condition("ParamsReady", False, "GNPDeleted", "the referenced params do not exist")
    else:
        params_ready = next(
            (c for c in params.get("status", {}).get("conditions", []) if c["type"] == "Ready"),
            None,
        )
        if params_ready is None:
            return None
        mode = params.get("spec", {}).get("deviceMode")
        if obj.get("spec", {}).get("type") == "Device" and not mode:
            ready = _condition(
                "ParamsReady",
                False,
                "DeviceModeMissing",
                "Device type network requires device mode to be specified in params",
            )
        elif params_ready["status"] != "True":
            ready = _condition(
                "ParamsReady", False, "GNPParamsNotReady", params_ready.get("message", "")
            )
        else:
            ready = _condition("ParamsReady", True, "GNPParamsReady")
    ok = ready["status"] == "True"
    overall = _condition("Ready", ok, "ParamsReady" if ok else "ParamsNotReady")
    return [ready, overall]
