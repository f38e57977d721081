"""`Route53ShiftDriver`: live traffic moved between two weighted records of one DNS name.

Two records share a name and type in a hosted zone and differ by `SetIdentifier`: one answers with
production's addresses, the other with the stack's. Route 53 answers each query with one of them,
chosen with probability weight / sum of weights (0..255 each, AWS's range). The two weights always
sum to 255, so a unit of weight is 1/255 of the answers. Production keeps at least weight 1: when
every record of a group has weight 0, Route 53 answers as if all were equal, half onto the stack.

A weight here moves DNS answers, not requests: the traffic follows the answers only as resolvers and
clients cache and re-resolve them, so the split is statistical and the stack's rate is an estimate
(live QPS x share) that the metric source must confirm.

Every `set_rate` checks the weights itself before sending them (moto accepts 300; AWS refuses what is
outside 0..255), UPSERTs both records in one change batch (Route 53 applies a batch as a whole),
keeping every other field of each record as it was, reads them back with `list_resource_record_sets`
and fails naming the record whose weight did not take. The rate returned, and `applied_rate`, come
from the weights Route 53 reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from loadstack.ramp.traffic import TrafficDriver, TrafficDriverError
from loadstack.shift.weights import Weights, WeightSplit, check_weight

log = logging.getLogger(__name__)

MAX_WEIGHT = 255
# "Changes generally propagate to all Route 53 name servers within 60 seconds" (Route 53 developer guide,
# Editing records); until then some name servers still answer with the old weights.
PROPAGATION_S = 60.0
# An alias record has no TTL of its own: Route 53 answers with its target's. For ELB load balancers (and
# S3 website endpoints) that is a fixed 60 s (Route 53 FAQ); give alias_ttl_s for other alias targets.
ALIAS_TTL_S = 60.0


def _fqdn(name: str) -> str:
    """A DNS name as Route 53 lists it: lower case, ending with a dot."""
    return name.lower() if name.endswith(".") else name.lower() + "."


class Route53ShiftDriver(TrafficDriver):
    """Shift live traffic from the `production_set_identifier` record to the `stack_set_identifier` record
    of `record_name`/`record_type` in hosted zone `hosted_zone_id`.

    route53:       a boto3 Route 53 client (the caller builds it from the stack's profile).
    live_qps:      the live traffic the name receives, an estimate; update it through `live_qps` as it moves.
    propagation_s: seconds a change takes to reach every Route 53 name server (see PROPAGATION_S).
    alias_ttl_s:   the TTL clients see for alias records, which carry none of their own (see ALIAS_TTL_S).
    """

    def __init__(
        self,
        *,
        route53: Any,
        hosted_zone_id: str,
        record_name: str,
        record_type: str,
        production_set_identifier: str,
        stack_set_identifier: str,
        live_qps: float,
        propagation_s: float = PROPAGATION_S,
        alias_ttl_s: float = ALIAS_TTL_S,
    ) -> None:
        for what, value in (
            ("hosted_zone_id", hosted_zone_id),
            ("record_name", record_name),
            ("record_type", record_type),
            ("production_set_identifier", production_set_identifier),
            ("stack_set_identifier", stack_set_identifier),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"Route 53 shift: {what} {value!r} is empty; give the record's {what}")
        if production_set_identifier == stack_set_identifier:
            raise ValueError(
                f"Route 53 shift: production and stack are the same record {stack_set_identifier!r}; give the "
                "SetIdentifiers of two weighted records"
            )
        for what, seconds in (("propagation_s", propagation_s), ("alias_ttl_s", alias_ttl_s)):
            if seconds < 0:
                raise ValueError(f"Route 53 shift: {what} {seconds!r} must be >= 0 seconds")
        self.route53 = route53
        self.hosted_zone_id = hosted_zone_id
        self.record_name = _fqdn(record_name)
        self.record_type = record_type.upper()
        self.production_id = production_set_identifier
        self.stack_id = stack_set_identifier
        self.propagation_s = propagation_s
        self.alias_ttl_s = alias_ttl_s
        self.split = WeightSplit(
            live_qps=live_qps,
            max_weight=MAX_WEIGHT,
            target=f"Route 53 record {self.record_name} {self.record_type} in zone {hosted_zone_id}",
        )
        self.last: Weights | None = None
        self._ttl_s: float | None = None

    def __repr__(self) -> str:
        return f"Route53ShiftDriver({self.hosted_zone_id!r}, {self.record_name!r}, {self.record_type!r})"

    @property
    def live_qps(self) -> float:
        return self.split.live_qps

    @live_qps.setter
    def live_qps(self, value: float) -> None:
        self.split.live_qps = value

    @property
    def settle_s(self) -> float:
        """The records' TTL (the longer of the two) plus `propagation_s`.

        Resolvers and clients cache an answer for its TTL: a client that resolved the name just before a
        change keeps the old answer, and sends its traffic by the old weights, for up to a TTL after the
        change reached the name servers. The controller must not judge a change before then. Read from the
        records (once, then again at every change).
        """
        ttl_s = self._ttl_s if self._ttl_s is not None else self._ttl_of(self._read_records())
        return ttl_s + self.propagation_s

    # --- the TrafficDriver ----------------------------------------------------------------------------------
    def set_rate(self, qps: float) -> float:
        weights = self.split.weights_for(qps)
        if weights.clamped:
            log.warning("%s", weights.clamp)
        wanted = {self.production_id: weights.production, self.stack_id: weights.stack}
        for identifier, weight in wanted.items():
            check_weight(weight, MAX_WEIGHT, f"{self.split.target}: weight of record {identifier!r}")
        records = self._read_records()
        changes = [
            {"Action": "UPSERT", "ResourceRecordSet": {**records[identifier], "Weight": weight}}
            for identifier, weight in wanted.items()
        ]
        try:
            self.route53.change_resource_record_sets(
                HostedZoneId=self.hosted_zone_id,
                ChangeBatch={"Comment": f"loadstack shift: {weights.qps:g} QPS onto the stack", "Changes": changes},
            )
        except (ClientError, BotoCoreError) as error:
            raise TrafficDriverError(
                f"{self.split.target}: setting weights production {weights.production} / stack {weights.stack} "
                f"failed: {error}"
            ) from None
        reported = self._weights(self._read_records())
        for identifier, weight in wanted.items():
            if reported[identifier] != weight:
                raise TrafficDriverError(
                    f"{self.split.target}: record {identifier!r} reports weight {reported[identifier]} after it was "
                    f"set to {weight}; something else is changing these records: stop it and drain this ramp"
                )
        self.last = weights
        return self._qps(reported)

    def applied_rate(self) -> float:
        return self._qps(self._weights(self._read_records()))

    def drain(self) -> None:
        """All weight back on production (stack 0, production 255)."""
        self.set_rate(0.0)

    def close(self) -> None:
        """Drain; the records belong to the stack and stay."""
        self.drain()

    # --- reading back ---------------------------------------------------------------------------------------
    def _list(self) -> list[dict[str, Any]]:
        """Every record of the name and type (all set identifiers), following the pages."""
        found: list[dict[str, Any]] = []
        start: dict[str, str] = {"StartRecordName": self.record_name, "StartRecordType": self.record_type}
        try:
            while True:
                page = self.route53.list_resource_record_sets(HostedZoneId=self.hosted_zone_id, **start)
                for record in page["ResourceRecordSets"]:
                    if _fqdn(record["Name"]) == self.record_name and record["Type"] == self.record_type:
                        found.append(record)
                next_name, next_type = page.get("NextRecordName"), page.get("NextRecordType")
                if not page.get("IsTruncated") or next_name is None or _fqdn(next_name) != self.record_name:
                    return found
                if next_type != self.record_type:
                    return found
                following = {"StartRecordName": next_name, "StartRecordType": next_type}
                if page.get("NextRecordIdentifier"):
                    following["StartRecordIdentifier"] = page["NextRecordIdentifier"]
                if following == start:
                    # Within one name only the identifier moves a page on; without it the same page comes back.
                    raise TrafficDriverError(
                        f"{self.split.target}: listing its records returned the same page again (no "
                        "NextRecordIdentifier); the records cannot be read completely"
                    )
                start = following
        except (ClientError, BotoCoreError) as error:
            raise TrafficDriverError(
                f"{self.split.target}: listing its records failed: {error}; check the zone id and the profile"
            ) from None

    def _read_records(self) -> dict[str, dict[str, Any]]:
        """The production and stack records by SetIdentifier; refreshes the TTL settle_s is made of."""
        by_id: dict[str, list[dict[str, Any]]] = {}
        for record in self._list():
            by_id.setdefault(record.get("SetIdentifier", ""), []).append(record)
        records = {}
        for identifier in (self.production_id, self.stack_id):
            matches = by_id.get(identifier, [])
            if len(matches) != 1:
                raise TrafficDriverError(
                    f"{self.split.target}: {len(matches)} records with SetIdentifier {identifier!r} (found "
                    f"{sorted(by_id)}); a shift needs exactly one weighted record for production and one for the stack"
                )
            record = matches[0]
            if "Weight" not in record:
                raise TrafficDriverError(
                    f"{self.split.target}: record {identifier!r} is not a weighted record (no Weight); make both "
                    "records weighted"
                )
            records[identifier] = record
        self._ttl_s = self._ttl_of(records)
        return records

    def _ttl_of(self, records: Mapping[str, Mapping[str, Any]]) -> float:
        """The longest TTL of the records: a client may hold either answer that long."""
        return max(self._ttl(record) for record in records.values())

    def _ttl(self, record: Mapping[str, Any]) -> float:
        if "TTL" in record:
            return float(record["TTL"])
        if "AliasTarget" in record:
            return self.alias_ttl_s
        raise TrafficDriverError(
            f"{self.split.target}: record {record.get('SetIdentifier')!r} has neither a TTL nor an alias target"
        )

    def _weights(self, records: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
        return {identifier: int(record["Weight"]) for identifier, record in records.items()}

    def _qps(self, weights: Mapping[str, int]) -> float:
        return self.split.qps_for(weights[self.stack_id], weights[self.production_id])
