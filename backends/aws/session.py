"""A boto3 session from the usual AWS credential chain, and its clients.

No network at build: a session reads the environment and the shared files only. ``role_arn`` adds
an assumed role on top of whatever the chain finds (refreshed by botocore when it expires, fetched at
the first call, under that call's deadline). Clients never retry by themselves: :class:`AwsCall`
backs off on throttling within the call's deadline instead, and fails fast on anything else.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from backends.aws.options import AwsOptions
from backends.base import ConfigError

INSTALL = "pip install 'bluegreen-console[aws]'"

#: botocore's names of the credential providers, in words a person knows
PROVIDERS = {
    "env": "environment variables (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)",
    "assume-role": "a role_arn in the profile",
    "assume-role-with-web-identity": "a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "sso": "AWS SSO / IAM Identity Center (aws sso login)",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "custom-process": "a credential_process in the profile",
    "config-file": "the config file (~/.aws/config)",
    "ec2-credentials-file": "the EC2 credentials file",
    "boto-config": "the boto config file",
    "container-role": "a container role (ECS / EKS pod identity)",
    "iam-role": "the instance metadata role (IMDS)",
    "login": "aws login",
}


def import_boto3(kind: str) -> Any:
    """The ``boto3`` module, or ConfigError naming the extra to install."""
    try:
        import boto3
    except ImportError as exc:
        raise ConfigError(
            f"the {kind} router needs boto3, which is not installed here ({exc}): {INSTALL}"
        ) from None
    return boto3


class AwsSession:
    """One boto3 session (and one client per service) for one router."""

    def __init__(self, o: AwsOptions, kind: str) -> None:
        self.o = o
        self.kind = kind
        boto3 = import_boto3(kind)
        import botocore.exceptions as bx
        import botocore.session

        self.bx = bx
        try:
            core = botocore.session.Session(profile=o.profile)
            if o.profile:
                core.get_scoped_config()  # a profile that does not exist fails here, not later
        except bx.ProfileNotFound:
            raise ConfigError(
                f"{kind} router: option `profile`: found {o.profile!r}; expected the name of a "
                "profile in ~/.aws/config (or AWS_CONFIG_FILE)"
            ) from None
        self.core = core
        if o.role_arn:
            self._assume_role(core)
        self.session = boto3.session.Session(botocore_session=core, region_name=o.region)
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _assume_role(self, core: Any) -> None:
        import botocore.session
        from botocore.credentials import (
            AssumeRoleCredentialFetcher,
            DeferredRefreshableCredentials,
        )

        # The role is assumed with what the chain finds, read from a session of its own, at the
        # first call (resolving the chain may ask the instance metadata service: never at build).
        source = botocore.session.Session(profile=self.o.profile)
        endpoint, role = self.o.endpoint_url, str(self.o.role_arn)

        def create_client(service: str, **kw: Any) -> Any:
            if endpoint:
                kw.setdefault("endpoint_url", endpoint)
            return source.create_client(service, **kw)

        def fetch() -> Any:
            return AssumeRoleCredentialFetcher(
                client_creator=create_client,
                source_credentials=source.get_credentials(),
                role_arn=role,
                extra_args={"RoleSessionName": "bluegreen-console"},
            ).fetch_credentials()

        core._credentials = (
            DeferredRefreshableCredentials(  # botocore's hook for custom credentials
                method="assume-role", refresh_using=fetch
            )
        )

    def client(self, service: str) -> Any:
        """The boto3 client of ``service`` ("elbv2", "route53"), built once."""
        with self._lock:
            if service not in self._clients:
                from botocore.config import Config

                t = self.o.timeout
                config = Config(
                    connect_timeout=t,
                    read_timeout=t,
                    retries={"total_max_attempts": 1},  # AwsCall backs off, within the deadline
                    user_agent_extra="bluegreen-console",
                )
                try:
                    self._clients[service] = self.session.client(
                        service, endpoint_url=self.o.endpoint_url, config=config
                    )
                except self.bx.NoRegionError:
                    raise ConfigError(
                        f"{self.kind} router: no AWS region: set `region` in [service.router], "
                        "or AWS_REGION, or a region in the profile"
                    ) from None
            return self._clients[service]

    def chain(self) -> str:
        """The credential providers the chain tries, in order, in words."""
        try:
            resolver = self.core.get_component("credential_provider")
            names = [getattr(p, "METHOD", "?") for p in resolver.providers]
        except Exception:  # noqa: BLE001 - a description, never a failure of its own
            names = []
        where = ", ".join(PROVIDERS.get(n, n) for n in names) or "the default chain"
        if self.o.profile:
            where = f"profile {self.o.profile!r}: {where}"
        if self.o.role_arn:
            where += f", then assume {self.o.role_arn}"
        return where

    def method(self) -> str:
        """Where the credentials in use came from, in words ("" when none were found)."""
        if self.o.role_arn:
            return f"the role {self.o.role_arn} (`role_arn`), assumed with the chain's credentials"
        try:
            creds = self.core.get_credentials()
        except Exception:  # noqa: BLE001
            return ""
        if creds is None:
            return ""
        name = getattr(creds, "method", "") or ""
        return PROVIDERS.get(name, name)

    @property
    def endpoint(self) -> str:
        return self.o.endpoint_url or "the AWS default endpoint"

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                with contextlib.suppress(Exception):  # closing is best effort
                    client.close()
            self._clients.clear()
