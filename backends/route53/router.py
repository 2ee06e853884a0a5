"""The Route 53 router: two weighted records of one name, one per colour."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from backends.aws.errors import AwsCall
from backends.aws.session import AwsSession
from backends.base import (
    COLOURS,
    ActionRefused,
    BackendContext,
    Colour,
    ColourState,
    Router,
    RouterState,
    ServerState,
    ServerStatus,
    VerifyFailed,
    percent_split,
)
from backends.route53.options import Route53Options, load_options

DRAINED_TAG = "bluegreen-console:drained:"  # + SetIdentifier, on the hosted zone: when (UTC)
POLICY = "docs/route53.md#minimal-iam-policy"
HEALTHY_SHARE = 0.18  # Route 53 calls a check healthy when more than 18 % of its checkers do
INSYNC_POLL = 0.5  # seconds between GetChange calls while a change is PENDING


@dataclass
class Read:
    """One read of everything the router decides on."""

    records: dict[Colour, dict[str, Any]]
    problem: str | None
    drained: dict[Colour, str] = field(default_factory=dict)
    health: dict[str, tuple[bool, str]] = field(default_factory=dict)  # check id -> healthy, text

    def weight(self, colour: Colour) -> int:
        rec = self.records.get(colour)
        return int(rec.get("Weight", 0)) if rec else 0

    @property
    def ttl(self) -> int | None:
        ttls = [int(r["TTL"]) for r in self.records.values() if "TTL" in r]
        return max(ttls) if ttls else None


def _hhmmss(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S")


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> float | None:
    try:
        return (
            datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        )
    except ValueError:
        return None


class Route53Router(Router):
    """Blue-green by DNS: two **weighted records** of one name and type in one hosted zone, told
    apart by their ``SetIdentifier`` (``set_identifiers``, blue and green by default).

    Client: boto3's ``route53``, from the usual credential chain (``profile``, ``role_arn``; never a
    key in the config). Each read or verb has 90 % of ``timeout``; the client never retries by itself;
    a throttled answer (``Throttling``, ``PriorRequestNotComplete``) is retried with a doubling
    back-off while the deadline allows, then reported (a change still in progress as Conflict).

    **state** lists the records of ``record_name`` and ``record_type``, the hosted zone's tags and
    the status of each record's health check. Weight = a colour's record weight as a percentage of
    the two; live = the colour with more than half. Servers = the record's values, UP (DRAIN in a
    drained colour) unless its health check fails (DOWN, with the checkers' report); a record without
    a health check has nothing to say about health, and its values count as UP. A third weighted
    record of the name (another SetIdentifier), or a missing colour, is a ``problem`` and every verb
    refuses: its answers would take a share no weight here accounts for.

    **switch(to)** refuses when ``to`` is already at 100 %, drained, or its health check fails. It
    writes both weights (100 / 0) in **one change batch** (each record DELETEd as read and CREATEd
    with only its weight changed: a record changed since the read fails the batch), reads the records back (VerifyFailed unless they show the new weights), then
    follows the change (``GetChange``) until Route 53 reports it ``INSYNC`` on its name servers, within
    the call's deadline; a change still ``PENDING`` then is followed by every later ``state`` and shown.

    DNS answers are cached: resolvers and clients may keep the old answer for the record's TTL, and
    some for longer. After any change of the weights (ours or seen at a poll), ``detail["warning"]``
    says "clients may still use the old answer until HH:MM:SS UTC" (2 x TTL), and
    :meth:`keep_warm_hint` returns 2 x TTL: keep the old colour running and ready that long.

    **drain(colour)** refuses the live colour; it tags the hosted zone
    ``bluegreen-console:drained:<SetIdentifier>`` with the time and sets the record's weight to 0 (in
    one change batch with the other's 100, when it had weight). New lookups stop returning it; cached
    answers still reach it for up to 2 x TTL (shown). **ready(colour)** removes the tag; the weight
    stays 0 until a switch or a split.
    """

    kind = "route53"
    SUPPORTS_WEIGHTS = True

    def __init__(self, options: Mapping[str, Any], context: BackendContext) -> None:
        super().__init__(options, context)
        self.o: Route53Options = load_options(self.options, context)
        self.aws = AwsSession(self.o, self.kind)
        self.call = AwsCall(self.aws, "route53", "route53", POLICY)
        self._lock = threading.Lock()
        self._ttl: int | None = None
        self._seen: tuple[int, int] | None = None  # the weights last read
        self._changed_at: float | None = None  # when the weights were last seen to change
        self._pending: tuple[str, float] | None = None  # a change not INSYNC yet, and when sent

    @property
    def identity(self) -> str:
        """``route53 ZONE NAME TYPE``."""
        o = self.o
        return f"route53 {o.hosted_zone_id} {o.record_name} {o.record_type}"

    def keep_warm_hint(self) -> float | None:
        """2 x the records' TTL (as last read): how long cached answers may still send clients to
        the colour that was live before a change. None before the first read."""
        with self._lock:
            return None if self._ttl is None else 2.0 * self._ttl

    def _wall(self) -> float:
        clock = self.context.clock
        return clock() if callable(clock) else time.time()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def _what(self) -> str:
        return f"{self.o.record_name} {self.o.record_type} in hosted zone {self.o.hosted_zone_id}"

    def _records(self) -> tuple[dict[Colour, dict[str, Any]], str | None]:
        o = self.o
        found = self.call(
            "ListResourceRecordSets",
            f"hostedzone/{o.hosted_zone_id}",
            HostedZoneId=o.hosted_zone_id,
            StartRecordName=o.record_name,
            StartRecordType=o.record_type,
            MaxItems="100",
        )
        mine: dict[Colour, dict[str, Any]] = {}
        strangers: list[str] = []
        for rec in found.get("ResourceRecordSets") or []:
            if (
                str(rec.get("Name", "")).lower() != o.record_name
                or rec.get("Type") != o.record_type
            ):
                continue
            colour = o.colour_of(rec.get("SetIdentifier"))
            if colour is not None:
                mine[colour] = rec
            else:
                sid = rec.get("SetIdentifier")
                strangers.append(
                    f"{sid!r} (weight {rec.get('Weight', '?')})"
                    if sid
                    else "a simple (unweighted) record"
                )
        if strangers:
            return mine, (
                f"{self._what} has another record besides blue and green: {', '.join(strangers)}; "
                "its answers take a share no weight here accounts for: remove it (or name it in "
                "`set_identifiers`) before the console moves traffic"
            )
        missing = [c for c in COLOURS if c not in mine]
        if missing:
            ids = ", ".join(f"{c} ({o.set_identifiers[c]!r})" for c in missing)
            return mine, f"{self._what} has no weighted record for {ids}; create it with weight 0"
        unweighted = [c for c in COLOURS if "Weight" not in mine[c]]
        if unweighted:
            return (
                mine,
                f"the {', '.join(map(str, unweighted))} record of {self._what} is not weighted",
            )
        return mine, None

    def _read(self, *, health: bool = True) -> Read:
        o = self.o
        records, problem = self._records()
        tags = self.call(
            "ListTagsForResource",
            f"hostedzone/{o.hosted_zone_id}",
            ResourceType="hostedzone",
            ResourceId=o.hosted_zone_id,
        )
        drained: dict[Colour, str] = {}
        for tag in (tags.get("ResourceTagSet") or {}).get("Tags") or []:
            key = str(tag.get("Key", ""))
            if key.startswith(DRAINED_TAG):
                colour = o.colour_of(key[len(DRAINED_TAG) :])
                if colour is not None:
                    drained[colour] = str(tag.get("Value", ""))
        read = Read(records, problem, drained)
        if health:
            for rec in records.values():
                check = rec.get("HealthCheckId")
                if check and check not in read.health:
                    read.health[check] = self._health(str(check))
        self._observe(read)
        return read

    def _health(self, check: str) -> tuple[bool, str]:
        found = self.call("GetHealthCheckStatus", f"healthcheck/{check}", HealthCheckId=check)
        obs = found.get("HealthCheckObservations") or []
        if not obs:
            return False, f"health check {check}: no checker has reported yet"
        reports = [str((o.get("StatusReport") or {}).get("Status", "")) for o in obs]
        ok = sum(1 for r in reports if r.startswith("Success"))
        healthy = ok / len(reports) > HEALTHY_SHARE
        failing = next((r for r in reports if not r.startswith("Success")), "")
        text = f"health check {check}: {ok}/{len(reports)} checkers report success"
        if failing:
            text += f" ({failing})"
        return healthy, text

    def _observe(self, read: Read) -> None:
        """Remember the TTL, and when the weights changed (for the cached-answers countdown)."""
        weights = (read.weight(Colour.BLUE), read.weight(Colour.GREEN))
        with self._lock:
            self._ttl = read.ttl
            if self._seen is not None and weights != self._seen:
                self._changed_at = self._wall()
            self._seen = weights

    def _follow(self, *, until: float) -> str | None:
        """Follow the pending change until INSYNC or ``until`` (monotonic); its status, or None."""
        with self._lock:
            pending = self._pending
        if pending is None:
            return None
        change_id, _ = pending
        status = "PENDING"
        while True:
            info = self.call("GetChange", f"change/{change_id}", Id=change_id)["ChangeInfo"]
            status = str(info.get("Status", "PENDING"))
            if status == "INSYNC":
                with self._lock:
                    if self._pending == pending:
                        self._pending = None
                return status
            if time.monotonic() + INSYNC_POLL >= until:
                return status
            time.sleep(INSYNC_POLL)

    @staticmethod
    def _percent(read: Read) -> dict[Colour, int] | None:
        total = read.weight(Colour.BLUE) + read.weight(Colour.GREEN)
        if total <= 0:
            return None
        blue = round(100 * read.weight(Colour.BLUE) / total)
        return {Colour.BLUE: blue, Colour.GREEN: 100 - blue}

    def _live(self, read: Read) -> Colour | None:
        pct = self._percent(read)
        if pct is None:
            return None
        return next((c for c in COLOURS if pct[c] > 50), None)

    def _servers(self, read: Read, colour: Colour) -> tuple[ServerState, ...]:
        rec = read.records.get(colour)
        if not rec:
            return ()
        values = [str(v.get("Value", "?")) for v in rec.get("ResourceRecords") or []]
        if rec.get("AliasTarget"):
            values = [f"alias {rec['AliasTarget'].get('DNSName', '?')}"]
        check = rec.get("HealthCheckId")
        healthy, text = (
            read.health.get(str(check), (True, "")) if check else (True, "no health check")
        )
        drained = colour in read.drained
        if not healthy:
            status = ServerStatus.DOWN
        else:
            status = ServerStatus.DRAIN if drained else ServerStatus.UP
        return tuple(ServerState(v, status, check=text) for v in values)

    def _state(self, read: Read, change: str | None = None) -> RouterState:
        o = self.o
        pct = self._percent(read)
        now = self._wall()
        ttl = read.ttl
        colours: dict[Colour, ColourState] = {}
        for c in COLOURS:
            rec = read.records.get(c) or {}
            cdetail = {
                "set_identifier": o.set_identifiers[c],
                "record_weight": str(rec.get("Weight", "none")),
            }
            if c in read.drained:
                since = _parse_time(read.drained[c])
                if since is not None and ttl is not None:
                    until = since + 2 * ttl
                    cdetail["drain"] = (
                        f"weight 0 since {_hhmmss(since)} UTC; cached answers may still send "
                        f"clients here until {_hhmmss(until)} UTC (2 x TTL {ttl} s)"
                    )
            colours[c] = ColourState(
                c,
                servers=self._servers(read, c),
                draining=c in read.drained,
                weight=None if pct is None else pct[c],
                detail=cdetail,
            )
        live = self._live(read)
        detail: dict[str, str] = {
            "record": f"{o.record_name} {o.record_type}",
            "zone": o.hosted_zone_id,
        }
        if ttl is not None:
            detail["ttl"] = f"{ttl} s"
        with self._lock:
            changed, pending = self._changed_at, self._pending
        if pending is not None:
            detail["change"] = f"{pending[0]} {change or 'PENDING'} since {_hhmmss(pending[1])} UTC"
        if read.problem:
            detail["problem"] = read.problem
        elif pct is None:
            detail["problem"] = (
                "both records have weight 0: Route 53 then answers with both equally"
            )
        elif live is None:
            detail["problem"] = "traffic is split 50/50: neither colour is live"
        if changed is not None and ttl is not None and now < changed + 2 * ttl:
            detail["warning"] = (
                f"clients may still use the old answer until {_hhmmss(changed + 2 * ttl)} UTC "
                f"(2 x TTL {ttl} s)"
            )
        fingerprint = ";".join(
            f"{c}={read.weight(c)}{'/drained' if c in read.drained else ''}" for c in COLOURS
        )
        return RouterState(live, colours, fingerprint, detail)

    def state(self) -> RouterState:
        self.call.begin(acting=False)
        read = self._read()
        status = self._follow(until=time.monotonic())  # one GetChange while a change is pending
        return self._state(read, status)

    # -- writing ---------------------------------------------------------------------------------

    def _refuse_problem(self, read: Read, verb: str) -> None:
        if read.problem:
            raise ActionRefused(f"{verb} refused: {read.problem}; nothing was written")

    def _gate(self, read: Read, colour: Colour, verb: str) -> None:
        servers = self._servers(read, colour)
        if any(s.status is not ServerStatus.DOWN for s in servers):
            return
        why = "; ".join(f"{s.name} {s.check}" for s in servers) or "no value"
        raise ActionRefused(
            f"{verb} refused: the {colour} record has no healthy answer ({why}); nothing was written"
        )

    def _write(self, read: Read, weights: Mapping[Colour, int], verb: str) -> None:
        """One change batch: for each record whose weight moves, DELETE it exactly as read and
        CREATE it with the new weight. Route 53 applies a batch all or nothing and refuses a DELETE
        whose values no longer match the record, so a record another writer changed since our
        read makes the whole batch fail (InvalidChangeBatch, reported as Conflict) and nothing is
        written: a conditional write, where an UPSERT would overwrite the other change."""
        changes = []
        for c in COLOURS:
            old = copy.deepcopy(read.records[c])
            if int(old.get("Weight", -1)) == int(weights[c]):
                continue
            new = copy.deepcopy(old)
            new["Weight"] = int(weights[c])
            changes.append({"Action": "DELETE", "ResourceRecordSet": old})
            changes.append({"Action": "CREATE", "ResourceRecordSet": new})
        if not changes:
            return
        sent = self.call(
            "ChangeResourceRecordSets",
            f"hostedzone/{self.o.hosted_zone_id} {self.o.record_name}",
            HostedZoneId=self.o.hosted_zone_id,
            ChangeBatch={"Comment": f"bluegreen-console: {verb}", "Changes": changes},
        )
        info = sent.get("ChangeInfo") or {}
        with self._lock:
            self._changed_at = self._wall()
            if info.get("Status") != "INSYNC" and info.get("Id"):
                self._pending = (str(info["Id"]).rsplit("/", 1)[-1], self._wall())
            elif info.get("Status") == "INSYNC":
                self._pending = None

    def _verify(self, verb: str, weights: Mapping[Colour, int]) -> RouterState:
        after = self._read()
        if any(after.weight(c) != weights[c] for c in COLOURS):
            got = ", ".join(f"{c} {after.weight(c)}" for c in COLOURS)
            raise VerifyFailed(f"{verb} was written, but {self._what} reads back weights {got}")
        status = self._follow(until=self.call.deadline)
        return self._state(after, status)

    def switch(self, to: Colour) -> RouterState:
        self.call.begin(acting=True)
        read = self._read()
        verb = f"switch to {to}"
        self._refuse_problem(read, verb)
        if read.weight(to) > 0 and read.weight(to.other) == 0:
            raise ActionRefused(f"{to} is already live on {self._what}; nothing to do")
        if to in read.drained:
            raise ActionRefused(
                f"{verb} refused: {to} is drained; ready it first; nothing was written"
            )
        self._gate(read, to, verb)
        weights = {to: 100, to.other: 0}
        self._write(read, weights, verb)
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
        if self._percent(read) == asked:
            raise ActionRefused(f"the weights are already {verb[6:]}; nothing to do")
        self._write(read, asked, verb)
        return self._verify(verb, asked)

    def drain(self, colour: Colour) -> RouterState:
        self.call.begin(acting=True)
        read = self._read(health=False)
        verb = f"drain {colour}"
        self._refuse_problem(read, verb)
        if self._live(read) is colour:
            raise ActionRefused(
                f"{verb} refused: {colour} is live ({self._what}); switch to {colour.other} "
                f"first, then drain {colour}"
            )
        if colour in read.drained and read.weight(colour) == 0:
            raise ActionRefused(f"{colour} is already drained; nothing to do")
        key = DRAINED_TAG + self.o.set_identifiers[colour]
        if colour not in read.drained:
            self.call(
                "ChangeTagsForResource",
                f"hostedzone/{self.o.hosted_zone_id}",
                ResourceType="hostedzone",
                ResourceId=self.o.hosted_zone_id,
                AddTags=[{"Key": key, "Value": _stamp(self._wall())}],
            )
        if read.weight(colour) != 0:
            self._write(read, {colour: 0, colour.other: 100}, verb)
        after = self._read()
        if colour not in after.drained or after.weight(colour) != 0:
            raise VerifyFailed(
                f"{verb} was written, but reading it back shows weight {after.weight(colour)}"
                + ("" if colour in after.drained else " and no drained tag")
            )
        return self._state(after, self._follow(until=self.call.deadline))

    def ready(self, colour: Colour) -> RouterState:
        self.call.begin(acting=True)
        read = self._read(health=False)
        if colour not in read.drained:
            raise ActionRefused(f"{colour} is not drained; nothing to do")
        self.call(
            "ChangeTagsForResource",
            f"hostedzone/{self.o.hosted_zone_id}",
            ResourceType="hostedzone",
            ResourceId=self.o.hosted_zone_id,
            RemoveTagKeys=[DRAINED_TAG + self.o.set_identifiers[colour]],
        )
        after = self._read()
        if colour in after.drained:
            raise VerifyFailed(
                f"ready {colour} was written, but the hosted zone still reads it drained"
            )
        return self._state(after)

    def close(self) -> None:
        self.aws.close()
