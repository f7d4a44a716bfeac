"""Plain dicts <-> GAPIC messages, in proto field names (`format`, `newer_than`),
with enums as names and durations as `"604800s"`: the form `spec` is written in
and `observe()` returns, so desired and live settings compare directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def to_message(message: Any, values: Mapping[str, Any]) -> Any:
    from google.protobuf import json_format

    instance = message.pb()()
    json_format.ParseDict(dict(values), instance)
    return message.wrap(instance)


def to_plain(instance: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    raw = type(instance).pb(instance)
    result: dict[str, Any] = json_format.MessageToDict(raw, preserving_proto_field_name=True)
    return result
