"""The small error hierarchy every layer raises.

Each error carries the exit code the CLI uses and, where it helps, the command to
run next. The CLI catches `OasisError` once, prints it and exits with `exit_code`.
"""

from __future__ import annotations


class OasisError(Exception):
    """Base of every error oasis reports to the user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class ConfigError(OasisError):
    """Bad input: a config value, flag or environment variable breaks a rule."""

    exit_code = 2


class PreflightError(OasisError):
    """The environment is not ready (credentials, APIs, quotas, versions)."""

    exit_code = 3


class LedgerLocked(OasisError):
    """Another oasis run holds the deployment's lock."""


class CloudError(OasisError):
    """A cloud API call about one resource failed."""

    def __init__(self, resource: str, cause: str, *, hint: str | None = None) -> None:
        super().__init__(f"{resource}: {cause}", hint=hint)
        self.resource = resource
        self.cause = cause


class ApiDisabled(CloudError):
    """The project has not enabled the API a call went to (403 SERVICE_DISABLED)."""

    def __init__(self, resource: str, api: str) -> None:
        super().__init__(
            resource,
            f"the {api} API is not enabled in the project",
            hint=f"`oasis up` enables it (or run `gcloud services enable {api}`).",
        )
        self.api = api


class OperationFailed(OasisError):
    """A long-running operation finished with an error."""

    def __init__(self, operation: str, code: int | str, message: str) -> None:
        super().__init__(f"operation {operation} failed ({code}): {message}")
        self.operation = operation
        self.code = code
        self.error_message = message


class OperationTimeout(OasisError):
    """A long-running operation did not finish before its deadline."""

    def __init__(self, operation: str, deadline_s: float) -> None:
        super().__init__(
            f"operation {operation} still running after {deadline_s:.0f}s",
            hint="It may still finish; `oasis status` shows it and `oasis up` resumes it.",
        )
        self.operation = operation
