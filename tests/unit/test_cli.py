from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from loadstack.cli import main, parse_durations

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad_specs"


def test_validate_ok(capsys):
    assert main(["validate", str(ROOT / "include" / "stacks")]) == 0
    assert "shop.yaml: ok (6 steps)" in capsys.readouterr().out


def test_validate_prints_every_error_and_exits_1(tmp_path, capsys):
    # Specs resolve modules next to their folder: give the copies the fixture modules.
    shutil.copytree(ROOT / "tests" / "fixtures" / "modules", tmp_path / "terraform")
    (tmp_path / "stacks").mkdir()
    for name in ("many_errors.yaml", "cycle.yaml"):
        shutil.copy(BAD / name, tmp_path / "stacks" / name)
    shutil.copy(ROOT / "tests" / "fixtures" / "good_specs" / "storefront.yaml", tmp_path / "stacks" / "storefront.yaml")
    assert main(["validate", str(tmp_path / "stacks")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/stacks/cycle.yaml: steps: cycle: a -> b -> c -> a" in err
    assert f"{tmp_path}/stacks/many_errors.yaml: ttl: 'soon' is not a duration" in err
    assert err.count("many_errors.yaml:") == 5
    assert "2 of 3 spec(s) invalid" in err


def test_validate_no_files(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 1
    assert "no spec files found" in capsys.readouterr().err


FIXTURE = ROOT / "tests" / "fixtures" / "good_specs" / "storefront.yaml"


def test_graph_prints_levels_edges_and_critical_path(tmp_path, capsys):
    shutil.copytree(ROOT / "tests" / "fixtures" / "modules", tmp_path / "terraform")
    (tmp_path / "stacks").mkdir()
    spec = shutil.copy(FIXTURE, tmp_path / "stacks" / "storefront.yaml")
    assert main(["graph", str(spec), "--durations", "network=12,mail=95,app=80"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "stack storefront: 3 steps, 2 levels",
        "level 0: network",
        "level 1: app, mail",
        "edges:",
        "  network -> app",
        "  network -> mail",
        "critical path: network -> mail (107s; all steps in sequence: 187s)",
    ]


def test_graph_missing_duration_is_an_error(capsys):
    assert main(["graph", str(ROOT / "include" / "stacks" / "shop.yaml"), "--durations", "network=1"]) == 1
    assert "no duration for step(s): app_cluster, cache, events_db, mail_dumpster, seed_events" in capsys.readouterr().err


def test_durations_from_json_file(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"a": 1, "b": 2.5}')
    assert parse_durations(str(path)) == {"a": 1.0, "b": 2.5}


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "loadstack"
    result = subprocess.run([str(exe), "validate", "-q", str(ROOT / "include" / "stacks")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
