"""AWS for the tests: moto's server on 127.0.0.1 (the real boto3 client talks HTTP to it), a proxy in
front of it that injects the answers moto cannot produce, and the two labs the ALB and Route 53
routers run against.

* ``moto_endpoint()``: moto's ``ThreadedMotoServer`` on 127.0.0.1 (a real HTTP endpoint, one per
  test process; its state is moto's, in this process, reset before and after each endpoint) behind a :class:`FaultProxy`, with
  fake credentials and a private AWS config set in ``os.environ`` for the block only (so a CLI
  process started inside it inherits them), and the instance metadata service disabled (botocore
  must never look for 169.254.169.254 from a test).
* :class:`FaultProxy` forwards everything to moto, except what a rule answers: real AWS error
  bodies (Throttling, AccessDenied, ExpiredToken, PriorRequestNotComplete) and a failing Route 53
  health check status (moto always reports success). It counts the writes it forwarded.
* ``alb_lab()``: a VPC, an ALB, two target groups of two EC2 instances each, and a listener whose
  default action is a weighted forward, blue 100 / green 0; an IAM ``admin`` user (every action) and
  a ``reader`` (Describe* only) with access keys, for moto's IAM enforcement.
* ``route53_lab()``: a hosted zone ``example.com`` with two weighted A records of
  ``shop.example.com`` (blue 100, green 0; TTL 60), each with a health check.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REGION = "us-east-1"
ENV_KEYS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

ELB_NS = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/"


def query_error(code: str, message: str, status: int = 400) -> tuple[int, str, bytes]:
    """An AWS query-protocol error (ELBv2, EC2-style services)."""
    body = (
        f'<ErrorResponse xmlns="{ELB_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>test</RequestId></ErrorResponse>"
    )
    return status, "text/xml", body.encode()


def rest_error(code: str, message: str, status: int = 400) -> tuple[int, str, bytes]:
    """A Route 53 (REST-XML) error."""
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{R53_NS}"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>test</RequestId>"
        "</ErrorResponse>"
    )
    return status, "text/xml", body.encode()


def failing_check(report: str) -> tuple[int, str, bytes]:
    """A GetHealthCheckStatus answer in which every checker reports ``report``."""
    obs = "".join(
        f"<HealthCheckObservation><Region>{r}</Region><IPAddress>127.0.13.{i}</IPAddress>"
        f"<StatusReport><Status>{report}</Status><CheckedTime>2026-12-01T00:00:00Z</CheckedTime>"
        "</StatusReport></HealthCheckObservation>"
        for i, r in enumerate(("us-east-1", "eu-west-1", "ap-southeast-1"), 1)
    )
    body = (
        f'<?xml version="1.0"?>\n<GetHealthCheckStatusResponse xmlns="{R53_NS}">'
        f"<HealthCheckObservations>{obs}</HealthCheckObservations></GetHealthCheckStatusResponse>"
    )
    return 200, "text/xml", body.encode()


@dataclass
class Rule:
    """Answer requests that ``match`` with ``answer`` instead of forwarding them (``times``: how
    many, None for every one)."""

    match: Callable[[str, str, bytes], bool]
    answer: tuple[int, str, bytes] | None = None  # None: forward, then ``rewrite`` moto's answer
    times: int | None = None
    hits: int = 0
    rewrite: Callable[[bytes], bytes] | None = None


def action_is(*names: str) -> Callable[[str, str, bytes], bool]:
    """Matches a query-protocol request (``Action=NAME`` in its form body)."""
    wanted = {f"Action={n}".encode() for n in names}

    def match(method: str, path: str, body: bytes) -> bool:
        return any(part in wanted for part in body.split(b"&"))

    return match


def rest_is(method: str, contains: str) -> Callable[[str, str, bytes], bool]:
    def match(m: str, path: str, body: bytes) -> bool:
        return m == method and contains in path

    return match


WRITE_ACTIONS = (
    b"Action=ModifyListener",
    b"Action=ModifyRule",
    b"Action=AddTags",
    b"Action=RemoveTags",
)


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of moto: forwards, or answers by a rule."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.rules: list[Rule] = []
        self.writes = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy._rule(self.command, self.path, body)
                if rule is not None and rule.answer is not None:
                    answer = rule.answer
                else:
                    answer = proxy._forward(self.command, self.path, dict(self.headers), body)
                    if rule is not None and rule.rewrite is not None:
                        answer = (answer[0], answer[1], rule.rewrite(answer[2]))
                status, ctype, data = answer
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                # One request a connection: once the proxy stops, a client has nothing left open.
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, rule: Rule) -> Rule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def _rule(self, method: str, path: str, body: bytes) -> Rule | None:
        """The rule for this request, if any; counts the writes that will reach moto."""
        found: Rule | None = None
        with self.lock:
            for rule in self.rules:
                if (rule.times is None or rule.hits < rule.times) and rule.match(
                    method, path, body
                ):
                    rule.hits += 1
                    found = rule
                    break
            answered = found is not None and found.answer is not None
            if not answered and (
                any(w in body.split(b"&") for w in WRITE_ACTIONS)
                or (method == "POST" and ("/rrset" in path or "/tags/" in path))
            ):
                self.writes += 1
        return found

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in ("connection",)}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type") or "text/xml", resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Endpoint:
    """moto behind the proxy; ``url`` is what the routers are pointed at."""

    moto: Any
    proxy: FaultProxy
    moto_url: str
    home: Path
    stopped: bool = False
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # IAM user -> (id, secret)

    @property
    def url(self) -> str:
        return self.proxy.url

    def client(self, service: str, user: str | None = None) -> Any:
        """A boto3 client straight to moto (the tests' own view, not through the proxy)."""
        import boto3

        kw: dict[str, Any] = {}
        if user is not None:
            kid, secret = self.keys[user]
            kw = {"aws_access_key_id": kid, "aws_secret_access_key": secret}
        return boto3.client(service, endpoint_url=self.moto_url, region_name=REGION, **kw)

    def add_user(self, name: str, policy: dict[str, Any]) -> tuple[str, str]:
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
        self.write_credentials()
        return self.keys[name]

    def write_credentials(self) -> None:
        lines = []
        for user, (kid, secret) in self.keys.items():
            lines += [
                f"[{user}]",
                f"aws_access_key_id = {kid}",
                f"aws_secret_access_key = {secret}",
                "",
            ]
        (self.home / "credentials").write_text("\n".join(lines))

    def stop(self) -> None:
        """AWS is gone for the routers (the proxy they are pointed at stops)."""
        if not self.stopped:
            self.stopped = True
            self.proxy.stop()


def _reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


_MOTO: list[Any] = []  # one moto server per test process, started at first use


def _moto_server() -> tuple[Any, str]:
    """moto's server on 127.0.0.1, started once per process (about a second) and stopped at exit;
    every endpoint resets its state. A stopped endpoint stops its proxy: the routers are pointed at
    the proxy, so for them AWS is gone (connection refused) while the tests' own views still read."""
    if not _MOTO:
        import atexit

        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        atexit.register(server.stop)
        _MOTO.append(server)
    host, port = _MOTO[0].get_host_and_port()
    return _MOTO[0], f"http://{host}:{port}"


@contextlib.contextmanager
def moto_endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    """moto's server and the proxy on 127.0.0.1, fake credentials in the environment for the block."""
    home = tmp_path / "aws"
    home.mkdir(exist_ok=True)
    (home / "config").write_text(f"[default]\nregion = {REGION}\n")
    (home / "credentials").write_text("")
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    for k in ENV_KEYS:
        os.environ.pop(k, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",  # fake: moto accepts any key until IAM is enforced
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    server, moto_url = _moto_server()
    _reset_moto()
    endpoint = Endpoint(server, FaultProxy(moto_url), moto_url, home)
    try:
        yield endpoint
    finally:
        endpoint.stop()
        _reset_moto()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
READ_ONLY_ALB = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "elasticloadbalancing:Describe*", "Resource": "*"}],
}


