from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from loadstack.handlers import (
    CallableResolutionError,
    HandlerContext,
    PublishResult,
    PythonCallableHandler,
    get_handler,
)
from loadstack.handlers.callable_source import check_callable

FIXTURE_MODULES = Path(__file__).resolve().parents[2] / "fixtures" / "modules"

HOOKS = """
from loadstack.handlers import PublishResult

CALLS = []
NOT_CALLABLE = 42

def publish(context, **kwargs):
    CALLS.append((context, kwargs))
    return kwargs.get("result", "created")

def returns_enum(context, **kwargs):
    return PublishResult.UNCHANGED

def returns_none(context, **kwargs):
    return None

def returns_secret(context, **kwargs):
    return "hunter2-secret"

def returns_number(context, **kwargs):
    return 3

def boom(context, **kwargs):
    raise RuntimeError("callable blew up")

async def async_publish(context, **kwargs):
    return "created"

class Publisher:
    @staticmethod
    def publish(context, **kwargs):
        return "updated"
"""


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """A throwaway importable package `<name>` with module `hooks` (and a broken module)."""
    name = f"lshooks_{uuid.uuid4().hex[:8]}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "hooks.py").write_text(textwrap.dedent(HOOKS))
    (root / "broken.py").write_text("import lsnonexistent_dependency_xyz\n")
    (root / "raises.py").write_text("raise ValueError('bad module')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


@pytest.fixture
def context(tmp_path):
    from loadstack.profiles import load_profile

    return HandlerContext(stack="shop", step="network", profile=load_profile({"LOADSTACK_HOME": str(tmp_path)}))


def make(context, **raw):
    return PythonCallableHandler(PythonCallableHandler.validate_config(raw), context)


def test_registered():
    assert get_handler("python_callable") is PythonCallableHandler


@pytest.mark.parametrize("sep", [".", ":"])
def test_calls_with_context_and_kwargs(pkg, context, sep):
    handler = make(context, callable=f"{pkg}.hooks{sep}publish", kwargs={"vpc_id": "vpc-1", "n": 2})
    handler.check()
    assert handler.publish() is PublishResult.CREATED
    calls = sys.modules[f"{pkg}.hooks"].CALLS
    assert calls == [(context, {"vpc_id": "vpc-1", "n": 2})]
    assert handler.describe() == f"python_callable {pkg}.hooks{sep}publish"


def test_result_strings_and_enums(pkg, context):
    assert make(context, callable=f"{pkg}.hooks.publish", kwargs={"result": "unchanged"}).publish() is (
        PublishResult.UNCHANGED
    )
    assert make(context, callable=f"{pkg}.hooks.returns_enum").publish() is PublishResult.UNCHANGED
    assert make(context, callable=f"{pkg}.hooks:Publisher.publish").publish() is PublishResult.UPDATED
    assert make(context, callable=f"{pkg}.hooks.Publisher.publish").publish() is PublishResult.UPDATED


@pytest.mark.parametrize(
    "func, message",
    [
        ("returns_none", "returned None"),
        ("returns_number", "returned a value of type int"),
        ("returns_secret", "returned a str that is not one of those"),
    ],
)
def test_bad_return_values_name_the_callable(pkg, context, func, message):
    with pytest.raises(TypeError) as info:
        make(context, callable=f"{pkg}.hooks.{func}").publish()
    text = str(info.value)
    assert f"{pkg}.hooks.{func}" in text and message in text
    assert "'created', 'updated', 'unchanged'" in text
    assert "hunter2-secret" not in text


def test_exceptions_propagate(pkg, context):
    with pytest.raises(RuntimeError, match="callable blew up"):
        make(context, callable=f"{pkg}.hooks.boom").publish()


@pytest.mark.parametrize(
    "path, message",
    [
        ("lsnonexistent_pkg_xyz.mod.fn", "module 'lsnonexistent_pkg_xyz.mod' not found"),
        ("lsnonexistent_pkg_xyz.mod:fn", "module 'lsnonexistent_pkg_xyz.mod' not found"),
        ("{pkg}.nomodule.fn", "module '{pkg}.nomodule' not found"),
        ("{pkg}.hooks.missing", "module '{pkg}.hooks' ({root}/hooks.py) has no function 'missing'"),
        ("{pkg}.hooks:Publisher.missing", "'{pkg}.hooks.Publisher' has no attribute 'missing'"),
        ("{pkg}.hooks.NOT_CALLABLE", "is not a function (it is of type int, assigned at line 5)"),
        ("{pkg}.hooks.async_publish", "is async"),
    ],
)
def test_check_failures_say_what_failed(pkg, context, tmp_path, path, message):
    path, message = path.format(pkg=pkg), message.format(pkg=pkg, root=tmp_path / pkg)
    handler = make(context, callable=path)
    with pytest.raises(CallableResolutionError) as info:
        handler.check()
    assert path in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "path, message",
    [
        ("{pkg}.broken:fn", "importing module '{pkg}.broken' failed: ModuleNotFoundError"),
        ("{pkg}.raises:fn", "importing module '{pkg}.raises' failed: ValueError: bad module"),
        ("{pkg}.hooks.missing", "'{pkg}.hooks' has no attribute 'missing'"),
        ("{pkg}.hooks.NOT_CALLABLE", "is not callable (it is of type int)"),
        ("{pkg}.hooks.async_publish", "is async"),
    ],
)
def test_publish_time_import_failures_say_what_failed(pkg, context, path, message):
    """At publish time the module is imported: what its import-time code raises is reported then."""
    path, message = path.format(pkg=pkg), message.format(pkg=pkg)
    with pytest.raises(CallableResolutionError) as info:
        make(context, callable=path).publish()
    assert path in str(info.value) and message in str(info.value)


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"callable": "nodots"}, "callable"),
        ({"callable": "a.b:c:d"}, "callable"),
        ({"callable": "a b.c"}, "callable"),
        ({"callable": "a.b:"}, "callable"),
        ({"callable": "a.b.c", "kwargs": {"context": 1}}, "kwargs"),
        ({"callable": "a.b.c", "args": []}, "args"),
    ],
)
def test_config_errors(raw, field):
    with pytest.raises(ValidationError) as info:
        PythonCallableHandler.validate_config(raw)
    assert field in {str(loc) for err in info.value.errors() for loc in err["loc"]}


