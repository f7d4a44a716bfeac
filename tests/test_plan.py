"""The pure planner: create, no-op, update with a readable diff, conflict."""

from __future__ import annotations

from oasis_cli.graph import Node
from oasis_cli.resources.base import Action, diff, plan
from oasis_cli.resources.networks import Firewall

SPEC = {
    "name": "fw",
    "description": "oasis-deployment=oasis",
    "network": "projects/p/global/networks/n",
    "source_ranges": ["10.0.0.0/24"],
    "allowed": [{"I_p_protocol": "all"}],
}
NODE = Node("firewall:x", "compute.firewall", "fw", "global", (), SPEC)
LIVE = {
    **SPEC,
    "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/n",
    "id": "123",
    "priority": 1000,
}


def test_absent_resource_is_created():
    assert plan(NODE, None, Firewall()).action is Action.CREATE


def test_matching_resource_is_left_alone_whatever_the_url_form():
    assert plan(NODE, LIVE, Firewall()).action is Action.NOOP


def test_drift_is_an_update_naming_the_field():
    result = plan(NODE, {**LIVE, "source_ranges": ["0.0.0.0/0"]}, Firewall())
    assert result.action is Action.UPDATE
    assert [str(c) for c in result.changes] == ["source_ranges: ['0.0.0.0/0'] -> ['10.0.0.0/24']"]


def test_resource_without_our_marker_is_a_conflict():
    result = plan(NODE, {**LIVE, "description": "someone else's"}, Firewall())
    assert result.action is Action.CONFLICT
    assert "does not belong to this deployment" in result.reason


def test_diff_compares_nested_lists_by_position():
    desired = {"nats": [{"name": "nat", "log_config": {"filter": "ERRORS_ONLY"}}]}
    current = {"nats": [{"name": "nat", "log_config": {"filter": "ALL", "enable": True}}]}
    assert [c.field for c in diff(desired, current)] == ["nats[0].log_config.filter"]
