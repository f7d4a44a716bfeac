"""`oasis doctor`: is this project ready for the platform? Read-only checks, each
answered ok, warn or fail with what to do: credentials, the project, permissions,
APIs, the GPU machine in the zone, GPU and CPU quota in the region, and the GKE
version the cluster would get.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.errors import ApiDisabled, CloudError, OasisError
from oasis_cli.gcp.errors import api_errors
from oasis_cli.gcp.quotas import GPU_FAMILIES, PREEMPTIBLE_GPUS, gpu_family_limit

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud

# What `up`, `build-images`, `ray deploy` and `binauth` call, one permission each.
PERMISSIONS = (
    "serviceusage.services.enable",
    "compute.networks.create",
    "compute.subnetworks.create",
    "compute.firewalls.create",
    "compute.routers.create",
    "compute.globalAddresses.create",
    "servicenetworking.services.addPeering",
    "container.clusters.create",
    "iam.serviceAccounts.create",
    "resourcemanager.projects.setIamPolicy",
    "storage.buckets.create",
    "artifactregistry.repositories.create",
    "cloudbuild.workerpools.create",
    "cloudbuild.builds.create",
    "secretmanager.secrets.create",
    "binaryauthorization.policy.update",
)
DEFAULT_POOL_CPUS = 32


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    hint: str = ""


def _run(name: str, check: Callable[[], Check]) -> Check:
    """A check whose API or credentials error is its failure (other errors are bugs)."""
    from google.auth.exceptions import GoogleAuthError

    try:
        with api_errors(name):
            return check()
    except ApiDisabled as exc:  # a fresh project: `up` enables the platform's APIs
        from oasis_cli.resources.apis import SERVICES

        enable = f"`gcloud services enable {exc.api}`"
        by_up = exc.api.removesuffix(".googleapis.com") in SERVICES
        hint = (
            f"`oasis up` enables it; {enable} lets doctor check first."
            if by_up
            else (f"{enable} lets doctor check it (oasis does not need it otherwise).")
        )
        return Check(name, "warn", f"cannot check yet: the {exc.api} API is not enabled", hint)
    except CloudError as exc:
        return Check(name, "fail", exc.cause.splitlines()[0], exc.hint or "")
    except OasisError as exc:
        return Check(name, "fail", exc.message, exc.hint or "")
    except GoogleAuthError as exc:
        return Check(
            name, "fail", str(exc).splitlines()[0], "Run `gcloud auth application-default login`."
        )


def checks(cloud: Cloud, d: Deployment) -> list[Check]:
    project = f"projects/{d.project}"

    def projects() -> Any:
        return cloud.client(
            "cloudresourcemanager", "google.cloud.resourcemanager_v3", "ProjectsClient"
        )

    def credentials() -> Check:
        if cloud.anonymous:
            return Check("credentials", "ok", "the local cloud (anonymous)")
        # the session got a token before any check (Cloud.check_credentials)
        account = getattr(cloud.credentials, "service_account_email", "") or "user credentials"
        return Check("credentials", "ok", f"Application Default Credentials ({account})")

    def project_state() -> Check:
        found = projects().get_project(name=project)
        state = found.state.name
        if state != "ACTIVE":
            return Check("project", "fail", f"{d.project} is {state}")
        return Check("project", "ok", f"{d.project} (number {found.name.split('/')[-1]})")

    def permissions() -> Check:
        answer = projects().test_iam_permissions(
            request={"resource": project, "permissions": list(PERMISSIONS)}
        )
        missing = sorted(set(PERMISSIONS) - set(answer.permissions))
        if missing:
            return Check(
                "permissions",
                "fail",
                "missing " + ", ".join(missing),
                "Ask for roles/owner, or roles/editor plus roles/resourcemanager.projectIamAdmin.",
            )
        return Check("permissions", "ok", f"all {len(PERMISSIONS)} that oasis needs")

    def apis() -> Check:
        from oasis_cli.resources.apis import SERVICES

        client = cloud.client("serviceusage", "google.cloud.service_usage_v1", "ServiceUsageClient")
        names = [f"{project}/services/{api}.googleapis.com" for api in SERVICES]
        found = client.batch_get_services(request={"parent": project, "names": names})
        disabled = sorted(s.config.name for s in found.services if s.state.name != "ENABLED")
        if disabled:
            return Check(
                "apis",
                "warn",
                "not enabled yet: " + ", ".join(disabled),
                "`oasis up` enables them.",
            )
        return Check("apis", "ok", f"all {len(SERVICES)} enabled")

    def machine() -> Check:
        from oasis_cli import preflight

        gpu = d.config.gpu
        problems = preflight.location_problems(cloud, d)
        problems = problems or [
            *preflight.machine_problems(cloud, d),
            *preflight.reservation_problems(cloud, d),
        ]
        if problems:
            return Check("gpu zone", "fail", "; ".join(problems), "Choose a zone that offers it.")
        return Check("gpu zone", "ok", f"{gpu.machine_type} with {gpu.accelerator} in {d.zone}")

    def quotas() -> Check:
        gpu = d.config.gpu
        region = cloud.compute("RegionsClient").get(project=d.project, region=d.region)
        free = {q.metric: q.limit - q.usage for q in region.quotas}
        problems, short, unknown = [], [], []
        if free.get("CPUS", 0.0) < DEFAULT_POOL_CPUS:
            problems.append(f"CPUS: {free.get('CPUS', 0.0):.0f} free, the default pool needs 32")
        # Spot and flex-start VMs both draw on the preemptible GPU quota of the family
        # (https://cloud.google.com/compute/docs/instances/flex-start-vms#quota): both
        # pools can grow to max_nodes at once.
        drawing = [e for e in gpu.capacity if e in ("spot", "flex-start")]
        if drawing:
            limit = gpu_family_limit(cloud, d.region, gpu.accelerator, PREEMPTIBLE_GPUS)
            metric = f"{PREEMPTIBLE_GPUS} ({GPU_FAMILIES.get(gpu.accelerator, '?')})"
            full = gpu.count * gpu.max_nodes * len(drawing)
            if limit is None:
                unknown.append(f"{metric}: not found")
            elif limit < gpu.count:
                problems.append(f"{metric}: limit {limit}, one node needs {gpu.count}")
            elif limit < full:
                short.append(f"{metric}: limit {limit}, {' + '.join(drawing)} at max need {full}")
        hint = f"Request more quota for {d.region} (IAM & Admin > Quotas)."
        if problems:
            return Check("quota", "fail", "; ".join(problems), hint)
        if short or unknown:
            found = "could not read the GPU quota; check it in IAM & Admin > Quotas"
            return Check("quota", "warn", "; ".join(short + unknown), hint if short else found)
        if not drawing:
            return Check("quota", "ok", "GPUs come from the reservation; CPUS suffice")
        return Check("quota", "ok", f"preemptible {gpu.accelerator} GPUs and CPUS in {d.region}")

    def versions() -> Check:
        from oasis_cli import preflight

        version, problems = preflight.version_check(cloud, d)
        if problems:
            return Check(
                "gke version",
                "fail",
                "; ".join(problems),
                "Set cluster.version to a newer version GKE offers.",
            )
        wanted = d.config.cluster.release_channel
        source = "configured" if d.config.cluster.version else f"the {wanted} channel's default"
        return Check("gke version", "ok", f"{version} ({source})")

    steps = [
        ("credentials", credentials),
        ("project", project_state),
        ("permissions", permissions),
        ("apis", apis),
        ("gpu zone", machine),
        ("quota", quotas),
        ("gke version", versions),
    ]
    return [_run(name, step) for name, step in steps]