def use_admin(endpoint: Endpoint) -> None:
    """The environment's keys become the IAM ``admin`` user's (allowed everything), so that turning
    moto's IAM enforcement on leaves the default chain working."""
    kid, secret = endpoint.add_user("admin", ADMIN_POLICY)
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = kid, secret


@contextlib.contextmanager
def iam_enforced() -> Iterator[None]:
    """moto checks every request's signature and IAM policy for the block."""
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        yield


@dataclass
class AlbLab:
    endpoint: Endpoint
    listener: str
    target_groups: dict[str, str]  # colour -> ARN
    instances: dict[str, list[str]]  # colour -> instance ids
    load_balancer: str
    vpc: str

    def elb(self) -> Any:
        return self.endpoint.client("elbv2", "admin")

    def ec2(self) -> Any:
        return self.endpoint.client("ec2", "admin")

    def weights(self) -> dict[str, int]:
        actions = self.elb().describe_listeners(ListenerArns=[self.listener])["Listeners"][0][
            "DefaultActions"
        ]
        fwd = next(a for a in actions if a["Type"] == "forward")
        by_arn = {
            g["TargetGroupArn"]: g.get("Weight", 1) for g in fwd["ForwardConfig"]["TargetGroups"]
        }
        return {c: int(by_arn.get(arn, 0)) for c, arn in self.target_groups.items()}

    def set_weights(self, blue: int, green: int) -> None:
        self.set_actions(self.forward(blue, green))

    def forward(self, blue: int, green: int) -> list[dict[str, Any]]:
        return [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": self.target_groups["blue"], "Weight": blue},
                        {"TargetGroupArn": self.target_groups["green"], "Weight": green},
                    ]
                },
            }
        ]

    def set_actions(self, actions: list[dict[str, Any]]) -> None:
        self.elb().modify_listener(ListenerArn=self.listener, DefaultActions=actions)

    def tags(self, colour: str) -> dict[str, str]:
        arn = self.target_groups[colour]
        desc = self.elb().describe_tags(ResourceArns=[arn])["TagDescriptions"]
        return {t["Key"]: t["Value"] for d in desc for t in d.get("Tags", [])}

    def router_options(self) -> dict[str, Any]:
        return {
            "kind": "alb",
            "region": REGION,
            "endpoint_url": self.endpoint.url,
            "listener_arn": self.listener,
            "target_groups": dict(self.target_groups),
        }


