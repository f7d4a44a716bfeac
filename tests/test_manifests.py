"""The Kubernetes layer's manifests (SPEC section 5), rendered for the default
deployment: every setting, the networks matching the node pools, and the objects
valid against Kubernetes' OpenAPI schemas and KubeRay's published CRD."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from oasis_cli.config.loading import load
from oasis_cli.config.model import Config
from oasis_cli.config.names import resolve
from oasis_cli.kube.manifests import TemplateError, fill
from oasis_cli.localcloud.kubernetes.schemas import crd_to_json_schema
from oasis_cli.resources import kubeobjects
from oasis_cli.sources import shipped

from conftest import NODES

IMAGE = "us-south1-docker.pkg.dev/oasis-local/oasis/ray-server@sha256:" + "a" * 64
CRD = Path(__file__).resolve().parents[2] / "shared/data/kuberay-v1.7.0/ray.io_rayclusters.yaml"


def objects(*overrides: str) -> dict[tuple[str, str], dict[str, Any]]:
    config = load(None, environ={}, overrides=list(overrides)) if overrides else Config()
    rendered = kubeobjects.rendered(resolve(config, "oasis-local"), IMAGE)
    return {(o["kind"], o["metadata"]["name"]): o for o in rendered}


def test_objects_come_in_spec_order():
    kinds = [kind for kind, _ in objects()]
    assert kinds[:2] == ["ServiceAccount", "ComputeClass"]
    assert kinds[2:20] == ["GKENetworkParamSet", "Network"] * 9
    assert kinds[20:] == ["DaemonSet", "RayCluster", "Service", "Ingress"]


def test_everything_carries_the_deployment_label():
    for (kind, name), obj in objects().items():
        assert obj["metadata"]["labels"] == {"oasis-deployment": "oasis"}, (kind, name)


def test_service_account_is_the_ray_ksa():
    ksa = objects()[("ServiceAccount", "oasis-ray")]
    assert ksa["metadata"]["namespace"] == "default"


def test_compute_class_has_one_rule_per_capacity_entry_in_order_naming_only_its_pool():
    """GKE allows no other field in a rule that names `nodepools` ("About custom
    ComputeClasses"): the pool's own settings make it spot, flex-start or reserved."""
    rendered = objects("gpu.capacity=reservation:res-a,spot,flex-start")
    spec = rendered[("ComputeClass", "h200-ccc")]["spec"]
    assert rendered[("ComputeClass", "h200-ccc")]["apiVersion"] == "cloud.google.com/v1"
    assert spec["priorities"] == [
        {"nodepools": ["oasis-h200-res"]},
        {"nodepools": ["oasis-h200-spot"]},
        {"nodepools": ["oasis-h200-flex"]},
    ]
    assert spec["activeMigration"] == {"optimizeRulePriority": False}


def test_network_pairs_name_their_vpc_subnet_and_device_mode():
    rendered = objects()
    gvnic = rendered[("GKENetworkParamSet", "gvnic-1")]["spec"]
    assert gvnic == {
        "vpc": "oasis-primary-net",
        "vpcSubnet": "oasis-primary-sub",
        "deviceMode": "NetDevice",
    }
    for i in range(8):
        params = rendered[("GKENetworkParamSet", f"rdma-{i}")]
        assert params["apiVersion"] == "networking.gke.io/v1"
        assert params["spec"] == {
            "vpc": "oasis-rdma-net",
            "vpcSubnet": f"oasis-rdma-sub-{i}",
            "deviceMode": "RDMA",
        }
        network = rendered[("Network", f"rdma-{i}")]["spec"]
        assert network == {
            "type": "Device",
            "parametersRef": {
                "group": "networking.gke.io",
                "kind": "GKENetworkParamSet",
                "name": f"rdma-{i}",
            },
        }


def test_worker_interfaces_match_the_networks_and_the_node_pools():
    rendered = objects()
    worker = rendered[("RayCluster", "ray-cluster-ccc")]["spec"]["workerGroupSpecs"][0]
    annotations = worker["template"]["metadata"]["annotations"]
    listed = json.loads(annotations["networking.gke.io/interfaces"])
    assert annotations["networking.gke.io/default-interface"] == "eth0"
    assert listed[0] == {"interfaceName": "eth0", "network": "default"}
    assert [i["interfaceName"] for i in listed] == [f"eth{i}" for i in range(10)]
    pod_networks = [i["network"] for i in listed[1:]]
    assert pod_networks == ["gvnic-1", *(f"rdma-{i}" for i in range(8))]
    assert all(("Network", n) in rendered for n in pod_networks)
    # the same VPC/subnet pairs, in the same NIC order, as every GPU node pool's networks
    subnets = [
        (
            rendered[("GKENetworkParamSet", n)]["spec"]["vpc"],
            rendered[("GKENetworkParamSet", n)]["spec"]["vpcSubnet"],
        )
        for n in pod_networks
    ]
    for pool in (n for n in NODES if n.kind == "container.nodePool"):
        additional = pool.spec["network_config"]["additional_node_network_configs"]
        assert [(a["network"], a["subnetwork"]) for a in additional] == subnets


def test_nccl_installer_pins_gib_and_fills_the_host_paths():
    daemonset = objects("gpu.gib_version=v1.0.9")[("DaemonSet", "nccl-rdma-installer")]
    assert daemonset["metadata"]["namespace"] == "kube-system"
    pod = daemonset["spec"]["template"]["spec"]
    (installer,) = pod["initContainers"]
    assert (
        installer["image"] == "us-docker.pkg.dev/gce-ai-infra/gpudirect-gib/nccl-plugin-gib:v1.0.9"
    )
    paths = {v["hostPath"]["path"] for v in pod["volumes"]}
    assert paths == {"/home/kubernetes/bin/nvidia/lib64", "/home/kubernetes/bin/gib"}
    term = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["nvidia-h200-141gb"]


def test_raycluster_head_has_every_spec_setting():
    cluster = objects()[("RayCluster", "ray-cluster-ccc")]
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == "2.48.0"
    assert cluster["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] == 120
    head = cluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"
    pod = head["template"]["spec"]
    assert pod["serviceAccountName"] == "oasis-ray"
    (container,) = pod["containers"]
    assert container["image"] == IMAGE  # digest-pinned
    assert {p["containerPort"] for p in container["ports"]} == {6379, 8265, 10001}
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "16G"}
    assert {"name": "data", "mountPath": "/bucket"} in container["volumeMounts"]
    assert pod["volumes"][-1]["csi"] == {
        "driver": "gcsfuse.csi.storage.gke.io",
        "volumeAttributes": {
            "bucketName": "oasis-local-oasis-data",
            "mountOptions": "implicit-dirs,uid=1000,gid=100,file-mode=664,dir-mode=775",
        },
    }
    assert head["template"]["metadata"]["annotations"]["gke-gcsfuse/volumes"] == "true"


def test_raycluster_gpu_workers_have_every_spec_setting():
    worker = objects()[("RayCluster", "ray-cluster-ccc")]["spec"]["workerGroupSpecs"][0]
    assert (worker["groupName"], worker["minReplicas"], worker["maxReplicas"]) == (
        "gpu-group",
        0,
        2,
    )
    pod = worker["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/compute-class": "h200-ccc"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    (container,) = pod["containers"]
    assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "8"
    assert container["args"][0].startswith("source /usr/local/gib/scripts/set_nccl_env.sh && ")
    assert container["args"][0].endswith("$KUBERAY_GEN_RAY_START_CMD")
    assert {"name": "LD_LIBRARY_PATH", "value": "/usr/local/nvidia/lib64"} in container["env"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["nvidia"]["hostPath"]["path"] == "/home/kubernetes/bin/nvidia"
    assert volumes["gib"]["hostPath"]["path"] == "/home/kubernetes/bin/gib"
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {
        "nvidia": "/usr/local/nvidia",
        "gib": "/usr/local/gib",
        "shm": "/dev/shm",
        "data": "/bucket",
    }


def test_dashboard_service_and_internal_ingress():
    rendered = objects()
    service = rendered[("Service", "ray-dashboard-service")]["spec"]
    assert service["selector"] == {"ray.io/cluster": "ray-cluster-ccc", "ray.io/node-type": "head"}
    assert {(p["name"], p["port"]) for p in service["ports"]} == {
        ("dashboard", 8265),
        ("client", 10001),
    }
    ingress = rendered[("Ingress", "ray-dashboard-ingress")]
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce-internal"
    backend = ingress["spec"]["defaultBackend"]["service"]
    assert backend == {"name": "ray-dashboard-service", "port": {"number": 8265}}


def test_built_in_kinds_are_valid_against_the_kubernetes_openapi_schemas():
    import kubernetes_validate

    checked = 0
    for obj in objects().values():
        if obj["apiVersion"] in ("v1", "apps/v1", "networking.k8s.io/v1"):
            kubernetes_validate.validate(obj, "1.32", strict=True)
            checked += 1
    assert checked == 4


def crd_schema() -> dict[str, Any]:
    """KubeRay's RayCluster v1 schema as JSON Schema, closed to unknown fields (as a
    server with strict field validation is)."""
    if not CRD.is_file():
        pytest.skip(f"KubeRay CRD not found at {CRD}")
    crd = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return crd_to_json_schema(version["schema"]["openAPIV3Schema"])


def test_raycluster_is_valid_against_kuberays_crd():
    import jsonschema

    schema = crd_schema()
    cluster = objects()[("RayCluster", "ray-cluster-ccc")]
    jsonschema.validate(cluster, schema)
    broken = json.loads(json.dumps(cluster))
    broken["spec"]["headGroupSpec"]["rayStartParam"] = {}  # a typo the schema must catch
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_a_placeholder_without_a_value_is_an_error():
    with pytest.raises(TemplateError, match="no value for"):
        fill({"metadata": {"name": "${missing}"}}, {}, "x.yaml")
    assert fill({"a": "${n}", "b": "v-${n}"}, {"n": 3}, "x.yaml") == {"a": 3, "b": "v-3"}


def test_every_manifest_is_plain_yaml_kubectl_can_read_after_rendering():
    for path in sorted(shipped("manifests").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(document), path.name


def test_the_wheel_ships_the_manifests_and_the_image_contexts(tmp_path):
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(root)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("oasis_cli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in sorted(shipped("manifests").glob("*.yaml")):
        assert f"oasis_cli/manifests/{path.name}" in names
    for name in ("base/Dockerfile", "base/cloudbuild.yaml", "custom/requirements.txt"):
        assert f"oasis_cli/images/{name}" in names
    # what `oasis verify` runs on the platform: the NCCL example and the data-path probe
    assert {
        "oasis_cli/examples/nccl/nccl_test.py",
        "oasis_cli/examples/nccl/runtime_env.yaml",
    } <= names
    assert "oasis_cli/verify/probe/datapath_probe.py" in names


def test_each_network_is_applied_after_the_param_set_it_names():
    config = Config()
    nodes = {n.key: n for n in kubeobjects.kube_nodes(resolve(config, "oasis-local"), IMAGE)}
    networks = [n for n in nodes.values() if n.key.startswith("k8s:Network/")]
    assert len(networks) == 9
    for node in networks:
        params = node.spec["manifest"]["spec"]["parametersRef"]["name"]
        assert f"k8s:GKENetworkParamSet/{params}" in node.deps


RAY_UID, RAY_GID = 1000, 100  # rayproject/ray's `ray` user, as images/base runs it


def test_every_gcs_fuse_mount_is_writable_by_the_pods_user():
    """gcsfuse mounts root-owned 0644/0755 unless told otherwise (gcsfuse#3151): a pod
    that runs as `ray` needs the mount's uid/gid to be its own (or an fsGroup) and
    owner-writable modes, or it cannot write /bucket."""
    cluster = objects()[("RayCluster", "ray-cluster-ccc")]["spec"]
    templates = [cluster["headGroupSpec"]["template"]] + [
        group["template"] for group in cluster["workerGroupSpecs"]
    ]
    for template in templates:
        pod = template["spec"]
        fuse = [
            v
            for v in pod.get("volumes", [])
            if v.get("csi", {}).get("driver") == "gcsfuse.csi.storage.gke.io"
        ]
        assert fuse
        for volume in fuse:
            options = dict(
                o.split("=", 1) if "=" in o else (o, "")
                for o in volume["csi"]["volumeAttributes"]["mountOptions"].split(",")
            )
            user = pod.get("securityContext", {}).get("runAsUser", RAY_UID)
            fs_group = pod.get("securityContext", {}).get("fsGroup")
            assert int(options.get("uid", -1)) == user or fs_group is not None
            assert int(options.get("gid", -1)) == RAY_GID or fs_group is not None
            assert int(options.get("file-mode", "644"), 8) & 0o200
            assert int(options.get("dir-mode", "755"), 8) & 0o200


def test_the_head_is_pinned_to_the_default_pool_with_tmp_ray_on_an_empty_dir():
    spec = objects()[("RayCluster", "ray-cluster-ccc")]["spec"]
    head = spec["headGroupSpec"]["template"]["spec"]
    assert head["nodeSelector"] == {"cloud.google.com/gke-nodepool": "default-pool"}
    mounts = {m["name"]: m["mountPath"] for m in head["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in head["volumes"]}
    assert mounts["ray-logs"] == "/tmp/ray" and volumes["ray-logs"]["emptyDir"] == {}


def test_autoscaler_v2_is_enabled_and_workers_are_replaced_not_restarted():
    spec = objects()[("RayCluster", "ray-cluster-ccc")]["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["version"] == "v2"
    worker = spec["workerGroupSpecs"][0]
    assert worker["template"]["spec"]["restartPolicy"] == "Never"
    assert (worker["replicas"], worker["minReplicas"], worker["maxReplicas"]) == (0, 0, 2)


UPSTREAM_INSTALLER = {  # container-engine-accelerators gpudirect-rdma/nccl-rdma-installer.yaml
    "gib": "us-docker.pkg.dev/gce-ai-infra/gpudirect-gib/nccl-plugin-gib:v1.1.1",
    "pause": "gke.gcr.io/pause:3.8@sha256:"
    "880e63f94b145e46f1b1082bb71b85e21f16b99b180b9996407d61240ceb9830",
    "install": "/scripts/container_entry.sh install\n",
}


def test_nccl_installer_follows_the_current_upstream_file():
    """Upstream moved to gIB v1.1.1 and dropped `--install-nccl` (May 2026); the pause
    container is pinned by digest as upstream pins it."""
    pod = objects()[("DaemonSet", "nccl-rdma-installer")]["spec"]["template"]["spec"]
    (installer,) = pod["initContainers"]
    (pause,) = pod["containers"]
    assert installer["image"] == UPSTREAM_INSTALLER["gib"]
    assert UPSTREAM_INSTALLER["install"] in installer["args"][0]
    assert "--install-nccl" not in installer["args"][0]
    assert pause["image"] == UPSTREAM_INSTALLER["pause"]


def exempt(image: str, pattern: str) -> bool:
    """Binary Authorization's admission allowlist match: an exact name, or a pattern
    ending in `*` (one path segment) or `**` (any number of segments)."""
    if pattern.endswith("/**"):
        return image.startswith(pattern[:-2])
    if pattern.endswith("/*"):
        head, _, last = image.rpartition("/")
        return head == pattern[:-2] and bool(last)
    return image == pattern


def test_binauth_enforce_exempts_every_image_of_the_nccl_installer():
    """The installer's images are Google's, not built (and attested) by Cloud Build:
    an enforced rule would block the DaemonSet unless each is exempt."""
    from oasis_cli.resources.binauth import EXEMPT

    pod = objects()[("DaemonSet", "nccl-rdma-installer")]["spec"]["template"]["spec"]
    images = [c["image"] for c in pod["initContainers"] + pod["containers"]]
    assert len(images) == 2
    for image in images:
        assert any(exempt(image, pattern) for pattern in EXEMPT), image
