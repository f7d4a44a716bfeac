"""The Kubernetes layer (SPEC section 5) as graph nodes: one node per object, applied
with server-side apply in SPEC order and waited on until it is usable.

A node's name says everything a delete needs (`apiVersion Kind namespace/name`), so
`down` can remove an object the ledger alone remembers; its location is the
cluster. The objects hang off the `cluster` node, so `down` deletes them (Ingress
and Service first) before the cluster goes. Waits: a ComputeClass until GKE reports
it healthy (it names the node pools, so it waits for them too), each network object
until Ready (GKE checks the VPC and subnet it names), a DaemonSet until it has
rolled out, a RayCluster until it is `ready` with its head pod Ready. A False
condition fails at once with GKE's reason: waiting would not mend it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import CloudError
from oasis_cli.graph import Node
from oasis_cli.kube.client import cluster_client, cluster_path, pod_ready
from oasis_cli.kube.manifests import render
from oasis_cli.polling import wait_until
from oasis_cli.resources.base import Change, Converging, Kind, OnOperation, diff, labelled
from oasis_cli.resources.nodepools import pool_nodes

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

KIND = "kubernetes.object"


def object_name(obj: Mapping[str, Any]) -> str:
    metadata = obj["metadata"]
    where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{obj['apiVersion']} {obj['kind']} {where}{metadata['name']}"


def parse_name(name: str) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name) of a node name."""
    api_version, kind, path = name.split(" ")
    namespace, _, short = path.rpartition("/")
    return api_version, kind, namespace, short


# SPEC section 5's steps; each step starts when the one before it is usable
STEP = {
    "ServiceAccount": 1,
    "ComputeClass": 2,
    "GKENetworkParamSet": 3,
    "Network": 3,
    "DaemonSet": 4,
    "RayCluster": 5,
    "Service": 6,
    "Ingress": 7,
}


# the NCCL installer's images as Google's upstream installer pins them
# (container-engine-accelerators gpudirect-rdma/nccl-rdma-installer.yaml)
GIB_REPOSITORY = "us-docker.pkg.dev/gce-ai-infra/gpudirect-gib"
PAUSE_IMAGE = (
    "gke.gcr.io/pause:3.8@sha256:880e63f94b145e46f1b1082bb71b85e21f16b99b180b9996407d61240ceb9830"
)
IMAGE_INPUT = "oasis:image-of-image:server"  # stands for the ray-server digest until bound


def priorities(d: Deployment) -> list[dict[str, Any]]:
    """One compute class rule per capacity entry, in the configured order, each naming
    only its node pool: GKE allows no other field in a rule that names `nodepools`
    ("About custom ComputeClasses"); the pool's own settings make it spot, flex-start
    or a reservation."""
    return [{"nodepools": [d.pool_name(entry)]} for entry in d.config.gpu.capacity]


def networks(d: Deployment) -> list[dict[str, str]]:
    """The pod networks on the node pools' NICs, in their order: gvnic-1 (eth1), then
    rdma-0..7 (eth2..eth9)."""
    (gvnic_vpc, gvnic_subnet), *rdma = d.node_networks()
    found = [
        {"network": "gvnic-1", "vpc": gvnic_vpc, "subnet": gvnic_subnet, "device_mode": "NetDevice"}
    ]
    found += [
        {"network": f"rdma-{i}", "vpc": vpc, "subnet": subnet, "device_mode": "RDMA"}
        for i, (vpc, subnet) in enumerate(rdma)
    ]
    return found


def interfaces(d: Deployment) -> str:
    """The worker pods' multi-network annotation: eth0 on the default network, then
    one interface per pod network in NIC order."""
    listed = [{"interfaceName": "eth0", "network": "default"}]
    listed += [
        {"interfaceName": f"eth{i + 1}", "network": n["network"]} for i, n in enumerate(networks(d))
    ]
    return json.dumps(listed)


def manifest_values(d: Deployment, image: str) -> dict[str, Any]:
    """The manifests' placeholders for the deployment; `image` is `ray-server@sha256:…`."""
    config = d.config
    return {
        "labels": d.label,
        "namespace": config.ray.namespace,
        "ksa": d.names.ray_service_account,
        "cluster": config.ray.cluster_name,
        "ray_version": config.ray.version,
        "idle_timeout_s": config.ray.idle_timeout_s,
        "image": image,
        "bucket": d.names.bucket,
        "gpus": str(config.gpu.count),  # a quantity: Kubernetes answers strings
        "accelerator": config.gpu.accelerator,
        "gib_image": f"{GIB_REPOSITORY}/nccl-plugin-gib:{config.gpu.gib_version}",
        "pause_image": PAUSE_IMAGE,
        "priorities": priorities(d),
        "interfaces": interfaces(d),
        "compute_class": d.names.compute_class,
    }