def test_kwargs_default_to_empty():
    assert PythonCallableHandler.validate_config({"callable": "a:b"}).kwargs == {}


# --- parse time reads the source and imports nothing of the user's ------------------------------------------
EXITS = """
import os
os._exit(3)  # at import: would end the whole validate run (and this test run) if it were imported


def publish(context, **kwargs):
    return "created"
"""


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """write(relative_path, text) under a fresh folder on sys.path; the package names are unique per test."""
    root = tmp_path / "src"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    prefix = f"ls_{uuid.uuid4().hex[:8]}"
    before = set(sys.modules)

    def write(relative: str, text: str) -> Path:
        path = root / relative.format(p=prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    write.prefix = prefix
    write.root = root
    yield write
    for mod in set(sys.modules) - before:
        if mod.startswith(prefix):
            del sys.modules[mod]


def imported(prefix: str) -> list[str]:
    return [m for m in sys.modules if m.startswith(prefix)]


def test_check_does_not_run_import_time_code(tree, context):
    # In-process on purpose: the old check imported the module, and os._exit(3) would have ended pytest itself.
    tree("{p}_hooks.py", EXITS)
    for path in (f"{tree.prefix}_hooks.publish", f"{tree.prefix}_hooks:publish"):
        make(context, callable=path, kwargs={"vpc_id": "vpc-1"}).check()
    assert imported(tree.prefix) == []


def test_validating_a_spec_does_not_run_the_handler_module(tree, tmp_path):
    from loadstack.spec import load_stack

    tree("{p}_hooks.py", EXITS)
    spec = tmp_path / "stacks" / "hooked.yaml"
    spec.parent.mkdir()
    spec.write_text(textwrap.dedent(f"""\
        name: hooked
        description: a python_callable whose module exits at import
        owner: sre
        steps:
          network:
            kind: terraform
            module: network
            on_complete:
              - handler: python_callable
                callable: {tree.prefix}_hooks.publish
                kwargs: {{vpc: "${{outputs.vpc_id}}"}}
        """))
    stack = load_stack(spec, modules_dir=FIXTURE_MODULES)
    assert [h.handler for h in stack.handlers["network"]] == ["python_callable"]
    assert imported(tree.prefix) == []


def test_parent_packages_are_not_executed(tree, context):
    marker = tree.root / "ran"
    init = f"open({str(marker)!r}, 'w').close()\nraise RuntimeError(\"the package's __init__ ran\")\n"
    tree("{p}/__init__.py", init)
    tree("{p}/sub/__init__.py", init)
    tree("{p}/sub/hooks.py", "def publish(context, **kwargs):\n    return 'created'\n")
    tree("{p}/ns/deep/hooks.py", "def publish(context):\n    return 'created'\n")  # namespace packages between
    for path in (f"{tree.prefix}.sub.hooks.publish", f"{tree.prefix}.sub.hooks:publish",
                 f"{tree.prefix}.ns.deep.hooks.publish"):
        make(context, callable=path).check()
    assert not marker.exists()
    assert imported(tree.prefix) == []
    # A function in the package's own __init__.py is read from there, still without running it.
    tree("{p}/__init__.py", init + "\ndef publish(context):\n    return 'created'\n")
    make(context, callable=f"{tree.prefix}:publish").check()
    assert not marker.exists()


def test_missing_function_says_did_you_mean(tree, context):
    path = tree("{p}_hooks.py", EXITS)
    with pytest.raises(CallableResolutionError) as info:
        make(context, callable=f"{tree.prefix}_hooks.publsh").check()
    assert str(info.value) == (
        f"callable '{tree.prefix}_hooks.publsh': module '{tree.prefix}_hooks' ({path}) has no function 'publsh' "
        "(did you mean 'publish'? it defines: 'os', 'publish')"
    )


def test_missing_module_names_where_it_looked(tree, context):
    with pytest.raises(CallableResolutionError) as info:
        make(context, callable=f"{tree.prefix}_nope.publish").check()
    assert str(info.value) == (
        f"callable '{tree.prefix}_nope.publish': module '{tree.prefix}_nope' not found: "
        f"no {tree.prefix}_nope.py or {tree.prefix}_nope/ on sys.path; put the module under "
        "plugins/ (on sys.path for Airflow and the loadstack CLI) or install it into the venv"
    )
    tree("{p}/__init__.py", "")
    with pytest.raises(CallableResolutionError) as info:
        make(context, callable=f"{tree.prefix}.nope:publish").check()
    assert (
        f"module '{tree.prefix}.nope' not found: no nope.py or nope/ "
        f"in package '{tree.prefix}' ({tree.root / tree.prefix})"
    ) in str(info.value)


def test_syntax_error_names_the_line(tree, context):
    path = tree("{p}_hooks.py", "def publish(context, **kwargs):\n    return 'created'\n\ndef broken(:\n    pass\n")
    with pytest.raises(CallableResolutionError) as info:
        make(context, callable=f"{tree.prefix}_hooks.publish").check()
    assert f"module '{tree.prefix}_hooks' ({path}) has a syntax error at line 4: " in str(info.value)


SIGNATURES = """
import functools

def publish(context, **kwargs):
    return "created"

def only_context(context):
    return "created"

def named(context, vpc_id, *, subnet_ids, zone="a"):
    return "created"

def positional_only(context, vpc_id, /):
    return "created"

def no_context(**kwargs):
    return "created"

lambda_publish = lambda context, **kwargs: "created"

partial_publish = functools.partial(named, zone="b")

def wrapper(fn):
    return fn

@wrapper
def decorated(anything):
    return "created"

class Publisher:
    @staticmethod
    def static(context, **kwargs):
        return "updated"

    @classmethod
    def klass(cls, context, **kwargs):
        return "updated"

    def method(self, context, **kwargs):
        return "updated"

VALUE = "a string"
"""


@pytest.mark.parametrize(
    "name, kwargs, problem",
    [
        ("publish", {"a": 1, "b": 2}, None),
        ("only_context", {}, None),
        ("only_context", {"vpc_id": 1}, (
            "it accepts no argument 'vpc_id' (its parameters: 'context'); the handler "
            "calls fn(context=..., vpc_id=...): add the parameter(s) or '**kwargs'"
        )),
        ("named", {"vpc_id": 1, "subnet_ids": []}, None),
        ("named", {"vpc_id": 1, "subnet_id": []}, "it accepts no argument 'subnet_id' (did you mean 'subnet_ids'?"),
        ("named", {"vpc_id": 1}, "its parameter(s) 'subnet_ids' have no default and the handler does not pass them"),
        ("positional_only", {"vpc_id": 1}, "its parameter(s) 'context', 'vpc_id' are positional-only"),
        ("no_context", {}, None),
        ("lambda_publish", {"x": 1}, None),
        ("partial_publish", {"whatever": 1}, None),  # computed: left to the import
        ("decorated", {"whatever": 1}, None),  # a decorator may change the signature
        ("Publisher.static", {"x": 1}, None),
        ("Publisher.klass", {"x": 1}, None),
        ("Publisher.method", {}, "is a method without @staticmethod or @classmethod"),
        ("VALUE", {}, "is not a function (it is of type str, assigned at line 42)"),
    ],
)
def test_check_matches_the_call_publish_makes(tree, context, name, kwargs, problem):
    tree("{p}_sigs.py", SIGNATURES)
    handler = make(context, callable=f"{tree.prefix}_sigs:{name}", kwargs=kwargs)
    if problem is None:
        handler.check()
    else:
        with pytest.raises(CallableResolutionError) as info:
            handler.check()
        assert problem in str(info.value)
        assert "\n" not in str(info.value)
    assert imported(tree.prefix) == []


def test_what_cannot_be_read_is_left_to_the_import(tree, context):
    tree("{p}_star.py", "from os.path import *\n")
    assert check_callable(f"{tree.prefix}_star:join").note == (
        f"'{tree.prefix}_star' defines names dynamically ('import *' or __getattr__); 'join' is checked at import"
    )
    # An extension (or built-in) module has no source to read: found, accepted, checked when the task imports it.
    assert "has no Python source" in check_callable("math:sqrt").note
    tree("{p}_ns/readme.txt", "a folder without __init__.py")
    with pytest.raises(CallableResolutionError, match="is a namespace package"):
        check_callable(f"{tree.prefix}_ns:publish")


def test_publish_imports_the_module_and_calls_it(tree, context):
    marker = tree.root / "imported"
    tree("{p}_side.py", f"""
    open({str(marker)!r}, "w").close()

    def publish(context, **kwargs):
        return "updated" if kwargs == {{"vpc_id": "vpc-1"}} and context.step == "network" else "created"
    """)
    handler = make(context, callable=f"{tree.prefix}_side.publish", kwargs={"vpc_id": "vpc-1"})
    handler.check()
    assert not marker.exists()
    assert handler.publish() is PublishResult.UPDATED
    assert marker.exists()
