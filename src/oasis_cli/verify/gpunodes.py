"""The per-GPU-node check of `oasis verify`: every node of the deployment's GPU pools
(those labelled with its compute class) is Ready, offers `gpu.count` allocatable
`nvidia.com/gpu`, has every additional network attached, and runs a Ready pod of the
NCCL installer (its init container installed gIB on that node's host paths).

Interfaces are read as GKE's multi-networking writes them on the node
(GoogleCloudPlatform/gke-networking-api, apis/network/v1): `networking.gke.io/
north-interfaces` names the Network of each additional interface, and
`networking.gke.io/nic-info` lists every host NIC (eth0 first). A3 Ultra nodes carry
nic0 plus 9 more: the gVNIC network and 8 RDMA subnets (SPEC section 3).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from oasis_cli.resources.nodepools import CLASS_LABEL
from oasis_cli.verify.outcome import Failed, Warned

if TYPE_CHECKING:
    from oasis_cli.kube.client import Kube
    from oasis_cli.session import Context

INSTALLER = "k8s-app=nccl-rdma-installer"


def _annotation(node: dict[str, Any], key: str) -> list[dict[str, Any]]:
    raw = ((node.get("metadata") or {}).get("annotations") or {}).get(key) or "[]"
    try:
        found = json.loads(raw)
    except ValueError:
        return []
    return found if isinstance(found, list) else []


WAITING = ("not Ready", "no Ready NCCL installer pod (gIB not installed)")


def problems(
    node: dict[str, Any], want_gpus: int, networks: list[str], installer_ready: bool
) -> list[str]:
    """What is wrong with one GPU node (nothing when it is usable); the WAITING ones
    pass on their own on a node that has just come up."""
    from oasis_cli.kube.client import pod_ready

    found = []
    if not pod_ready(node):  # a node's Ready condition reads as a pod's does
        found.append(WAITING[0])
    gpus = int(((node.get("status") or {}).get("allocatable") or {}).get("nvidia.com/gpu") or 0)
    if gpus != want_gpus:
        found.append(f"{gpus} allocatable nvidia.com/gpu, not {want_gpus}")
    attached = {i.get("network") for i in _annotation(node, "networking.gke.io/north-interfaces")}
    missing = [n for n in networks if n not in attached]
    if missing:
        found.append(f"networks not attached: {', '.join(missing)}")
    nics = len(_annotation(node, "networking.gke.io/nic-info"))
    if nics < len(networks) + 1:
        found.append(f"{nics} NICs, not {len(networks) + 1}")
    if not installer_ready:
        found.append(WAITING[1])
    return found


def check(ctx: Context, kube: Kube, wait_s: float = 0.0) -> str:
    """The check; a node that is still starting (not Ready, its installer still
    installing) is waited for up to `wait_s` (verify --gpus has just made them)."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        bad, transient, summary = _survey(ctx, kube)
        if not bad:
            return summary
        if not transient or time.monotonic() > deadline:
            raise Failed(
                "; ".join(bad),
                "`kubectl describe node` shows why; `oasis up` replaces a pool in error",
            )
        time.sleep(min(2.0, ctx.cloud.poll.initial_s))


def _survey(ctx: Context, kube: Kube) -> tuple[list[str], bool, str]:
    """(each bad node's problems, whether all of them may pass by waiting, the summary)."""
    from oasis_cli.kube.client import pod_ready
    from oasis_cli.resources.kubeobjects import rendered

    d = ctx.deployment
    nodes = kube.list("v1", "Node", "", f"{CLASS_LABEL}={d.names.compute_class}")
    if not nodes:
        raise Warned(
            "no GPU nodes now (the pools scale from zero)",
            "`oasis verify --gpus 2` brings two up and checks them",
        )
    networks = [o["metadata"]["name"] for o in rendered(d, "image") if o["kind"] == "Network"]
    installed = {
        (p.get("spec") or {}).get("nodeName")
        for p in kube.list("v1", "Pod", "kube-system", INSTALLER)
        if pod_ready(p)
    }
    bad, transient = [], True
    for node in nodes:
        name = node["metadata"]["name"]
        found = problems(node, d.config.gpu.count, networks, name in installed)
        if found:
            bad.append(f"{name}: {'; '.join(found)}")
            transient = transient and all(f in WAITING for f in found)
    summary = (
        f"{len(nodes)} GPU node(s) Ready, {d.config.gpu.count} GPUs each, "
        f"{len(networks)} networks attached, gIB installed"
    )
    return bad, transient, summary