def rendered(d: Deployment, image: str, directory: Path | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object of the deployment, in apply order."""
    return render(manifest_values(d, image), networks(d), directory)


def kube_nodes(d: Deployment, image: str | None) -> list[Node]:
    """One node per object of `render()`, in SPEC order. `image` is the digest-pinned
    ray-server; None takes it from what `image:server` records (for `up --all`)."""
    location = f"{d.region}/{d.names.cluster}"
    steps: dict[int, list[str]] = {}
    nodes = []
    for obj in rendered(d, image or IMAGE_INPUT):
        step = STEP[obj["kind"]]
        key = f"k8s:{obj['kind']}/{obj['metadata']['name']}"
        before = max((s for s in steps if s < step), default=0)
        deps: tuple[str, ...] = ("cluster", *steps.get(before, []))
        if obj["kind"] == "ComputeClass":  # GKE checks the pools it names
            deps = (*deps, *(pool.key for pool in pool_nodes(d)))
        if obj["kind"] == "Network":
            # after the param set it names: GKE's network controller reports a Network
            # whose params do not exist yet ParamsReady False (GNPDeleted), which
            # readiness takes as broken, not as still coming
            params = obj["spec"]["parametersRef"]["name"]
            deps = (*deps, f"k8s:GKENetworkParamSet/{params}")
        inputs = {}
        if image is None and IMAGE_INPUT in json.dumps(obj):
            deps, inputs = (*deps, "image:server"), {"image": ("image:server", "ref")}
        steps.setdefault(step, []).append(key)
        spec = {"manifest": obj}
        nodes.append(Node(key, KIND, object_name(obj), location, deps, spec, inputs=inputs))
    return nodes


def manifest(node: Node) -> dict[str, Any]:
    """The node's object, with the ray-server digest filled in when it is an input."""
    obj: dict[str, Any] = node.spec["manifest"]
    if "image" in node.spec:
        if not node.spec["image"]:
            raise CloudError(f"{node.key} ({node.name})", "ray-server has no recorded digest")
        obj = json.loads(json.dumps(obj).replace(IMAGE_INPUT, node.spec["image"]))
    return obj


AUTOSCALED = """The Ray autoscaler sets `workerGroupSpecs[].replicas` once the cluster
runs (KubeRay "Autoscaling": "the autoscaler adjusts the replicas field"), and the
CRD declares workerGroupSpecs without a list type, so the list is atomic: a forced
apply of oasis's copy would take the whole list back and reset every group to 0."""


def _groups(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("spec") or {}).get("workerGroupSpecs") or [])


