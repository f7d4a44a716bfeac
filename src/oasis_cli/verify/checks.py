"""The read-only checks of `oasis verify`, each giving a detail or raising Failed /
Warned with the command to run next.

In order: every recorded resource exists and matches (no drift, which also
covers a removed IAM binding); each GPU node pool is RUNNING with no error
(cluster-toolkit#4058 and terraform-provider-google#10823 report pools left in ERROR
or RUNNING_WITH_ERROR after a "successful" deploy); the cluster's API answers the
caller; then, as GKE reports them, the ComputeClass is healthy, every network object
Ready, the NCCL installer rolled out, the RayCluster ready with its head pod Ready,
the dashboard Service selects a Ready pod (its endpoint), and the internal Ingress
has an address (a warning while the load balancer is provisioned).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oasis_cli.verify.outcome import Failed, Warned

if TYPE_CHECKING:
    from oasis_cli.session import Context


def _resources(ctx: Context) -> str:
    from oasis_cli import deploy

    rows = [r for r in deploy.status(ctx) if r["state"] == "done"]
    bad = [
        f"{r['key']} is {r['live']}" + (f" ({'; '.join(r['drift'])})" if r["drift"] else "")
        for r in rows
        if r["live"] != "ok"
    ]
    if bad:
        raise Failed("; ".join(bad), "`oasis plan` shows the changes; `oasis up` converges them")
    return f"all {len(rows)} recorded resources exist and match"


def _gpu_pools(ctx: Context) -> str:
    from google.api_core import exceptions

    from oasis_cli.kube.client import cluster_path

    d = ctx.deployment
    client = ctx.cloud.container()
    problems, seen = [], []
    for entry in d.config.gpu.capacity:
        pool = d.pool_name(entry)
        name = f"{cluster_path(d.project, d.region, d.names.cluster)}/nodePools/{pool}"
        try:
            found = client.get_node_pool(name=name)
        except exceptions.NotFound:
            problems.append(f"{pool} does not exist")
            continue
        status = found.status.name
        if status != "RUNNING" or found.conditions:
            why = "; ".join(c.message for c in found.conditions) or found.status_message
            problems.append(f"{pool} is {status}" + (f": {why}" if why else ""))
        seen.append(pool)
    if problems:
        raise Failed("; ".join(problems), "`oasis up` replaces a pool GKE left in ERROR")
    return f"{', '.join(seen)} RUNNING"


def cluster(ctx: Context) -> Any:
    from oasis_cli.kube.client import cluster_client, cluster_path

    d = ctx.deployment
    kube = cluster_client(ctx.cloud, cluster_path(d.project, d.region, d.names.cluster))
    if kube is None:
        raise Failed(f"cluster {d.names.cluster} does not exist", "run `oasis up`")
    return kube


def _cluster_api(ctx: Context) -> str:
    try:
        cluster(ctx).get("v1", "Namespace", "default")
    except Failed:
        raise
    except Exception as exc:
        where, inside = _caller_vs_authorized(ctx)
        raise Failed(
            f"the cluster's API did not answer: {str(exc).splitlines()[0]}; {where}",
            "check your credentials (`gcloud auth application-default login`)"
            if inside
            else "run `oasis up` from this network (it authorizes the address it detects), "
            "or add yours to cluster.authorized_networks",
        ) from None
    return "answers with your credentials"


def _caller_vs_authorized(ctx: Context) -> tuple[str, bool]:
    """Whether the caller's public address is inside the cluster's live authorized
    networks (GKE drops other callers' connections): (what to say, inside)."""
    import ipaddress

    from oasis_cli.gcp.publicip import caller
    from oasis_cli.kube.client import cluster_path

    d = ctx.deployment
    try:
        mine = caller(ctx.cloud.endpoints, d.config.cluster)
        live = ctx.cloud.container().get_cluster(
            name=cluster_path(d.project, d.region, d.names.cluster)
        )
    except Exception as exc:  # the API check's own failure says enough already
        return f"(could not compare your address with the authorized networks: {exc})", True
    config = live.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config
    if not config.enabled:
        config = live.master_authorized_networks_config
    if not config.enabled:
        return "the control plane takes any address", True
    blocks = [b.cidr_block for b in config.cidr_blocks]
    address = ipaddress.ip_address(mine.split("/")[0])
    inside = any(address in ipaddress.ip_network(b, strict=False) for b in blocks)
    side = "inside" if inside else "outside"
    return f"your address {mine} is {side} the authorized networks ({', '.join(blocks)})", inside


def _object_checks(ctx: Context) -> list[tuple[str, Callable[[Context], str]]]:
    """One check per group of the Kubernetes layer's objects, as GKE reports them."""
    from oasis_cli.resources.kubeobjects import (
        Unusable,
        object_name,
        parse_name,
        readiness,
        rendered,
    )

    objects = rendered(ctx.deployment, "image")
    groups = {
        "compute class": ("ComputeClass",),
        "networks": ("GKENetworkParamSet", "Network"),
        "nccl installer": ("DaemonSet",),
        "ray cluster": ("RayCluster",),
    }

    def check(kinds: tuple[str, ...]) -> Callable[[Context], str]:
        def run(ctx: Context) -> str:
            kube = cluster(ctx)
            names, problems = [], []
            for obj in (o for o in objects if o["kind"] in kinds):
                api_version, kind, namespace, name = parse_name(object_name(obj))
                found = kube.get(api_version, kind, name, namespace)
                label = f"{kind} {namespace + '/' if namespace else ''}{name}"
                if found is None:
                    problems.append(f"{label} does not exist")
                    continue
                try:
                    ready, waiting = readiness(kind, found, kube)
                except Unusable as exc:
                    problems.append(f"{label}: {exc}")
                    continue
                if not ready:
                    problems.append(f"{label}: {waiting}")
                names.append(label)
            if problems:
                raise Failed("; ".join(problems), "`oasis ray deploy` applies and waits for them")
            return f"{len(names)} ready" if len(names) > 1 else f"{names[0]} ready"

        return run

    return [(name, check(kinds)) for name, kinds in groups.items()]


def _deployed(ctx: Context, api_version: str, kind: str, name: str) -> tuple[Any, dict[str, Any]]:
    """(the cluster's client, the object in the Ray namespace); Failed if it is not there."""
    kube = cluster(ctx)
    found = kube.get(api_version, kind, name, ctx.deployment.config.ray.namespace)
    if found is None:
        raise Failed(f"{kind} {name} does not exist", "run `oasis ray deploy`")
    return kube, found


def _dashboard(ctx: Context) -> str:
    from oasis_cli.kube.client import pod_ready

    kube, service = _deployed(ctx, "v1", "Service", "ray-dashboard-service")
    namespace = ctx.deployment.config.ray.namespace
    selector = ",".join(f"{k}={v}" for k, v in (service["spec"].get("selector") or {}).items())
    ready = [p for p in kube.list("v1", "Pod", namespace, selector) if pod_ready(p)]
    if not ready:
        raise Failed(
            "the dashboard Service selects no Ready pod (no endpoint)",
            "`oasis ray status` shows the head",
        )
    return f"endpoint {ready[0]['metadata']['name']}"


def _ingress(ctx: Context) -> str:
    _, ingress = _deployed(ctx, "networking.k8s.io/v1", "Ingress", "ray-dashboard-ingress")
    addresses = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not addresses:
        raise Warned(
            "no address yet: the internal load balancer is being provisioned",
            "run `oasis verify` again in a few minutes",
        )
    return f"internal address {addresses[0].get('ip') or addresses[0].get('hostname')}"


Step = tuple[str, Callable[["Context"], str]]


def steps(ctx: Context) -> list[Step]:
    """The read-only checks, in order."""
    return [
        ("resources", _resources),
        ("gpu pools", _gpu_pools),
        ("cluster api", _cluster_api),
        *_object_checks(ctx),
        ("dashboard", _dashboard),
        ("ingress", _ingress),
    ]