def alb_lab(endpoint: Endpoint) -> AlbLab:
    use_admin(endpoint)
    endpoint.add_user("reader", READ_ONLY_ALB)
    ec2, elb = endpoint.client("ec2", "admin"), endpoint.client("elbv2", "admin")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    image = "ami-12c6146b"  # one of moto's built-in images (describe_images costs seconds)
    tgs: dict[str, str] = {}
    instances: dict[str, list[str]] = {}
    for colour in ("blue", "green"):
        tg = elb.create_target_group(
            Name=f"shop-{colour}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        ids = [
            i["InstanceId"]
            for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, SubnetId=subnets[0])[
                "Instances"
            ]
        ]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in ids])
        tgs[colour], instances[colour] = tg, ids
    lab = AlbLab(endpoint, "", tgs, instances, lb, vpc)
    lab.listener = elb.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=lab.forward(100, 0)
    )["Listeners"][0]["ListenerArn"]
    return lab


ZONE = "example.com"
RECORD = "shop.example.com."
VALUES = {"blue": ["127.0.10.1", "127.0.10.2"], "green": ["127.0.20.1", "127.0.20.2"]}


@dataclass
class Route53Lab:
    endpoint: Endpoint
    zone: str  # bare id
    checks: dict[str, str]  # colour -> health check id
    ttl: int = 60

    def r53(self) -> Any:
        return self.endpoint.client("route53", "admin")

    def records(self) -> list[dict[str, Any]]:
        found = self.r53().list_resource_record_sets(HostedZoneId=self.zone)["ResourceRecordSets"]
        return [r for r in found if r["Name"] == RECORD and r["Type"] == "A"]

    def weights(self) -> dict[str, int]:
        return {
            r["SetIdentifier"]: int(r["Weight"]) for r in self.records() if "SetIdentifier" in r
        }

    def record(self, colour: str, weight: int, **extra: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "Name": RECORD,
            "Type": "A",
            "SetIdentifier": colour,
            "Weight": weight,
            "TTL": self.ttl,
            "ResourceRecords": [{"Value": v} for v in VALUES.get(colour, ["127.0.30.1"])],
        }
        if colour in self.checks:
            rec["HealthCheckId"] = self.checks[colour]
        rec.update(extra)
        return rec

    def upsert(self, *records: dict[str, Any]) -> None:
        self.r53().change_resource_record_sets(
            HostedZoneId=self.zone,
            ChangeBatch={
                "Changes": [{"Action": "UPSERT", "ResourceRecordSet": r} for r in records]
            },
        )

    def set_weights(self, blue: int, green: int) -> None:
        self.upsert(self.record("blue", blue), self.record("green", green))

    def tags(self) -> dict[str, str]:
        found = self.r53().list_tags_for_resource(ResourceType="hostedzone", ResourceId=self.zone)
        return {t["Key"]: t["Value"] for t in found["ResourceTagSet"].get("Tags", [])}

    def add_tag(self, key: str, value: str) -> None:
        self.r53().change_tags_for_resource(
            ResourceType="hostedzone", ResourceId=self.zone, AddTags=[{"Key": key, "Value": value}]
        )

    def router_options(self) -> dict[str, Any]:
        return {
            "kind": "route53",
            "endpoint_url": self.endpoint.url,
            "hosted_zone_id": self.zone,
            "record_name": "shop.example.com",
        }


def route53_lab(endpoint: Endpoint) -> Route53Lab:
    use_admin(endpoint)
    r53 = endpoint.client("route53", "admin")
    zone = r53.create_hosted_zone(Name=ZONE, CallerReference="bluegreen-tests")["HostedZone"]["Id"]
    checks = {}
    for colour in ("blue", "green"):
        checks[colour] = r53.create_health_check(
            CallerReference=f"shop-{colour}",
            HealthCheckConfig={
                "Type": "HTTP",
                "IPAddress": VALUES[colour][0],
                "Port": 80,
                "ResourcePath": "/healthz",
            },
        )["HealthCheck"]["Id"]
    lab = Route53Lab(endpoint, zone.rsplit("/", 1)[-1], checks)
    lab.set_weights(100, 0)
    return lab


def toml_config(tmp_path: Path, options: dict[str, Any], *, name: str = "console.toml") -> Path:
    """A console config for service ``shop`` with this ``[service.router]`` table."""
    lines = [
        f'audit_log = "{tmp_path / "audit.jsonl"}"',
        "",
        "[[service]]",
        'name = "shop"',
        "poll_interval = 1.0",
        "timeout = 10.0",  # a hang guard: moto on a loaded machine can take seconds
        "bake_seconds = 60",
        "",
        "[service.router]",
    ]
    for key, value in options.items():
        if isinstance(value, dict):
            inner = ", ".join(f'{k} = "{v}"' for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        elif isinstance(value, str):
            lines.append(f'{key} = "{value}"')
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    config = tmp_path / name
    config.write_text("\n".join(lines) + "\n")
    return config
