"""The ALB router: a weighted forward action to two target groups, one per colour."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from backends.alb.options import AlbOptions, load_options, tg_name
from backends.aws.errors import AwsCall
from backends.aws.session import AwsSession
from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    BackendError,
    Colour,
    ColourState,
    Router,
    RouterState,
    ServerState,
    ServerStatus,
    Unreachable,
    VerifyFailed,
    percent_split,
)

DRAINED_TAG = "bluegreen-console:drained"  # on a target group: when the console drained it (UTC)
POLICY = "docs/alb.md#minimal-iam-policy"


@dataclass(frozen=True)
class Read:
    """One read of everything the router decides on."""

    actions: list[dict[str, Any]]
    weights: dict[Colour, int]  # raw ALB weights (0..999) of the two colours' target groups
    problem: str | None  # why the forward action is not a weighted forward to both colours
    drained: dict[Colour, str] = field(default_factory=dict)  # colour -> the tag's time
    health: dict[Colour, list[dict[str, Any]]] = field(default_factory=dict)
    delay: dict[Colour, int] = field(default_factory=dict)  # deregistration delay, drained ones


def _hhmmss(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S")


def _parse_time(text: str) -> float | None:
    try:
        return (
            datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        )
    except ValueError:
        return None


class AlbRouter(Router):
    """Blue-green on an AWS Application Load Balancer: one listener's default action (or one listener
    rule's action, with ``rule_arn``) is a **weighted forward** to two target groups, one per colour.

    Client: boto3's ``elbv2``, from the usual credential chain (``region``, ``profile``,
    ``role_arn``; never a key in the config). Each call of the router (a read or a verb) has 90 % of
    ``timeout``; the client never retries by itself; a throttled answer is retried with a doubling
    back-off while the deadline allows, then reported.

    **state** reads the listener (or rule), the two target groups' tags and target health. Weight of
    a colour = its target group's weight as a percentage of the two; live = the colour with more
    than half (None at 50/50). Servers = the registered targets (``id:port``): UP when ``healthy``,
    DOWN otherwise (``initial``, ``unhealthy``, ``unused``, ``draining``, ``unavailable``) with the
    target's reason and description as the check; DRAIN when healthy in a drained colour.

    A forward action that is not a weighted forward to exactly the two configured target groups (a
    fixed response, a redirect, a forward to one of them only, or to a third target group) is
    reported in ``detail["problem"]``, and every verb refuses, saying what to change.

    **switch(to)** refuses when ``to`` is already at 100 %, is drained, or its target group has no
    healthy target (each target is named with its state and reason). Otherwise it rewrites the
    forward action's weights to 100 / 0 (every other action of the listener, and the forward's
    stickiness, kept as read) with ``ModifyListener`` (``ModifyRule``), then reads back and raises
    VerifyFailed unless the weights are what was written. ALB applies new weights to new requests;
    requests in flight finish on the old colour. ALB has no conditional write: the router re-reads
    just before writing and the console's second read catches a concurrent change that lands after.

    **drain(colour)** refuses the live colour. It tags the colour's target group
    ``bluegreen-console:drained`` with the time and sets its weight to 0 (when it was not). The
    targets stay registered and health-checked (warm for a rollback); the state shows the drain's
    countdown (the colour's ``detail["drain"]``, and the header's ``detail["warning"]`` until it
    is over): requests already in flight get the target group's ``deregistration_delay``.

    **ready(colour)** removes the tag; the weight stays 0 until a switch or a split gives it some.

    **set_weights** writes the split (percent as ALB weights); a colour given weight must be ready and
    have a healthy target.
    """

    kind = "alb"
    SUPPORTS_WEIGHTS = True

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self.o: AlbOptions = load_options(self.options, context)
        self.aws = AwsSession(self.o, self.kind)
        self.call = AwsCall(self.aws, "elbv2", "elasticloadbalancing", POLICY)

    @property
    def identity(self) -> str:
        """``alb LISTENER_ARN`` (and ``rule RULE_ARN``)."""
        rule = f" rule {self.o.rule_arn}" if self.o.rule_arn else ""
        return f"alb {self.o.listener_arn}{rule}"

    def _wall(self) -> float:
        clock = self.context.clock
        return clock() if callable(clock) else time.time()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        if self.o.rule_arn:
            return f"listener rule {self.o.rule_arn}"
        return f"listener {self.o.listener_arn}"

    def _actions(self) -> list[dict[str, Any]]:
        o = self.o
        if o.rule_arn:
            rules = self.call("DescribeRules", o.rule_arn, RuleArns=[o.rule_arn])["Rules"]
            if not rules:
                raise Unreachable(f"listener rule {o.rule_arn} not found; check `rule_arn`")
            return list(rules[0].get("Actions") or [])
        found = self.call("DescribeListeners", o.listener_arn, ListenerArns=[o.listener_arn])
        listeners = found["Listeners"]
        if not listeners:
            raise Unreachable(f"listener {o.listener_arn} not found; check `listener_arn`")
        return list(listeners[0].get("DefaultActions") or [])

    def _forward(self, actions: list[dict[str, Any]]) -> tuple[dict[Colour, int], str | None]:
        """The two colours' weights in the forward action, and the problem with it if any."""
        o = self.o
        kinds = [a.get("Type", "?") for a in actions]
        forwards = [a for a in actions if a.get("Type") == "forward"]
        if len(forwards) != 1:
            return {c: 0 for c in COLOURS}, (
                f"the {self._where} has no forward action (its actions: {', '.join(kinds) or 'none'})"
                "; make it a weighted forward to the blue and green target groups"
            )
        fwd = forwards[0]
        groups = (fwd.get("ForwardConfig") or {}).get("TargetGroups") or []
        if not groups and fwd.get("TargetGroupArn"):
            groups = [{"TargetGroupArn": fwd["TargetGroupArn"], "Weight": 1}]
        weights: dict[Colour, int] = {}
        strangers: list[str] = []
        for g in groups:
            arn = str(g.get("TargetGroupArn", ""))
            colour = o.colour_of(arn)
            if colour is None:
                strangers.append(tg_name(arn))
            else:
                weights[colour] = int(g.get("Weight", 1))
        missing = [c for c in COLOURS if c not in weights]
        out = {c: weights.get(c, 0) for c in COLOURS}
        if strangers:
            return out, (
                f"the {self._where} forwards to target group(s) {', '.join(strangers)}, which are "
                "neither blue nor green (`target_groups`); refusing to move weights it does not own"
            )
        if missing:
            only = ", ".join(tg_name(o.target_groups[c]) for c in COLOURS if c in weights)
            return out, (
                f"the {self._where} forwards to {only or 'no target group'} only, not a weighted "
                f"forward to both target groups; add {', '.join(tg_name(o.target_groups[c]) for c in missing)} "
                "with weight 0 (modify-listener --default-actions with a ForwardConfig), then the "
                "console moves the weights"
            )
        return out, None

    def _read(self, *, health: bool = True) -> Read:
        o = self.o
        actions = self._actions()
        weights, problem = self._forward(actions)
        arns = [o.target_groups[c] for c in COLOURS]
        tags = self.call("DescribeTags", ", ".join(tg_name(a) for a in arns), ResourceArns=arns)
        drained: dict[Colour, str] = {}
        for desc in tags.get("TagDescriptions") or []:
            colour = o.colour_of(desc.get("ResourceArn", ""))
            for tag in desc.get("Tags") or []:
                if colour is not None and tag.get("Key") == DRAINED_TAG:
                    drained[colour] = str(tag.get("Value", ""))
        read = Read(actions, weights, problem, drained)
        if health:
            for c in COLOURS:
                arn = o.target_groups[c]
                read.health[c] = list(
                    self.call("DescribeTargetHealth", arn, TargetGroupArn=arn)[
                        "TargetHealthDescriptions"
                    ]
                )
            for c in drained:
                arn = o.target_groups[c]
                attrs = self.call("DescribeTargetGroupAttributes", arn, TargetGroupArn=arn)
                for a in attrs.get("Attributes") or []:
                    if a.get("Key") == "deregistration_delay.timeout_seconds":
                        read.delay[c] = int(a.get("Value", 300))
        return read

    @staticmethod
    def _percent(weights: Mapping[Colour, int]) -> dict[Colour, int] | None:
        total = sum(weights.values())
        if total <= 0:
            return None
        blue = round(100 * weights[Colour.BLUE] / total)
        return {Colour.BLUE: blue, Colour.GREEN: 100 - blue}

    def _live(self, read: Read) -> Colour | None:
        pct = self._percent(read.weights)
        if pct is None:
            return None
        return next((c for c in COLOURS if pct[c] > 50), None)

    @staticmethod
    def _server(desc: dict[str, Any], drained: bool) -> ServerState:
        target = desc.get("Target") or {}
        name = f"{target.get('Id', '?')}:{target.get('Port', '?')}"
        health = desc.get("TargetHealth") or {}
        st = str(health.get("State", "unknown"))
        why = ", ".join(str(health[k]) for k in ("Reason", "Description") if health.get(k))
        check = f"{st}: {why}" if why else st
        if st == "healthy":
            status = ServerStatus.DRAIN if drained else ServerStatus.UP
        else:
            status = ServerStatus.DOWN
        return ServerState(name, status, check=check)

    def _state(self, read: Read) -> RouterState:
        o = self.o
        pct = self._percent(read.weights)
        now = self._wall()
        colours: dict[Colour, ColourState] = {}
        countdowns: list[str] = []  # drains whose requests in flight may still run: the header's
        for c in COLOURS:
            drained = c in read.drained
            detail = {
                "target_group": tg_name(o.target_groups[c]),
                "alb_weight": str(read.weights[c]),
            }
            if drained:
                since = _parse_time(read.drained[c])
                delay = read.delay.get(c, 300)
                if since is None:
                    detail["drain"] = f"drained ({read.drained[c]})"
                else:
                    until = since + delay
                    left = until - now
                    detail["drain"] = (
                        f"weight 0 since {_hhmmss(since)} UTC; requests in flight have until "
                        f"{_hhmmss(until)} UTC (deregistration delay {delay} s): "
                        + (f"{int(left)} s left" if left > 0 else "over")
                    )
                    if left > 0:
                        countdowns.append(
                            f"{c} drained: requests in flight have until {_hhmmss(until)} UTC "
                            f"({int(left)} s left of the deregistration delay)"
                        )
            colours[c] = ColourState(
                c,
                servers=tuple(self._server(d, drained) for d in read.health.get(c, [])),
                draining=drained,
                weight=None if pct is None else pct[c],
                detail=detail,
            )
        live = self._live(read)
        detail = {"listener": o.listener_arn}
        if o.rule_arn:
            detail["rule"] = o.rule_arn
        if read.problem:
            detail["problem"] = read.problem
        elif pct is None:
            detail["problem"] = "both target groups have weight 0: the listener serves nothing"
        elif live is None:
            detail["problem"] = "traffic is split 50/50: neither colour is live"
        if countdowns:
            detail["warning"] = "; ".join(countdowns)
        fingerprint = ";".join(
            f"{c}={read.weights[c]}{'/drained' if c in read.drained else ''}" for c in COLOURS
        )
        return RouterState(live, colours, fingerprint, detail)

    def state(self) -> RouterState:
        self.call.begin(acting=False)
        return self._state(self._read())

    # -- writing ---------------------------------------------------------------------------------

    def _refuse_problem(self, read: Read, verb: str) -> None:
        if read.problem:
            raise ActionRefused(f"{verb} refused: {read.problem}; nothing was written")

    def _gate(self, read: Read, colour: Colour, verb: str) -> None:
        descs = read.health.get(colour, [])
        if any((d.get("TargetHealth") or {}).get("State") == "healthy" for d in descs):
            return
        name = tg_name(self.o.target_groups[colour])
        if not descs:
            why = "no registered target"
        else:
            why = "; ".join(f"{s.name} {s.check}" for s in (self._server(d, False) for d in descs))
        raise ActionRefused(
            f"{verb} refused: target group {name} ({colour}) has no healthy target ({why}); "
            "nothing was written"
        )

    def _write(self, read: Read, weights: Mapping[Colour, int]) -> None:
        actions = copy.deepcopy(read.actions)
        for action in actions:
            if action.get("Type") != "forward":
                continue
            fwd = dict(action.get("ForwardConfig") or {})
            fwd["TargetGroups"] = [
                {"TargetGroupArn": self.o.target_groups[c], "Weight": int(weights[c])}
                for c in COLOURS
            ]
            action.pop("TargetGroupArn", None)
            action["ForwardConfig"] = fwd
        o = self.o
        if o.rule_arn:
            self.call("ModifyRule", o.rule_arn, RuleArn=o.rule_arn, Actions=actions)
        else:
            self.call(
                "ModifyListener", o.listener_arn, ListenerArn=o.listener_arn, DefaultActions=actions
            )

    def _verify(self, verb: str, weights: Mapping[Colour, int]) -> RouterState:
        after = self._read()
        if any(after.weights[c] != weights[c] for c in COLOURS):
            got = ", ".join(f"{c} {after.weights[c]}" for c in COLOURS)
            raise VerifyFailed(
                f"{verb} was written, but the {self._where} reads back weights {got}"
            )
        return self._state(after)

    def switch(self, to: Colour) -> RouterState:
        self.call.begin(acting=True)
        read = self._read()
        verb = f"switch to {to}"
        self._refuse_problem(read, verb)
        if read.weights[to] > 0 and read.weights[to.other] == 0:
            raise ActionRefused(f"{to} is already live on the {self._where}; nothing to do")
        if to in read.drained:
            raise ActionRefused(
                f"{verb} refused: {to} is drained; ready it first; nothing was written"
            )
        self._gate(read, to, verb)
        weights = {to: 100, to.other: 0}
        self._write(read, weights)
        return self._verify(verb, weights)

    def set_weights(self, weights: Mapping[Colour, int]) -> RouterState:
        asked = percent_split(weights)
        self.call.begin(acting=True)
        read = self._read()
        verb = f"split blue {asked[Colour.BLUE]} % / green {asked[Colour.GREEN]} %"
        self._refuse_problem(read, verb)
        for c in COLOURS:
            if asked[c] > 0:
                if c in read.drained:
                    raise ActionRefused(f"{verb} refused: {c} is drained; ready it first")
                self._gate(read, c, verb)
        if self._percent(read.weights) == asked:
            raise ActionRefused(f"the weights are already {verb[6:]}; nothing to do")
        self._write(read, asked)
        return self._verify(verb, asked)

    def drain(self, colour: Colour) -> RouterState:
        self.call.begin(acting=True)
        read = self._read(health=False)
        verb = f"drain {colour}"
        self._refuse_problem(read, verb)
        if self._live(read) is colour:
            raise ActionRefused(
                f"{verb} refused: {colour} is live on the {self._where}; switch to {colour.other} "
                f"first, then drain {colour}"
            )
        if colour in read.drained and read.weights[colour] == 0:
            raise ActionRefused(f"{colour} is already drained; nothing to do")
        arn = self.o.target_groups[colour]
        if colour not in read.drained:
            stamp = datetime.fromtimestamp(self._wall(), timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            self.call(
                "AddTags", arn, ResourceArns=[arn], Tags=[{"Key": DRAINED_TAG, "Value": stamp}]
            )
        if read.weights[colour] != 0:
            try:
                self._write(read, {colour: 0, colour.other: 100})
            except BackendError as exc:
                raise type(exc)(f"{exc} (already done: tagged {tg_name(arn)} drained)") from exc
        after = self._read()
        if colour not in after.drained or after.weights[colour] != 0:
            raise VerifyFailed(
                f"{verb} was written, but reading it back shows weight {after.weights[colour]}"
                + ("" if colour in after.drained else " and no drained tag")
            )
        return self._state(after)

    def ready(self, colour: Colour) -> RouterState:
        self.call.begin(acting=True)
        read = self._read(health=False)
        if colour not in read.drained:
            raise ActionRefused(f"{colour} is not drained; nothing to do")
        arn = self.o.target_groups[colour]
        self.call("RemoveTags", arn, ResourceArns=[arn], TagKeys=[DRAINED_TAG])
        after = self._read()
        if colour in after.drained:
            raise VerifyFailed(
                f"ready {colour} was written, but {tg_name(arn)} still reads drained"
            )
        return self._state(after)

    def close(self) -> None:
        self.aws.close()
