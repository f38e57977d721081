"""loadstack.shift.route53 against moto in-process: two weighted records of one name, UPSERTed, read back."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
import pytest

from loadstack.ramp.traffic import TrafficDriverError
from loadstack.shift.route53 import ALIAS_TTL_S, MAX_WEIGHT, PROPAGATION_S, Route53ShiftDriver
from loadstack.shift.weights import WeightSplit, WeightSplitError

REGION = "us-east-1"
NAME = "www.shop.example"
ADDRESSES = {"prod": "10.0.1.10", "stack": "10.0.2.10"}


@dataclass
class Zone:
    route53: object
    zone_id: str

    def put(self, identifier: str, weight: int, *, ttl: int = 30, action: str = "UPSERT", name: str = NAME) -> None:
        record = {
            "Name": name,
            "Type": "A",
            "SetIdentifier": identifier,
            "Weight": weight,
            "TTL": ttl,
            "ResourceRecords": [{"Value": ADDRESSES.get(identifier, "10.0.9.9")}],
        }
        self.route53.change_resource_record_sets(
            HostedZoneId=self.zone_id, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record}]}
        )

    def records(self, name: str = NAME) -> list[dict]:
        found = self.route53.list_resource_record_sets(HostedZoneId=self.zone_id)["ResourceRecordSets"]
        return [r for r in found if r["Name"] == name + "." and r["Type"] == "A"]

    def weights(self) -> dict[str, int]:
        return {r["SetIdentifier"]: r["Weight"] for r in self.records()}

    def driver(self, live_qps: float = 255.0, **kwargs) -> Route53ShiftDriver:
        arguments = {
            "route53": self.route53,
            "hosted_zone_id": self.zone_id,
            "record_name": NAME,
            "record_type": "A",
            "production_set_identifier": "prod",
            "stack_set_identifier": "stack",
            "live_qps": live_qps,
            **kwargs,
        }
        return Route53ShiftDriver(**arguments)


@pytest.fixture
def zone(mocked_aws) -> Zone:
    """A hosted zone with NAME's weighted records prod (255) and stack (0), TTL 30 s, and a record of another
    name, all in moto's memory."""
    route53 = boto3.client("route53", region_name=REGION)
    zone_id = route53.create_hosted_zone(Name="shop.example", CallerReference="shift-test")["HostedZone"]["Id"]
    found = Zone(route53, zone_id)
    found.put("prod", MAX_WEIGHT, action="CREATE")
    found.put("stack", 0, action="CREATE")
    found.put("prod", 7, action="CREATE", name="api.shop.example")
    return found


def test_set_rate_upserts_both_weights_keeps_the_records_and_returns_what_they_send(zone):
    driver = zone.driver(live_qps=510.0)  # one unit of 255 is 2 QPS
    assert driver.applied_rate() == 0.0
    assert driver.set_rate(101.0) == pytest.approx(102.0)  # 50.5 units -> 51
    assert zone.weights() == {"prod": 204, "stack": 51}
    # UPSERT changed the weight only: no duplicate record, TTL and addresses as they were.
    assert sorted((r["SetIdentifier"], r["TTL"], r["ResourceRecords"][0]["Value"]) for r in zone.records()) == [
        ("prod", 30, ADDRESSES["prod"]),
        ("stack", 30, ADDRESSES["stack"]),
    ]
    assert driver.applied_rate() == pytest.approx(102.0)
    assert zone.records("api.shop.example")[0]["Weight"] == 7  # another name is left alone


def test_applied_rate_is_read_from_the_records_not_from_what_was_asked(zone):
    driver = zone.driver(live_qps=255.0)
    driver.set_rate(100.0)
    zone.put("stack", 155)  # somebody else moves the stack's weight: 155 against 155
    assert driver.applied_rate() == pytest.approx(127.5)
    driver.live_qps = 510.0
    assert driver.applied_rate() == pytest.approx(255.0)


def test_drain_puts_all_weight_back_on_production(zone):
    driver = zone.driver()
    driver.set_rate(200.0)
    driver.drain()
    assert zone.weights() == {"prod": MAX_WEIGHT, "stack": 0}
    driver.close()
    assert zone.weights() == {"prod": MAX_WEIGHT, "stack": 0} and driver.applied_rate() == 0.0


def test_more_than_the_live_traffic_is_clamped_and_production_keeps_a_unit(zone, caplog):
    """All records at weight 0 would be answered as if equal: production never goes below 1."""
    driver = zone.driver(live_qps=255.0)
    with caplog.at_level("WARNING", logger="loadstack.shift.route53"):
        assert driver.set_rate(1000.0) == pytest.approx(254.0)
    assert zone.weights() == {"prod": 1, "stack": 254}
    assert "1000 QPS wanted" in caplog.text and NAME in caplog.text


def test_settle_is_the_longest_ttl_plus_propagation_read_from_the_records(zone):
    """Resolvers cache an answer for its TTL, so a change reaches traffic a TTL after it reached Route 53."""
    driver = zone.driver()
    assert driver.settle_s == 30 + PROPAGATION_S == 90.0
    zone.put("stack", 0, ttl=120)
    assert driver.settle_s == 90.0  # read once; read again at the next change
    driver.set_rate(10.0)
    assert driver.settle_s == 120 + PROPAGATION_S
    assert zone.driver(propagation_s=0).settle_s == 120.0


