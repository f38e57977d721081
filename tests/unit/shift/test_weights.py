"""loadstack.shift.weights: rates to integer weights and back, clamps that say why, checked inputs."""

from __future__ import annotations

import math

import pytest

from loadstack.shift.weights import WeightSplit, WeightSplitError, check_weight


def _split(live_qps: float = 1000.0, max_weight: int = 256, **kwargs) -> WeightSplit:
    return WeightSplit(live_qps=live_qps, max_weight=max_weight, target="HAProxy backend app", **kwargs)


def test_a_rate_becomes_the_nearest_weight_and_the_rate_it_really_sends():
    split = _split(live_qps=1000, max_weight=256)
    weights = split.weights_for(100)
    # 100 / 1000 x 256 = 25.6 -> 26 of 256: 26 / 256 x 1000 = 101.5625 QPS really sent.
    assert (weights.stack, weights.production) == (26, 230)
    assert weights.qps == pytest.approx(101.5625) and weights.wanted_qps == 100
    assert weights.share == pytest.approx(26 / 256) and not weights.clamped and weights.clamp == ""
    assert weights.live_qps == 1000


@pytest.mark.parametrize("max_weight", [256, 999, 255])
def test_weights_always_sum_to_the_scale_and_stay_within_half_a_unit(max_weight):
    split = _split(live_qps=437.0, max_weight=max_weight)
    for wanted in (0.0, 0.4, 1.0, 17.3, 100.0, 218.5, 400.0, split.max_qps):
        weights = split.weights_for(wanted)
        assert weights.stack + weights.production == max_weight
        assert 0 <= weights.stack <= max_weight - 1 and weights.production >= 1
        assert abs(weights.qps - wanted) <= split.qps_per_weight / 2 + 1e-9


def test_half_a_unit_rounds_up_the_same_way_every_time():
    split = _split(live_qps=256, max_weight=256)  # one unit of weight is exactly 1 QPS
    assert [split.weights_for(q).stack for q in (0.5, 1.5, 2.5, 2.49)] == [1, 2, 3, 2]


def test_zero_is_all_weight_on_production():
    weights = _split().weights_for(0)
    assert (weights.stack, weights.production, weights.qps, weights.clamped) == (0, 256, 0.0, False)


def test_more_than_production_can_give_is_clamped_and_says_so():
    split = _split(live_qps=512, max_weight=256)
    weights = split.weights_for(600)
    assert (weights.stack, weights.production) == (255, 1)
    assert weights.qps == pytest.approx(510) == split.max_qps
    assert weights.clamped
    assert "HAProxy backend app" in weights.clamp and "600 QPS" in weights.clamp and "at most 510" in weights.clamp
    # Exactly all live traffic would leave production at zero: clamped as well.
    assert split.weights_for(512).production == 1 and split.weights_for(512).clamped


def test_a_larger_minimum_keeps_more_on_production():
    split = _split(live_qps=100, max_weight=10, min_production_weight=3)
    weights = split.weights_for(90)
    assert (weights.stack, weights.production, weights.qps) == (7, 3, pytest.approx(70)) and weights.clamped


def test_no_live_traffic_means_no_weight_sends_anything():
    split = _split(live_qps=0)
    weights = split.weights_for(50)
    assert (weights.stack, weights.production, weights.qps) == (0, 256, 0.0)
    assert "live traffic is 0 QPS" in weights.clamp and "live_qps" in weights.clamp
    assert not split.weights_for(0).clamped


def test_the_live_estimate_can_be_updated_and_moves_the_weights():
    split = _split(live_qps=1000)
    assert split.weights_for(250).stack == 64
    split.live_qps = 500
    assert split.live_qps == 500 and split.weights_for(250).stack == 128
    with pytest.raises(WeightSplitError, match="live_qps -1"):
        split.live_qps = -1
    assert split.live_qps == 500


def test_qps_for_reads_any_weights_back():
    split = _split(live_qps=300, max_weight=999)
    assert split.qps_for(333, 666) == pytest.approx(100)
    assert split.qps_for(5, 5000) == pytest.approx(300 * 5 / 5005)  # somebody else's out-of-scale weights
    assert split.qps_for(0, 0) == 0.0
    with pytest.raises(WeightSplitError, match="stack weight -1"):
        split.qps_for(-1, 10)
    with pytest.raises(WeightSplitError, match="production weight 2.5"):
        split.qps_for(1, 2.5)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "100", True, None])
def test_bad_rates_are_refused_naming_the_target_and_the_value(bad):
    with pytest.raises(WeightSplitError, match=r"HAProxy backend app: the wanted rate .* not a finite number >= 0"):
        _split().weights_for(bad)


@pytest.mark.parametrize("bad", [-5, math.nan, math.inf, "1000"])
def test_bad_live_qps_is_refused(bad):
    with pytest.raises(WeightSplitError, match="HAProxy backend app: live_qps"):
        _split(live_qps=bad)


@pytest.mark.parametrize("bad", [0, 1, 2.0, True, None])
def test_a_scale_needs_at_least_two_units(bad):
    with pytest.raises(WeightSplitError, match="max_weight .* integer >= 2"):
        _split(max_weight=bad)


@pytest.mark.parametrize("bad", [0, 256, -1, 1.0])
def test_production_always_keeps_some_weight(bad):
    with pytest.raises(WeightSplitError, match=r"min_production_weight .* in 1\.\.255"):
        _split(min_production_weight=bad)


def test_check_weight_holds_the_target_s_range():
    assert check_weight(999, 999, "weight of tg") == 999 and check_weight(0, 999, "weight of tg") == 0
    with pytest.raises(WeightSplitError, match=r"weight of tg 1000 is not an integer in 0\.\.999"):
        check_weight(1000, 999, "weight of tg")
    for bad in (-1, 2.0, True):
        with pytest.raises(WeightSplitError, match=f"weight of tg {bad!r}"):
            check_weight(bad, 999, "weight of tg")
