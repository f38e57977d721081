"""Fixtures for the completion-handler tests (Airflow fixtures live in tests/conftest.py)."""

from __future__ import annotations

import dataclasses

import pytest


@pytest.fixture
def moto_profile(tmp_path):
    """The local profile without a moto server endpoint, for use inside `moto.mock_aws`."""
    from loadstack.profiles import load_profile

    profile = load_profile({"LOADSTACK_PROFILE": "local", "LOADSTACK_HOME": str(tmp_path)})
    return dataclasses.replace(profile, endpoint_url=None)


@pytest.fixture
def aws(moto_profile):
    """Everything AWS inside moto's in-memory backend; yields the profile to build clients from."""
    from moto import mock_aws

    with mock_aws():
        yield moto_profile