def test_alias_records_settle_by_the_alias_ttl(zone):
    for identifier, weight in (("prod", 200), ("stack", 55)):
        alias = {
            "Name": "lb.shop.example",
            "Type": "A",
            "SetIdentifier": identifier,
            "Weight": weight,
            "AliasTarget": {
                "HostedZoneId": "Z35SXDOTRQ7X7K",
                "DNSName": f"{identifier}-1.{REGION}.elb.amazonaws.com",
                "EvaluateTargetHealth": False,
            },
        }
        zone.route53.change_resource_record_sets(
            HostedZoneId=zone.zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": alias}]}
        )
    driver = zone.driver(record_name="lb.shop.example", live_qps=255.0)
    assert driver.settle_s == ALIAS_TTL_S + PROPAGATION_S
    assert driver.applied_rate() == pytest.approx(55.0)
    assert driver.set_rate(30.0) == pytest.approx(30.0)
    assert "AliasTarget" in zone.records("lb.shop.example")[0]
    assert zone.driver(record_name="lb.shop.example", alias_ttl_s=5.0, propagation_s=0).settle_s == 5.0


def test_names_are_matched_as_route53_lists_them(zone):
    driver = zone.driver(record_name="WWW.Shop.Example.", record_type="a")
    assert driver.set_rate(51.0) == pytest.approx(51.0)
    assert zone.weights() == {"prod": 204, "stack": 51}


def test_weights_outside_aws_range_are_refused_before_anything_is_sent(zone):
    """moto accepts weight 300; AWS refuses what is outside 0..255, so the driver checks."""
    driver = zone.driver()
    driver.split = WeightSplit(live_qps=255.0, max_weight=1000, target="a wrong scale")
    with pytest.raises(WeightSplitError, match=r"weight of record 'prod' 1000 is not an integer in 0\.\.255"):
        driver.drain()
    assert zone.weights() == {"prod": MAX_WEIGHT, "stack": 0}


def test_a_weight_that_did_not_take_is_an_error_naming_the_record(zone):
    class SwallowingRoute53:
        """Accepts the change and drops the stack's part of it."""

        def __init__(self, real):
            self.real = real

        def list_resource_record_sets(self, **kwargs):
            return self.real.list_resource_record_sets(**kwargs)

        def change_resource_record_sets(self, *, HostedZoneId, ChangeBatch):
            changes = [c for c in ChangeBatch["Changes"] if c["ResourceRecordSet"]["SetIdentifier"] != "stack"]
            return self.real.change_resource_record_sets(
                HostedZoneId=HostedZoneId, ChangeBatch={**ChangeBatch, "Changes": changes}
            )

    driver = zone.driver()
    driver.route53 = SwallowingRoute53(zone.route53)
    with pytest.raises(TrafficDriverError, match="record 'stack' reports weight 0 after it was set to 100"):
        driver.set_rate(100.0)


def test_a_missing_record_is_an_error_naming_it(zone):
    with pytest.raises(
        TrafficDriverError, match=r"0 records with SetIdentifier 'canary' \(found \['prod', 'stack'\]\)"
    ):
        zone.driver(stack_set_identifier="canary").set_rate(10.0)


def test_a_duplicated_record_is_an_error(zone):
    """moto stores a second CREATE of the same SetIdentifier as a duplicate (AWS refuses it)."""
    zone.put("stack", 3, action="CREATE")
    with pytest.raises(TrafficDriverError, match="2 records with SetIdentifier 'stack'"):
        zone.driver().applied_rate()


def test_a_record_that_is_not_weighted_is_refused(zone):
    zone.route53.change_resource_record_sets(
        HostedZoneId=zone.zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {
                        "Name": "plain.shop.example",
                        "Type": "A",
                        "SetIdentifier": "prod",
                        "TTL": 30,
                        "ResourceRecords": [{"Value": "10.0.0.1"}],
                        "Region": REGION,
                    },
                }
            ]
        },
    )
    zone.put("stack", 0, name="plain.shop.example")
    with pytest.raises(TrafficDriverError, match="record 'prod' is not a weighted record"):
        zone.driver(record_name="plain.shop.example").applied_rate()


def test_an_unknown_zone_is_an_error_naming_it(zone):
    driver = zone.driver(hosted_zone_id="ZNOSUCHZONE")
    with pytest.raises(TrafficDriverError, match=r"zone ZNOSUCHZONE: listing its records failed: .*NoSuchHostedZone"):
        driver.applied_rate()


def test_a_listing_that_does_not_advance_is_an_error_not_a_loop(zone):
    """Within one name only NextRecordIdentifier moves a listing on; moto leaves it out (seen with MaxItems 1)."""

    class OneByOne:
        def __init__(self, real):
            self.real = real

        def list_resource_record_sets(self, **kwargs):
            return self.real.list_resource_record_sets(MaxItems="1", **kwargs)

    driver = zone.driver()
    driver.route53 = OneByOne(zone.route53)
    with pytest.raises(TrafficDriverError, match="returned the same page again"):
        driver.applied_rate()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"hosted_zone_id": ""}, "hosted_zone_id '' is empty"),
        ({"record_type": None}, "record_type None is empty"),
        ({"stack_set_identifier": "prod"}, "the same record 'prod'"),
        ({"propagation_s": -1}, "propagation_s -1"),
        ({"alias_ttl_s": -5}, "alias_ttl_s -5"),
        ({"live_qps": -1}, "live_qps -1"),
    ],
)
def test_bad_arguments_are_refused_naming_them(change, message):
    arguments = {
        "route53": None,
        "hosted_zone_id": "Z1",
        "record_name": NAME,
        "record_type": "A",
        "production_set_identifier": "prod",
        "stack_set_identifier": "stack",
        "live_qps": 100.0,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        Route53ShiftDriver(**arguments)
