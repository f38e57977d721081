from __future__ import annotations

import sys
import textwrap
import uuid

import pytest
from pydantic import ValidationError

from loadstack.handlers import (
    CallableResolutionError,
    HandlerContext,
    PublishResult,
    PythonCallableHandler,
    get_handler,
)

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
        ("{pkg}.hooks.missing", "'{pkg}.hooks' has no attribute 'missing'"),
        ("{pkg}.hooks:Publisher.missing", "'{pkg}.hooks.Publisher' has no attribute 'missing'"),
        ("{pkg}.hooks.NOT_CALLABLE", "is not callable (it is of type int)"),
        ("{pkg}.hooks.async_publish", "is async"),
        ("{pkg}.broken.fn", "importing module '{pkg}.broken' failed: ModuleNotFoundError"),
        ("{pkg}.raises:fn", "importing module '{pkg}.raises' failed: ValueError: bad module"),
    ],
)
def test_check_failures_say_what_failed(pkg, context, path, message):
    path, message = path.format(pkg=pkg), message.format(pkg=pkg)
    handler = make(context, callable=path)
    with pytest.raises(CallableResolutionError) as info:
        handler.check()
    assert path in str(info.value)
    assert message in str(info.value)


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
