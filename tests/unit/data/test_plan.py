from __future__ import annotations

import pytest

from loadstack.data.params import SeedParams
from loadstack.data.plan import allocate, plan_for


@pytest.mark.parametrize("total,weights", [(10, [1, 1, 1]), (1_000, [5, 0, 0.001, 3]), (7, [0.1] * 50), (0, [1, 2])])
def test_allocate_is_exact_and_proportional(total, weights):
    parts = allocate(total, weights)
    assert sum(parts) == total and all(p >= 0 for p in parts)
    scale = total / sum(weights)
    assert all(abs(p - w * scale) < 1.000001 for p, w in zip(parts, weights))


def test_account_sizes_and_activity_are_skewed():
    params = SeedParams(accounts=50, profiles=50_000, events=100_000)
    plan = plan_for(params)
    sizes = sorted((a.profile_count for a in plan.accounts), reverse=True)
    assert sum(sizes) == params.profiles
    assert sum(sizes[:3]) > 0.35 * params.profiles  # a few huge accounts
    assert sizes[len(sizes) // 2] < params.profiles / params.accounts / 2  # most are small
    activity = sorted(plan.profile_events, reverse=True)
    assert sum(activity) == params.events
    assert activity.count(0) > 0.15 * params.profiles  # many never active
    assert sum(activity[: params.profiles // 10]) > 0.3 * params.events  # the top 10 % do a lot


def test_account_of_finds_the_owner_of_every_profile(small_params):
    plan = plan_for(small_params)
    for account in plan.accounts:
        for profile_id in (account.first_profile, account.first_profile + account.profile_count - 1):
            assert plan.account_of(profile_id) is account
    assert plan_for(SeedParams(**small_params.as_dict())) is plan  # cached per params