def without_replicas(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with no worker replicas, for comparing: they are the autoscaler's
    (AUTOSCALED). Objects without worker groups pass unchanged."""
    if not _groups(obj):
        return obj
    groups = [{k: v for k, v in g.items() if k != "replicas"} for g in _groups(obj)]
    return {**obj, "spec": {**obj["spec"], "workerGroupSpecs": groups}}


def with_live_replicas(obj: dict[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` carrying each worker group's live replicas, for re-applying (AUTOSCALED)."""
    counts = {g.get("groupName"): g.get("replicas") for g in _groups(live)}
    groups = [{**g, "replicas": counts.get(g.get("groupName")) or 0} for g in _groups(obj)]
    return {**obj, "spec": {**obj["spec"], "workerGroupSpecs": groups}} if groups else obj


class KubeObject(Converging):
    kind = KIND

    @staticmethod
    def _kube(cloud: Cloud, node: Node) -> Any:
        region, cluster = node.location.split("/")
        return cluster_client(cloud, cluster_path(cloud.project, region, cluster))

    def observe(self, cloud: Cloud, node: Node) -> dict[str, Any] | None:
        kube = self._kube(cloud, node)
        if kube is None:
            return None  # no cluster, no objects
        api_version, kind, namespace, name = parse_name(node.name)
        found: dict[str, Any] | None = kube.get(api_version, kind, name, namespace)
        return found

    def owned(self, node: Node, observed: Mapping[str, Any]) -> bool:
        wanted = node.spec.get("manifest", {}).get("metadata", {}).get("labels")
        return labelled(observed.get("metadata", {}).get("labels"), wanted or node.spec["labels"])

    def compare(self, node: Node, observed: Mapping[str, Any]) -> list[Change]:
        if "manifest" not in node.spec:
            return []
        if "image" in node.spec and not node.spec["image"]:
            return [Change("image", None, "(after image:server)")]
        wanted = {k: v for k, v in manifest(node).items() if k not in ("apiVersion", "kind")}
        return diff(without_replicas(wanted), observed)

    def outputs(self, observed: Mapping[str, Any]) -> dict[str, Any]:
        return {"uid": observed.get("metadata", {}).get("uid", "")}

    def settle(self, cloud: Cloud, node: Node, observed: dict[str, Any]) -> dict[str, Any]:
        return self._wait(cloud, node, None)

    def create(
        self, cloud: Cloud, node: Node, request_id: str, on_operation: OnOperation
    ) -> dict[str, Any]:
        return self._apply(cloud, node, on_operation)

    def _apply(self, cloud: Cloud, node: Node, on_operation: OnOperation) -> dict[str, Any]:
        from oasis_cli.kube.errors import kube_errors

        kube = self._kube(cloud, node)
        if kube is None:
            raise CloudError(f"{node.key} ({node.name})", "the cluster does not exist")
        obj = manifest(node)
        with kube_errors(f"{node.key} ({node.name})"):
            if obj["kind"] == "RayCluster":
                api_version, kind, namespace, name = parse_name(node.name)
                live = kube.get(api_version, kind, name, namespace)
                obj = obj if live is None else with_live_replicas(obj, live)
            applied = kube.apply(obj)
        on_operation.progress("applied")
        return self.outputs(self._wait(cloud, node, on_operation) or applied)

    def _wait(self, cloud: Cloud, node: Node, on_operation: OnOperation | None) -> dict[str, Any]:
        """Poll until the object is usable (a DaemonSet rolled out, a RayCluster ready)."""
        from oasis_cli.kube.errors import kube_errors

        kube = self._kube(cloud, node)
        api_version, kind, namespace, name = parse_name(node.name)
        latest: dict[str, Any] = {}

        def ready() -> bool:
            nonlocal latest
            with kube_errors(f"{node.key} ({node.name})"):
                latest = kube.get(api_version, kind, name, namespace) or {}
                try:
                    state, detail = readiness(kind, latest, kube)
                except Unusable as exc:
                    raise CloudError(
                        f"{node.key} ({node.name})",
                        f"GKE reports it unusable: {exc}",
                        hint="Fix the cause, then run `oasis ray deploy` again.",
                    ) from None
            if on_operation is not None and not state:
                on_operation.progress(detail)
            return state

        wait_until(ready, name=node.name, policy=cloud.poll)
        return latest

    def delete(
        self,
        cloud: Cloud,
        node: Node,
        request_id: str,
        on_operation: OnOperation,
        recorded: Mapping[str, Any],
    ) -> None:
        from oasis_cli.kube.errors import kube_errors

        kube = self._kube(cloud, node)
        if kube is None:
            return
        api_version, kind, namespace, name = parse_name(node.name)
        with kube_errors(f"{node.key} ({node.name})"):
            kube.delete(api_version, kind, name, namespace)
            wait_until(
                lambda: kube.get(api_version, kind, name, namespace) is None,
                name=node.name,
                policy=cloud.poll,
            )


class Unusable(Exception):
    """GKE reports an object broken (a False condition): waiting will not mend it."""


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The object's condition of `kind`, None while absent or about an older spec."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    found = next((c for c in conditions if c.get("type") == kind), None)
    generation = (obj.get("metadata") or {}).get("generation") or 0
    if found is not None and (found.get("observedGeneration") or generation) < generation:
        return None
    return found


def by_condition(obj: Mapping[str, Any], kind: str, waiting: str) -> tuple[bool, str]:
    """Ready on `kind` True; Unusable on False; waiting while GKE has not said."""
    found = condition(obj, kind)
    if found is None:
        return False, waiting
    if found.get("status") == "True":
        return True, ""
    raise Unusable(f"{kind} False ({found.get('reason', '')}): {found.get('message', '')}")


def readiness(kind: str, obj: Mapping[str, Any], kube: Any) -> tuple[bool, str]:
    """Whether an object is usable, and what it is waiting for; Unusable when GKE
    reports it broken (a compute class that is not healthy, a network object whose
    VPC or subnet does not exist)."""
    status = obj.get("status") or {}
    metadata = obj.get("metadata") or {}
    if kind == "ComputeClass":
        return by_condition(obj, "Health", "waiting for GKE to report the class healthy")
    if kind == "GKENetworkParamSet":
        return by_condition(obj, "Ready", "waiting for GKE to check its VPC and subnet")
    if kind == "Network":
        params = condition(obj, "ParamsReady") or {}
        if params.get("reason") == "GNPParamsNotReady":  # its param set tells why
            ref = (obj.get("spec") or {}).get("parametersRef") or {}
            found = kube.get("networking.gke.io/v1", "GKENetworkParamSet", ref.get("name", ""), "")
            ready, _ = by_condition(found or {}, "Ready", "")
            if not ready:
                return False, "waiting for its parameter set"
        return by_condition(obj, "Ready", "waiting for GKE to accept its parameters")
    if kind == "DaemonSet":
        rolled = (status.get("observedGeneration") or 0) >= (metadata.get("generation") or 0)
        desired = status.get("desiredNumberScheduled") or 0
        done = (
            rolled
            and (status.get("updatedNumberScheduled") or 0) >= desired
            and (status.get("numberReady") or 0) >= desired
        )
        return done, f"rolling out ({status.get('numberReady') or 0}/{desired} ready)"
    if kind == "RayCluster":
        if status.get("state") != "ready":
            return False, f"waiting for the Ray head (state {status.get('state') or 'pending'!r})"
        selector = f"ray.io/cluster={metadata['name']},ray.io/node-type=head"
        pods = kube.list("v1", "Pod", metadata.get("namespace", ""), selector)
        return any(pod_ready(pod) for pod in pods), "waiting for the head pod to be Ready"
    return bool(obj), "waiting for it to appear"


KINDS: tuple[Kind, ...] = (KubeObject(),)
