"""One AWS API call under the router's deadline: throttling backs off (within the deadline), every
other failure becomes a typed error of :mod:`backends.base` whose message names the IAM action, the
resource and, for credentials, the chain that was tried."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from backends.aws.session import AwsSession
from backends.base import (
    ActionRefused,
    BackendError,
    BackendTimeout,
    Conflict,
    PermissionDenied,
    Unreachable,
)

THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "PriorRequestNotComplete",  # Route 53: a change to the same records is still being applied
}
CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "InvalidAccessKeyId",
}
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden"}
FIRST_BACKOFF = 0.1
BUDGET = 0.9  # of the router's timeout: leaves the console's guard room to receive the answer


def _snake(op: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()


class AwsCall:
    """Calls one AWS service for one router, within a per-verb deadline (``begin``).

    Args:
        aws: the session (its credential chain is named in messages).
        service: the boto3 client name ("elbv2", "route53").
        prefix: the IAM action prefix ("elasticloadbalancing", "route53").
        policy: where the minimal IAM policy is documented, for AccessDenied messages.
    """

    def __init__(self, aws: AwsSession, service: str, prefix: str, policy: str) -> None:
        self.aws = aws
        self.service = service
        self.prefix = prefix
        self.policy = policy
        self.deadline = time.monotonic() + BUDGET * aws.o.timeout
        self.acting = False
        self.sleep: Callable[[float], None] = time.sleep
        self.retries = 0  # throttled answers retried, in this process (for tests and messages)

    def begin(self, *, acting: bool) -> None:
        """Start a verb (or a read): its calls share one deadline."""
        self.deadline = time.monotonic() + BUDGET * self.aws.o.timeout
        self.acting = acting

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def __call__(self, op: str, resource: str, **kw: Any) -> Any:
        """``client.<op>(**kw)``; ``resource`` names what it is about (an ARN, a record)."""
        action = f"{self.prefix}:{op}"
        backoff, tries = FIRST_BACKOFF, 0
        while True:
            if self.left() <= 0:
                raise BackendTimeout(
                    f"{action} on {resource} not sent: the call's deadline "
                    f"({BUDGET * self.aws.o.timeout:.1f} s) was spent"
                    + (f" after {tries} throttled answers" if tries else "")
                )
            tries += 1
            try:
                client = self.aws.client(self.service)
                return getattr(client, _snake(op))(**kw)
            except BackendError:
                raise
            except Exception as exc:  # noqa: BLE001 - every client error becomes a typed one
                code = _code(exc)
                if code in THROTTLED and self.left() > backoff:
                    self.retries += 1
                    self.sleep(backoff)
                    backoff *= 2
                    continue
                raise self.translate(exc, action, resource, tries) from exc

    def translate(self, exc: BaseException, action: str, resource: str, tries: int) -> BackendError:
        bx = self.aws.bx
        where = self.aws.endpoint
        if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
            return PermissionDenied(
                f"no AWS credentials for {action}: tried {self.aws.chain()}; provide them the "
                "usual way (environment, `aws configure`, `aws sso login`, `profile` or "
                "`role_arn` in [service.router]), never as a key in this config"
            )
        if isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
            unknown = (
                "; it may or may not have been applied: the next read shows" if self.acting else ""
            )
            return BackendTimeout(
                f"AWS at {where} did not answer {action} on {resource} within "
                f"{self.aws.o.timeout:.1f} s{unknown}"
            )
        if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, OSError)):
            return Unreachable(f"cannot reach AWS at {where} ({action} on {resource}): {exc}")
        if isinstance(exc, bx.NoRegionError):
            return Unreachable(f"no AWS region for {action}: set `region` in [service.router]")
        code = _code(exc)
        if code is None:  # not a client error we know: say what it was, never a traceback
            return Unreachable(f"{action} on {resource} failed: {type(exc).__name__}: {exc}")
        said = _message(exc)
        status = _status(exc)
        if code in THROTTLED:
            if code == "PriorRequestNotComplete":
                return Conflict(
                    f"{action} on {resource}: another change to these records is still being "
                    f"applied ({said}); nothing more was sent; look again and retry"
                )
            return Unreachable(
                f"AWS throttled {action} on {resource} ({code}) {tries} times; backed off until "
                f"the call's deadline ({BUDGET * self.aws.o.timeout:.1f} s); try again"
            )
        if code == "InvalidChangeBatch" and "match" in said.lower():
            # Route 53 refused a DELETE of a record as we had read it: someone changed it since
            return Conflict(
                f"{action} on {resource}: the records changed since they were read (another "
                f"writer; {said}); the batch is all or nothing, so nothing was written; look "
                "again and retry"
            )
        if code in CREDENTIALS:
            used = self.aws.method()
            return PermissionDenied(
                f"AWS rejected the credentials for {action} ({code}: {said}); they came from "
                f"{used or 'the chain'} (tried: {self.aws.chain()}); renew them (for instance "
                "`aws sso login`, or new keys) and try again"
            )
        if code in DENIED or status == 403:
            return PermissionDenied(
                f"access denied: {action} on {resource} ({code}: {said}); grant it: the minimal "
                f"IAM policy is in {self.policy}"
            )
        if status is not None and status >= 500:
            return Unreachable(
                f"AWS answered {status} to {action} on {resource} ({code}: {said}); try again"
            )
        err = ActionRefused if self.acting else Unreachable
        return err(f"AWS refused {action} on {resource} ({code}: {said})")


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = _status(exc)
        if status is not None:
            return str(status)
    return None


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        msg = response.get("Error", {}).get("Message")
        if msg:
            return str(msg)
    return "no message"


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    return None
