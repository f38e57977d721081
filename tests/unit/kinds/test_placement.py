"""The restore kinds' `placement`: typed keys, references that become graph edges, the old `vars` name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loadstack.kinds.placement import AuroraPlacement, CachePlacement
from loadstack.spec import load_stack

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def write_stack(tmp_path: Path, steps: dict) -> Path:
    # Specs name snapshots defined next to them (stacks/ beside snapshots/).
    (tmp_path / "snapshots").symlink_to(FIXTURES / "snapshots")
    (tmp_path / "stacks").mkdir()
    path = tmp_path / "stacks" / "placed.yaml"
    path.write_text(yaml.safe_dump({"name": "placed", "description": "d", "owner": "sre", "steps": steps}))
    return path


def test_placement_references_make_the_restore_wait_for_their_step(tmp_path):
    path = write_stack(tmp_path, {
        "network": {"kind": "terraform", "module": "network", "vars": {"cidr_block": "10.0.0.0/16"}},
        "db": {"kind": "aurora_restore", "snapshot": "fx-seeded",
               "placement": {"subnet_group": "${steps.network.outputs.db_subnet_group}",
                             "security_group_ids": "${steps.network.outputs.db_security_group_ids}"}},
        "cache": {"kind": "redis_restore", "snapshot": "fx-cache",
                  "placement": {"security_group_ids": ["${steps.network.outputs.cache_sg}"]}},
    })
    stack = load_stack(path, modules_dir=FIXTURES / "modules")
    assert stack.graph.upstream("db") == ["network"] and stack.graph.upstream("cache") == ["network"]
    assert stack.steps["db"].placement.engine == "aurora-mysql"


def test_without_placement_the_defaults_apply():
    assert AuroraPlacement().model_dump() == {"subnet_group": None, "security_group_ids": [], "engine": "aurora-mysql"}
    assert CachePlacement().resolved_security_group_ids() == []


def test_an_unresolved_reference_is_not_taken_for_ids():
    with pytest.raises(ValueError, match=r"security_group_ids: \$\{steps.n.outputs.sg\} is not resolved"):
        CachePlacement(security_group_ids="${steps.n.outputs.sg}").resolved_security_group_ids()
