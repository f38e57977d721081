from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loadstack.cli import main, parse_durations

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "fixtures" / "bad_specs"


def test_validate_ok(capsys):
    assert main(["validate", str(ROOT / "include" / "stacks")]) == 0
    assert "shop.yaml: ok (8 steps)" in capsys.readouterr().out


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


def test_validate_goes_on_after_a_file_loadstack_crashes_on(tmp_path, monkeypatch, capsys):
    """An unexpected exception on one file is one line naming it as a loadstack bug; the others are still validated."""
    from loadstack import cli

    good_a, good_b = ROOT / "include" / "stacks" / "shop.yaml", ROOT / "include" / "stacks" / "shop_capacity.yaml"
    bad = tmp_path / "crashes.yaml"
    bad.write_text("name: crashes\n")
    real = cli.load_stack

    def load(path, **kwargs):
        if Path(path) == bad:
            raise RuntimeError("unexpected\nsecond line")
        return real(path, **kwargs)

    monkeypatch.setattr(cli, "load_stack", load)
    assert main(["validate", str(good_a), str(bad), str(good_b)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{good_a}: ok (8 steps)", f"{good_b}: ok ({len(real(good_b).steps)} steps)"]
    assert err.splitlines() == [
        (
            f"{bad}: loadstack failed on this file (RuntimeError: unexpected\\nsecond line); "
            "this is a loadstack bug — please report it"
        ),
        "1 of 3 spec(s) invalid",
    ]


def test_validate_goes_on_after_an_invalid_file(tmp_path, capsys):
    good = ROOT / "include" / "stacks" / "shop.yaml"
    bad = tmp_path / "stacks" / "cycle.yaml"
    bad.parent.mkdir()
    shutil.copytree(ROOT / "tests" / "fixtures" / "modules", tmp_path / "terraform")
    shutil.copy(BAD / "cycle.yaml", bad)
    assert main(["validate", str(good), str(bad), str(good)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{good}: ok (8 steps)"] * 2
    assert f"{bad}: steps: cycle: a -> b -> c -> a" in err and "1 of 3 spec(s) invalid" in err


def _spec(name: str, steps: str) -> str:
    return f"name: {name}\ndescription: d\nowner: sre\nsteps:\n{textwrap.indent(textwrap.dedent(steps), '  ')}"


def _crashers(folder: Path) -> list[Path]:
    """Malformed specs of different crash classes (decoding, parser depth, aliases, unexpected types)."""
    laughs = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    laughs += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]
    files = {
        "not_utf8.yaml": (
            _spec("not_utf8", "network: {kind: terraform, module: network}\n").encode() + b"tags: [caf\xe9, \xff\xfe]\n"
        ),
        "utf16.yaml": _spec("utf16", "network: {kind: terraform, module: network}\n").encode("utf-16"),
        "deep_nesting.yaml": b"name: deep_nesting\ntags: " + b"[" * 50_000 + b"\n",
        "billion_laughs.yaml": ("\n".join(laughs) + "\n" + _spec(
            "billion_laughs", "network: {kind: terraform, module: network, vars: {lols: *lol9}}\n"
        )).encode(),
        "recursive_alias.yaml": _spec(
            "recursive_alias", "network: &net\n  kind: terraform\n  module: network\n  vars: {again: *net}\n"
        ).encode(),
        "kind_is_a_list.yaml": _spec("kind_is_a_list", "network: {kind: [a], module: network}\n").encode(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in files]


def test_validate_cli_survives_malformed_specs_of_every_crash_class(tmp_path):
    """The real CLI in a subprocess (a crash in C code or a hang would end it, not this test run), on all the
    files in one call: every file gets its line(s), no traceback, exit 1, in bounded time."""
    shutil.copytree(ROOT / "tests" / "fixtures" / "modules", tmp_path / "terraform")
    files = _crashers(tmp_path / "stacks")
    good = shutil.copy(FIXTURE, tmp_path / "stacks" / "storefront.yaml")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "loadstack.cli", "validate", *map(str, files), str(good)],
            capture_output=True, text=True, errors="replace", timeout=60, cwd=tmp_path, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"loadstack validate did not finish within 60 s: {exc.stderr!r:.2000}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "Traceback" not in output, output[-4000:]
    lines = output.splitlines()
    for path in files:
        assert any(line.startswith(f"{path}: ") for line in lines), f"no line for {path.name}:\n{output[-4000:]}"
    assert f"{good}: ok (3 steps)" in lines
    assert f"{len(files)} of {len(files) + 1} spec(s) invalid" in lines
    assert all(len(line) < 2000 for line in lines), max(lines, key=len)[:300]


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
    assert "no duration for step(s): app, app_cluster, cache, events_db, mail_dumpster, seed_events, surge" in capsys.readouterr().err


def test_durations_from_json_file(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"a": 1, "b": 2.5}')
    assert parse_durations(str(path)) == {"a": 1.0, "b": 2.5}


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "loadstack"
    result = subprocess.run([str(exe), "validate", "-q", str(ROOT / "include" / "stacks")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- run / runs: through loadstack.rest_client against the fake api-server of tests/unit/conftest.py ---
def _api_flags(fake, passwords) -> list[str]:
    return ["--api-url", fake.url, "--password-file", str(passwords), "--poll", "0.01"]


def test_run_triggers_follows_and_exits_0_on_success(fake_airflow, capsys):
    fake, passwords = fake_airflow
    fake.add_dag("shop")
    fake.frames = [("running", {("app.apply", -1): ("running", 1)}), ("success", {("app.apply", -1): ("success", 1)})]
    assert main(["run", "shop", "--conf", '{"users": 3}', "--timeout", "30", *_api_flags(fake, passwords)]) == 0
    out = capsys.readouterr().out
    assert "triggered run manual__" in out and 'with conf {"users": 3}' in out and "succeeded in" in out
    assert fake.calls("POST", "/api/v2/dags/shop/dagRuns")[0][2]["conf"] == {"users": 3}


def test_run_exits_1_when_the_run_fails(fake_airflow, capsys):
    fake, passwords = fake_airflow
    fake.add_dag("shop", is_paused=False)
    fake.frames = [("failed", {("app.apply", -1): ("failed", 1)})]
    fake.logs["app.apply"] = ["terraform apply failed: quota"]
    assert main(["run", "shop", *_api_flags(fake, passwords)]) == 1
    err = capsys.readouterr().err
    assert "ended failed" in err and "terraform apply failed: quota" in err


def test_run_rejects_bad_conf_before_calling_airflow(fake_airflow, capsys):
    fake, passwords = fake_airflow
    assert main(["run", "shop", "--conf", "[1, 2]", *_api_flags(fake, passwords)]) == 2
    assert "--conf must be a JSON object, not list" in capsys.readouterr().err
    assert main(["run", "shop", "--conf", "{users: 3}", *_api_flags(fake, passwords)]) == 2
    assert "--conf is not valid JSON" in capsys.readouterr().err
    assert fake.requests == []


def test_run_names_the_password_file_it_cannot_read(tmp_path, capsys):
    missing = tmp_path / "passwords.json"
    assert main(["run", "shop", "--api-url", "http://127.0.0.1:9", "--password-file", str(missing)]) == 1
    assert f"password file {missing}: cannot read the password of 'admin'" in capsys.readouterr().err


def test_runs_lists_the_latest_runs_first(fake_airflow, capsys):
    fake, passwords = fake_airflow
    fake.add_dag("shop")
    assert main(["runs", "shop", "--api-url", fake.url, "--password-file", str(passwords)]) == 0
    assert capsys.readouterr().out == "no runs of shop\n"
    fake.frames = [("success", {})]
    assert main(["run", "shop", *_api_flags(fake, passwords)]) == 0
    assert main(["run", "shop", *_api_flags(fake, passwords)]) == 0
    capsys.readouterr()
    assert main(["runs", "shop", "--api-url", fake.url, "--password-file", str(passwords)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run_id", "state", "started", "ended", "duration"]
    assert [line.split()[0] for line in lines[1:]] == sorted(fake.runs, reverse=True)
    assert all(line.split()[1] == "success" and "2026-01-02 03:04:05" in line for line in lines[1:])


# --- ramp: status / pause / resume / terminate through the fake api-server's task state store ---
def _ramp_flags(fake, passwords) -> list[str]:
    return ["--api-url", fake.url, "--password-file", str(passwords)]


def _running_ramp(fake) -> None:
    fake.add_dag("shop")
    fake.add_run("shop", "r1", "running")
    fake.frames = [("running", {("surge.gate_app", -1): ("success", 1), ("surge.ramp", -1): ("running", 1)})]


def test_ramp_pause_resume_terminate_write_numbered_records(fake_airflow, capsys):
    fake, passwords = fake_airflow
    _running_ramp(fake)
    assert main(["ramp", "pause", "shop", "--reason", "look at the dashboards", *_ramp_flags(fake, passwords)]) == 0
    assert capsys.readouterr().out == (
        "pause sent to shop run r1 task surge.ramp (running) (seq 1); the ramp applies it at its next tick\n"
    )
    record = fake.task_state[("shop", "r1", "surge.ramp", "control")]
    assert (record["action"], record["seq"], record["reason"]) == ("pause", 1, "look at the dashboards")
    assert main(["ramp", "resume", "shop", "--step", "surge", *_ramp_flags(fake, passwords)]) == 0
    assert main(["ramp", "terminate", "shop", "--run", "r1", *_ramp_flags(fake, passwords)]) == 0
    assert "terminate sent to shop run r1 task surge.ramp (running) (seq 3)" in capsys.readouterr().out
    record = fake.task_state[("shop", "r1", "surge.ramp", "control")]
    assert (record["action"], record["seq"], record["reason"]) == ("terminate", 3, "terminate from the command line")


def test_ramp_status_prints_the_status_and_the_record_in_force(fake_airflow, capsys):
    fake, passwords = fake_airflow
    _running_ramp(fake)
    assert main(["ramp", "status", "shop", *_ramp_flags(fake, passwords)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "shop run r1 task surge.ramp (running)",
        "status:  none published yet",
        "control: none (running freely)",
    ]
    fake.task_state[("shop", "r1", "surge.ramp", "status")] = {"phase": "holding", "stage": 3}
    fake.task_state[("shop", "r1", "surge.ramp", "control")] = {"action": "resume", "seq": 2, "at": 1.0}
    assert main(["ramp", "status", "shop", *_ramp_flags(fake, passwords)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ['status:  {"phase": "holding", "stage": 3}', 'control: {"action": "resume", "at": 1.0, "seq": 2}']
    assert fake.calls("PUT", ".*") == []  # status only reads


def test_ramp_commands_exit_1_with_a_clear_message(fake_airflow, capsys, tmp_path):
    fake, passwords = fake_airflow
    fake.add_dag("shop")
    fake.add_run("shop", "r1", "success")
    fake.frames = [("success", {("surge.ramp", -1): ("success", 1)})]
    assert main(["ramp", "pause", "shop", *_ramp_flags(fake, passwords)]) == 1
    assert capsys.readouterr().err == (
        "loadstack ramp pause: shop has no running run: give --run RUN_ID to address a finished one\n"
    )
    assert main(["ramp", "status", "shop", "--run", "r1", "--step", "soak", *_ramp_flags(fake, passwords)]) == 1
    assert capsys.readouterr().err == "loadstack ramp status: run r1 of shop has no task soak.ramp\n"
    assert main(["ramp", "terminate", "nope", *_ramp_flags(fake, passwords)]) == 1
    assert "loadstack ramp terminate: GET /api/v2/dags/nope/dagRuns -> HTTP 404: Dag with id nope was not found" in (
        capsys.readouterr().err
    )
    missing = tmp_path / "none.json"
    assert main(["ramp", "resume", "shop", "--api-url", fake.url, "--password-file", str(missing)]) == 1
    assert f"loadstack ramp resume: password file {missing}: cannot read the password" in capsys.readouterr().err
    assert fake.task_state == {}


# --- loadstack ls ----------------------------------------------------------------------------------
@pytest.fixture
def registry_env(mocked_aws, monkeypatch, tmp_path):
    """The aws profile on moto's in-process S3, its state bucket made: what `loadstack ls` reads."""
    from loadstack.profiles import load_profile

    for name, value in {"LOADSTACK_PROFILE": "aws", "LOADSTACK_STATE_BUCKET": "ls-state",
                        "LOADSTACK_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    profile = load_profile()
    profile.client("s3").create_bucket(Bucket="ls-state")
    return profile


def test_ls_tabulates_the_registry(registry_env, capsys):
    from datetime import UTC, datetime, timedelta

    from loadstack.stack_registry import StackRegistry

    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    registry = StackRegistry(registry_env, clock=lambda: started)
    registry.register(stack="shop", variant="minimal", run_id="manual__1", owner="sre-load", ttl=timedelta(hours=8),
                      teardown_dag="shop__teardown")
    registry.register(stack="web", variant="production", run_id="manual__2", owner="web-team",
                      ttl=timedelta(hours=1), teardown_dag="web__teardown")
    registry.mark_tearing_down("web", reason="expired", teardown_run="r1")
    registry.mark_teardown_failed("web", reason="web.destroy failed")

    assert main(["ls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STACK", "PROFILE", "VARIANT", "OWNER", "CREATED", "EXPIRES", "STATUS"]
    assert lines[1].split()[:4] == ["shop", "aws", "minimal", "sre-load"]
    assert f"{started:%Y-%m-%d %H:%M}" in lines[1]
    assert f"{started + timedelta(hours=8):%Y-%m-%d %H:%M} (expires in 5h59m)" in lines[1] or "(expires in 6h00m)" in lines[1]
    assert lines[1].rstrip().endswith("up")
    assert lines[2].split()[:4] == ["web", "aws", "production", "web-team"]
    assert "(expired 1h00m ago)" in lines[2] or "(expired 1h01m ago)" in lines[2]
    assert lines[2].rstrip().endswith("teardown_failed: web.destroy failed")
    assert len(lines) == 3


def test_ls_says_when_nothing_is_up(registry_env, capsys):
    assert main(["ls"]) == 0
    assert capsys.readouterr().out == "no stacks are up (registry: s3://ls-state/loadstack/registry/)\n"


def test_ls_reports_an_unreachable_registry(registry_env, monkeypatch, capsys):
    monkeypatch.setenv("LOADSTACK_STATE_BUCKET", "no-such-bucket")
    assert main(["ls"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("loadstack ls: ") and "NoSuchBucket" in err


def test_ls_names_a_bad_profile(monkeypatch, capsys):
    monkeypatch.setenv("LOADSTACK_PROFILE", "aws")
    monkeypatch.delenv("LOADSTACK_STATE_BUCKET", raising=False)
    assert main(["ls"]) == 1
    assert "LOADSTACK_PROFILE=aws needs LOADSTACK_STATE_BUCKET" in capsys.readouterr().err


# --- loadstack history -----------------------------------------------------------------------------
def test_history_lists_the_newest_runs_first(registry_env, capsys):
    from datetime import UTC, datetime, timedelta

    from loadstack.run_history import RampResult, RunHistory, RunRecord

    history = RunHistory(registry_env)
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    for day, outcome in enumerate(["pass", "fail", "pass"]):
        at = start + timedelta(days=day)
        history.record(RunRecord(
            stack="shop", run_id=f"scheduled__{day}", run_type="scheduled", variant="minimal", outcome=outcome,
            started_at=at, ended_at=at + timedelta(minutes=8), spin_up_s=None if outcome == "fail" else 388.2,
            failed_tasks=("app_cluster.apply",) if outcome == "fail" else (),
            ramps=() if outcome == "fail" else (RampResult("surge", "done"),), teardown="torn_down"))

    assert main(["history", "shop", "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STARTED", "TYPE", "VARIANT", "OUTCOME", "FAILED", "AT", "SPIN-UP", "RAMP",
                                "TEARDOWN", "RUN"]
    assert lines[1].split() == ["2026-12-03", "02:00", "scheduled", "minimal", "PASS", "-", "6m28s", "surge:",
                                "done", "torn_down", "scheduled__2"]
    assert lines[2].split() == ["2026-12-02", "02:00", "scheduled", "minimal", "FAIL", "app_cluster.apply", "-", "-",
                                "torn_down", "scheduled__1"]
    assert lines[3] == "2 of 3 runs shown, 1 passed; page: s3://loadstack-reports/reports/shop/index.html"


def test_history_says_when_nothing_is_recorded(registry_env, capsys):
    assert main(["history", "shop"]) == 0
    assert capsys.readouterr().out == "no runs of shop recorded (history: s3://ls-state/loadstack/history/shop/)\n"
