"""Binary Authorization v1 as the local cloud serves it: the project's singleton
policy (get/update) and attestors (get/list/create; Cloud Build creates
`built-by-cloud-build`). A create names the attestor by `attestorId`, needs the
Container Analysis note it is bound to (`userOwnedGrafeasNote.noteReference`,
projects/*/notes/*) and answers ALREADY_EXISTS for a taken id
(https://cloud.google.com/binary-authorization/docs/reference/rest/v1/projects.attestors/create).

A project starts with Google's default policy (allow all, Google-maintained system
images exempt). Rules kept on update: the name is the project's policy, a default
admission rule is required, every rule needs an evaluation mode and, unless it
allows or denies all, an enforcement mode; REQUIRE_ATTESTATION needs attestors that
exist; cluster rules are keyed `location.clusterId`; a stale etag is refused.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from oasis_cli.localcloud.infra.http import HttpError, Request, Response
from oasis_cli.localcloud.infra.rest import Handler, RestService, normalize, timestamp

CLUSTER_KEY = re.compile(r"^[a-z0-9-]+\.[a-z0-9-]+$")
ATTESTOR = re.compile(r"^projects/[^/]+/attestors/[^/]+$")
ATTESTOR_ID = re.compile(r"^[a-zA-Z0-9_-]{1,100}$")
NOTE = re.compile(r"^projects/[^/]+/notes/[^/]+$")


def default_policy(project: str) -> dict[str, Any]:
    return {
        "name": f"projects/{project}/policy",
        "globalPolicyEvaluationMode": "ENABLE",
        "defaultAdmissionRule": {
            "evaluationMode": "ALWAYS_ALLOW",
            "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG",
        },
        "updateTime": timestamp(0),
    }


def _etag(policy: dict[str, Any]) -> str:
    return hashlib.sha256(repr(sorted(policy.items())).encode()).hexdigest()[:16]


class BinaryAuthorization(RestService):
    api_name, api_version, service = "binaryauthorization", "v1", "binaryauthorization"
    tables = {"attestors": "binaryauthorization#attestor"}  # the policy: getPolicy

    def routes(self) -> dict[str, Handler]:
        return {
            "binaryauthorization.projects.getPolicy": self._get_policy,
            "binaryauthorization.projects.updatePolicy": self._update_policy,
            "binaryauthorization.projects.attestors.get": self._get_attestor,
            "binaryauthorization.projects.attestors.list": self._list_attestors,
            "binaryauthorization.projects.attestors.create": self._create_attestor,
        }

    def _policy(self, world: dict, name: str) -> dict[str, Any]:
        project = name.split("/")[1]
        stored = self.table(world, "policies").get(name) or default_policy(project)
        return {**stored, "etag": _etag(stored)}

    def _get_policy(self, world: dict, params: dict, request: Request) -> Response:
        return Response(200, self._policy(world, params["name"]))

    def _update_policy(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import binaryauthorization_v1

        name = params["name"]
        body = normalize(binaryauthorization_v1.Policy, request.body or {}, "policy")
        if body.get("name", name) != name:
            raise HttpError(400, f"Policy name {body.get('name')} does not match {name}.")
        current = self._policy(world, name)
        if body.get("etag") and body["etag"] != current["etag"]:
            raise HttpError(409, "The policy was changed concurrently; read it again.", "aborted")
        if "defaultAdmissionRule" not in body:
            raise HttpError(400, "Policy must have a default admission rule.")
        self._check_rule(world, "defaultAdmissionRule", body["defaultAdmissionRule"])
        for key, rule in body.get("clusterAdmissionRules", {}).items():
            if not CLUSTER_KEY.match(key):
                raise HttpError(
                    400, f"Cluster admission rule key {key!r} must be `location.clusterId`."
                )
            self._check_rule(world, f"clusterAdmissionRules[{key}]", rule)
        stored = {k: v for k, v in body.items() if k != "etag"}
        stored["name"] = name
        stored["updateTime"] = timestamp(time.time())
        self.table(world, "policies")[name] = stored
        return Response(200, self._policy(world, name))

    def _check_rule(self, world: dict, where: str, rule: dict[str, Any]) -> None:
        mode = rule.get("evaluationMode", "EVALUATION_MODE_UNSPECIFIED")
        if mode == "EVALUATION_MODE_UNSPECIFIED":
            raise HttpError(400, f"{where}: evaluationMode is required.")
        if rule.get("enforcementMode", "ENFORCEMENT_MODE_UNSPECIFIED") == (
            "ENFORCEMENT_MODE_UNSPECIFIED"
        ):
            raise HttpError(400, f"{where}: enforcementMode is required.")
        attestors = rule.get("requireAttestationsBy", [])
        if mode == "REQUIRE_ATTESTATION" and not attestors:
            raise HttpError(400, f"{where}: REQUIRE_ATTESTATION needs requireAttestationsBy.")
        for attestor in attestors:
            if not ATTESTOR.match(attestor):
                raise HttpError(400, f"{where}: invalid attestor name {attestor!r}.")
            if attestor not in self.table(world, "attestors"):
                raise HttpError(400, f"{where}: attestor {attestor} does not exist.")

    def _get_attestor(self, world: dict, params: dict, request: Request) -> Response:
        attestor = self.table(world, "attestors").get(params["name"])
        if attestor is None:
            raise HttpError(404, f"Attestor {params['name']} not found.", "notFound")
        return Response(200, attestor)

    def _create_attestor(self, world: dict, params: dict, request: Request) -> Response:
        from google.cloud import binaryauthorization_v1

        attestor_id = request.param("attestorId") or ""
        if not ATTESTOR_ID.match(attestor_id):
            raise HttpError(400, f"Invalid attestor id {attestor_id!r}.")
        body = normalize(binaryauthorization_v1.Attestor, request.body or {}, "attestor")
        note = body.get("userOwnedGrafeasNote", {}).get("noteReference", "")
        if not NOTE.match(note):
            raise HttpError(400, "userOwnedGrafeasNote.noteReference must be projects/*/notes/*.")
        name = f"{params['parent']}/attestors/{attestor_id}"
        attestors = self.table(world, "attestors")
        if name in attestors:
            raise HttpError(409, f"Attestor {name} already exists.", "alreadyExists")
        attestors[name] = {**body, "name": name, "updateTime": timestamp(time.time())}
        return Response(200, attestors[name])

    def _list_attestors(self, world: dict, params: dict, request: Request) -> Response:
        prefix = params["parent"] + "/attestors/"
        found = [
            a for n, a in sorted(self.table(world, "attestors").items()) if n.startswith(prefix)
        ]
        return Response(200, {"attestors": found})
