"""The read-only checks `up` runs before its first mutating call, so a value GCP
would refuse stops the run before anything is created (exit 3): the region and zone
exist (the zone in the region), the GPU machine type and the accelerator are offered
in the zone, the machine type carries the configured GPUs, the default pool's
machine type is offered there too, the GKE version meets the platform's minimums
and is offered, and each configured reservation exists in the zone for the GPU
machine type.

A check whose API the project has not enabled yet (a fresh project: `up` enables the
APIs first) is deferred, not failed: `up` runs the deferred ones as soon as the APIs
are enabled, before anything else is created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from oasis_cli.config.names import Deployment
from oasis_cli.config.versions import version_problems
from oasis_cli.errors import ApiDisabled, CloudError, PreflightError
from oasis_cli.gcp.errors import api_errors

if TYPE_CHECKING:
    from oasis_cli.gcp.clients import Cloud


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # checks whose API is not enabled yet


def _found(call: Callable[[], Any]) -> Any:
    """The resource, or None when the API answers it does not exist (404, or Compute's
    400 "Unknown zone")."""
    from google.api_core import exceptions

    try:
        return call()
    except exceptions.NotFound:
        return None
    except exceptions.BadRequest as exc:
        if "Unknown zone" in str(exc) or "Unknown region" in str(exc):
            return None
        raise


def location_problems(cloud: Cloud, d: Deployment) -> list[str]:
    if (
        _found(lambda: cloud.compute("RegionsClient").get(project=d.project, region=d.region))
        is None
    ):
        return [f"region: {d.region!r} does not exist (`gcloud compute regions list`)"]
    zone = _found(lambda: cloud.compute("ZonesClient").get(project=d.project, zone=d.zone))
    if zone is None:
        return [f"zone: {d.zone!r} does not exist (`gcloud compute zones list`)"]
    return []


def machine_problems(cloud: Cloud, d: Deployment) -> list[str]:
    """The machine types and the accelerator in the zone, and the GPUs per machine."""
    gpu, problems = d.config.gpu, []
    types = cloud.compute("MachineTypesClient")
    machine = _found(
        lambda: types.get(project=d.project, zone=d.zone, machine_type=gpu.machine_type)
    )
    if machine is None:
        problems.append(f"gpu.machine_type: {gpu.machine_type} is not offered in zone {d.zone}")
    else:
        fixed = {a.guest_accelerator_type: a.guest_accelerator_count for a in machine.accelerators}
        if fixed and fixed.get(gpu.accelerator) != gpu.count:
            has = ", ".join(f"{n} x {t}" for t, n in fixed.items())
            problems.append(
                f"gpu: {gpu.machine_type} comes with {has}; "
                f"gpu.count is {gpu.count} and gpu.accelerator {gpu.accelerator}"
            )
    accelerators = cloud.compute("AcceleratorTypesClient")
    offered = _found(
        lambda: accelerators.get(project=d.project, zone=d.zone, accelerator_type=gpu.accelerator)
    )
    if offered is None:
        problems.append(f"gpu.accelerator: {gpu.accelerator} is not offered in zone {d.zone}")
    default = d.config.cluster.default_pool_machine_type
    if _found(lambda: types.get(project=d.project, zone=d.zone, machine_type=default)) is None:
        problems.append(
            f"cluster.default_pool_machine_type: {default} is not offered in zone {d.zone}"
        )
    return problems


def reservation_problems(cloud: Cloud, d: Deployment) -> list[str]:
    gpu, problems = d.config.gpu, []
    client = cloud.compute("ReservationsClient")
    for entry in gpu.capacity:
        kind, _, name = entry.partition(":")
        if kind != "reservation":
            continue
        # a shared reservation is projects/OWNER/reservations/NAME; a block of one is
        # NAME/reservationBlocks/BLOCK: the reservation is what must exist
        owner, reservation = d.project, name.split("/reservationBlocks/")[0]
        if reservation.startswith("projects/"):
            _, owner, _, reservation = reservation.split("/")[:4]
        found = _found(partial(client.get, project=owner, zone=d.zone, reservation=reservation))
        if found is None:
            problems.append(f"gpu.capacity: reservation {name!r} does not exist in zone {d.zone}")
            continue
        machine = found.specific_reservation.instance_properties.machine_type
        if machine and machine.rsplit("/", 1)[-1] != gpu.machine_type:
            problems.append(
                f"gpu.capacity: reservation {name!r} is for {machine}, not {gpu.machine_type}"
            )
    return problems


def version_check(cloud: Cloud, d: Deployment) -> tuple[str, list[str]]:
    """The version a new cluster gets (the configured one, or the release channel's
    default) and what is wrong with it."""
    config = cloud.container().get_server_config(name=f"projects/{d.project}/locations/{d.region}")
    # A new cluster is enrolled in its release channel and gets the channel's default,
    # not `defaultClusterVersion` (the default without a channel).
    wanted = d.config.cluster.release_channel
    channel = next((c for c in config.channels if c.channel.name == wanted), None)
    default = channel.default_version if channel else config.default_cluster_version
    version = d.config.cluster.version or default
    problems = version_problems(version, d.config)
    if d.config.cluster.version and version not in config.valid_master_versions:
        problems.append(f"{version!r} is not offered in {d.region}")
    return version, problems


def version_problems_of(cloud: Cloud, d: Deployment) -> list[str]:
    return [f"cluster.version: {problem}" for problem in version_check(cloud, d)[1]]


CHECKS: dict[str, Callable[[Any, Deployment], list[str]]] = {
    "location": location_problems,
    "machines": machine_problems,
    "reservations": reservation_problems,
    "gke version": version_problems_of,
}


def findings(cloud: Cloud, d: Deployment, only: list[str] | None = None) -> Findings:
    found = Findings()
    for name, check in CHECKS.items():
        if only is not None and name not in only:
            continue
        if name != "location" and any("does not exist" in p for p in found.problems):
            break  # nothing is offered in a region or zone that does not exist
        try:
            with api_errors(f"preflight ({name})"):
                found.problems += check(cloud, d)
        except ApiDisabled:
            found.deferred.append(name)
    return found


def check(cloud: Cloud, d: Deployment, only: list[str] | None = None) -> list[str]:
    """Run the checks (or `only` those); PreflightError naming every problem, else the
    checks deferred until the project's APIs are enabled."""
    try:
        found = findings(cloud, d, only)
    except CloudError as exc:
        raise PreflightError(f"preflight could not finish: {exc}") from None
    if found.problems:
        raise PreflightError(
            "preflight: nothing was created; GCP would refuse these:\n  "
            + "\n  ".join(found.problems),
            hint="Fix them in oasis.toml (or --set), then run `oasis up` again.",
        )
    return found.deferred
