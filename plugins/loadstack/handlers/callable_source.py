"""Check a `python_callable` handler's target from its source, without importing it.

Validating a spec must not run the user's code: a module that does work (or exits) at import time would
otherwise take `loadstack validate`, or the DAG processor, down with it. So the parse-time check

1. locates the module with `importlib.machinery.PathFinder`, one dotted segment at a time: the top
   level on `sys.path`, each further segment in its parent's `submodule_search_locations` found the same
   way. Nothing is imported: not the module, and not its parent packages (whose `__init__.py` would run;
   `importlib.util.find_spec("a.b")` imports `a`). Only a top-level name that is not on `sys.path` is
   also asked of the other meta-path finders (built-in modules, an editable install's finder): a
   top-level name has no parent to import;
2. reads the module's source file (for a package, its `__init__.py`) and parses it with `ast`;
3. looks for the name at the module's top level (a `def`, a class, an assignment or an import binding it,
   also inside top-level `if` / `try` / `with` blocks), and for `module:Class.method` in the class body;
4. when it finds a plain `def` (or a lambda), checks that it accepts the call the handler makes:
   `fn(context=..., **kwargs)` with the keys of the handler's `kwargs`.

What it cannot see it accepts, and the task's import at publish time is the real check: a name bound by an
import, a call (`functools.partial`), a decorator, a `from x import *` or a module `__getattr__`; a method a
class may inherit; and modules without Python source (extension modules, `.pyc`-only, frozen or built-in
modules), whose existence alone is checked. A namespace package (a folder without `__init__.py`) defines
nothing, so naming a function in one is an error, as it would be when the task ran.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, PathFinder

from loadstack.issues import did_you_mean

_IDENTIFIER_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_MAX_NAMES = 8  # names listed in one message at most


class CallableResolutionError(ValueError):
    """The configured callable cannot be found, does not exist, or cannot be called as the handler calls it."""


def split_callable(path: str) -> tuple[str, str | None]:
    """("module", "attr.path") for "module:attr.path"; ("a.b.c", None) for a dotted path."""
    if path.count(":") > 1:
        raise CallableResolutionError(f"callable {path!r}: use 'package.module:function' (one ':' at most)")
    module, sep, attr = path.partition(":")
    if not _IDENTIFIER_PATH.fullmatch(module) or (sep and not _IDENTIFIER_PATH.fullmatch(attr)):
        raise CallableResolutionError(
            f"callable {path!r} is not a dotted path like 'package.module.function' "
            "or 'package.module:function'"
        )
    if not sep and "." not in module:
        raise CallableResolutionError(
            f"callable {path!r} names no module: use 'package.module.function' or 'module:function'"
        )
    return module, (attr if sep else None)


# --- finding a module without importing it --------------------------------------------------------------
def _finder_for(entry: str):
    """The path-entry finder for one directory (what PathFinder uses), or None."""
    try:
        return sys.path_importer_cache[entry]
    except KeyError:
        pass
    for hook in sys.path_hooks:
        try:
            return hook(entry)
        except ImportError:
            continue
    return None


def _find(fullname: str, locations: list[str] | None) -> ModuleSpec | None:
    """PathFinder's spec for `fullname` in `locations` (None: sys.path); imports nothing."""
    try:
        spec = PathFinder.find_spec(fullname, locations)
        if spec is None and locations is None:
            # Not on sys.path: a built-in module, or one another meta-path finder serves (an editable install's
            # finder). For a top-level name find_spec has no parent to import, so this imports nothing either.
            spec = importlib.util.find_spec(fullname)
        return spec
    except (ImportError, ValueError):
        return None
    except KeyError:
        # A namespace package below a parent that is not imported: PathFinder builds its _NamespacePath from
        # sys.modules[parent]. Collect the portions ourselves (the same path-entry finders, one per folder).
        portions: list[str] = []
        for entry in locations or sys.path:
            finder = _finder_for(entry)
            spec = finder.find_spec(fullname) if finder is not None and hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                return spec
            if spec is not None and spec.submodule_search_locations:
                portions.extend(spec.submodule_search_locations)
        if not portions:
            return None
        spec = ModuleSpec(fullname, None, is_package=True)
        spec.submodule_search_locations = portions
        return spec


@dataclass(frozen=True)
class _Walk:
    specs: list[ModuleSpec]  # the found prefix of the dotted name, outermost first
    searched: list[str] | None  # where the first missing segment was looked for (None: sys.path)
    not_a_package: bool  # the walk stopped because the last found module is a plain module


def _walk(parts: list[str]) -> _Walk:
    specs: list[ModuleSpec] = []
    locations: list[str] | None = None
    for index in range(len(parts)):
        spec = _find(".".join(parts[: index + 1]), locations)
        if spec is None:
            return _Walk(specs, locations, False)
        specs.append(spec)
        if index + 1 < len(parts):
            if spec.submodule_search_locations is None:
                return _Walk(specs, None, True)
            locations = list(spec.submodule_search_locations)
    return _Walk(specs, None, False)


def _is_namespace(spec: ModuleSpec) -> bool:
    return spec.origin in (None, "namespace") and spec.submodule_search_locations is not None and (
        spec.loader is None or type(spec.loader).__name__ == "NamespaceLoader"
    )


def _not_found(path: str, module: str, walk: _Walk, parts: list[str]) -> CallableResolutionError:
    found = ".".join(parts[: len(walk.specs)])
    missing = ".".join(parts[: len(walk.specs) + 1])
    if walk.not_a_package:
        return CallableResolutionError(
            f"callable {path!r}: module {module!r} not found ({found!r} is a module, not a package, so it has "
            f"no submodule {parts[len(walk.specs)]!r}; {_origin(walk.specs[-1])})"
        )
    if walk.searched is None:
        where = (
            f"no {parts[0]}.py or {parts[0]}/ on sys.path; put the module under plugins/ (on sys.path for Airflow "
            "and the loadstack CLI) or install it into the venv"
        )
    else:
        folders = ", ".join(_oneline(str(p)) for p in walk.searched[:3])
        where = f"no {parts[len(walk.specs)]}.py or {parts[len(walk.specs)]}/ in package {found!r} ({folders})"
    return CallableResolutionError(
        f"callable {path!r}: module {module!r} not found: {where}"
    )


# --- reading and parsing the source ---------------------------------------------------------------------
def _oneline(text: str, limit: int = 300) -> str:
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _origin(spec: ModuleSpec) -> str:
    return _oneline(str(spec.origin)) if spec.origin else "no file"


@functools.lru_cache(maxsize=64)
def _parse_cached(origin: str, inode: int, mtime_ns: int, size: int) -> ast.Module:
    with open(origin, "rb") as handle:
        return ast.parse(handle.read(), filename=origin)


def _parse(path: str, module: str, spec: ModuleSpec) -> ast.Module | None:
    """The module's AST, or None when it has no Python source to read."""
    origin = spec.origin
    if not origin or not origin.endswith(".py") or not os.path.isfile(origin):
        return None
    try:
        stat = os.stat(origin)
        return _parse_cached(origin, stat.st_ino, stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise CallableResolutionError(
            f"callable {path!r}: cannot read module {module!r} ({_oneline(origin)}): {exc.strerror or exc}"
        ) from None
    except SyntaxError as exc:
        where = f"line {exc.lineno}: " if exc.lineno else ""
        raise CallableResolutionError(
            f"callable {path!r}: module {module!r} ({_oneline(origin)}) has a syntax error at {where}"
            f"{_oneline(str(exc.msg))}; fix the module (validation reads it, it does not import it)"
        ) from None
    except (ValueError, RecursionError) as exc:  # null bytes (3.11), nesting too deep for the parser
        raise CallableResolutionError(
            f"callable {path!r}: module {module!r} ({_oneline(origin)}) cannot be parsed: "
            f"{type(exc).__name__}: {_oneline(str(exc))}"
        ) from None


# --- what a module (or class) body binds ----------------------------------------------------------------
@dataclass
class _Scope:
    bindings: dict[str, list[ast.AST]]
    dynamic: bool  # `from x import *` or a module-level __getattr__: names we cannot list


def _target_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _scope(body: list[ast.stmt]) -> _Scope:
    scope = _Scope({}, False)

    def bind(name: str, node: ast.AST) -> None:
        scope.bindings.setdefault(name, []).append(node)

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bind(node.name, node)
                if node.name == "__getattr__":
                    scope.dynamic = True
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for name in _target_names(target):
                        bind(name, node if isinstance(target, ast.Name) else target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                if isinstance(node.target, ast.Name) and (node.value is not None):
                    bind(node.target.id, node)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*":
                        scope.dynamic = True
                    else:
                        bind(alias.asname or alias.name.split(".")[0], node)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                for name in _target_names(node.target):
                    bind(name, node)
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        for name in _target_names(item.optional_vars):
                            bind(name, node)
                visit(node.body)
            elif isinstance(node, (ast.If, ast.While)):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
                visit(node.body)
                for handler in node.handlers:
                    if handler.name:
                        bind(handler.name, handler)
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Match):
                for case in node.cases:
                    visit(case.body)

    visit(body)
    return scope


_LITERAL_TYPES: dict[type[ast.AST], str] = {
    ast.JoinedStr: "str",
    ast.List: "list",
    ast.ListComp: "list",
    ast.Tuple: "tuple",
    ast.Dict: "dict",
    ast.DictComp: "dict",
    ast.Set: "set",
    ast.SetComp: "set",
    ast.GeneratorExp: "generator",
}


def _literal_type(node: ast.AST) -> str | None:
    """The type name when `node` assigns a literal (not callable), else None."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
        return None
    value = node.value
    if isinstance(value, ast.Constant):
        return "None" if value.value is None else type(value.value).__name__
    return _LITERAL_TYPES.get(type(value))


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[str]:
    names = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.append(target.id if isinstance(target, ast.Name) else ast.unparse(target))
    return names


# --- the call the handler makes -------------------------------------------------------------------------
def _quoted(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:_MAX_NAMES])
    return shown + (f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else "")


def _call_shape(keywords: list[str]) -> str:
    shown = [f"{_oneline(k, 40)}=..." for k in keywords[:_MAX_NAMES]]
    return "fn(" + ", ".join(shown) + (", ..." if len(keywords) > _MAX_NAMES else "") + ")"


def _signature_problem(args: ast.arguments, keywords: list[str], *, bound: bool) -> str | None:
    """Why `fn(**{k: ... for k in keywords})` fails against these parameters, or None when it binds."""
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    posonly = {a.arg for a in args.posonlyargs}
    if bound:  # a classmethod: the class fills the first parameter
        if positional:
            posonly.discard(positional[0].arg)
            positional = positional[1:]
            first_default -= 1
        elif args.vararg is None:
            return "it takes no parameter for the class (a classmethod needs one, e.g. 'cls')"
    required_posonly = [a.arg for i, a in enumerate(positional) if a.arg in posonly and i < first_default]
    if required_posonly:
        return (
            f"its parameter(s) {_quoted(required_posonly)} are positional-only without a default, but the handler "
            f"passes keyword arguments only: {_call_shape(keywords)}"
        )
    by_keyword = [a.arg for a in positional if a.arg not in posonly] + [a.arg for a in args.kwonlyargs]
    if args.kwarg is None:
        unknown = [k for k in keywords if k not in by_keyword]
        if unknown:
            hint = did_you_mean(unknown[0], [n for n in by_keyword if n not in keywords])
            return (
                f"it accepts no argument {_quoted(unknown)} ({hint}its parameters: {_quoted(by_keyword) or 'none'}); "
                f"the handler calls {_call_shape(keywords)}: add the parameter(s) or '**kwargs'"
            )
    required = [a.arg for i, a in enumerate(positional) if i < first_default and a.arg not in posonly]
    required += [a.arg for a, default in zip(args.kwonlyargs, args.kw_defaults, strict=True) if default is None]
    missing = [name for name in required if name not in keywords]
    if missing:
        return (
            f"its parameter(s) {_quoted(missing)} have no default and the handler does not pass them "
            f"(it calls {_call_shape(keywords)}): add them to the handler's kwargs or give them defaults"
        )
    return None


# --- the check ------------------------------------------------------------------------------------------
class _Problem(Exception):
    """A reason the call would fail (the message, without the leading "callable 'x': ")."""


def _resolve_in(
    scope: _Scope, attrs: list[str], owner: str, what: str, keywords: list[str], *, in_class: bool
) -> str | None:
    """Check `attrs` against a module's (or class's) bindings. Raises _Problem; returns a note when part of the
    check is left to the import at publish time, None when everything was checked."""
    name, rest = attrs[0], attrs[1:]
    nodes = scope.bindings.get(name)
    if not nodes:
        if scope.dynamic:
            return f"{owner!r} defines names dynamically ('import *' or __getattr__); {name!r} is checked at import"
        raise _Problem(f"{what} has no {'function' if not rest else 'attribute'} {name!r} ({_known(name, scope)})")
    if len(nodes) > 1:
        literals = [_literal_type(n) for n in nodes]
        if all(literals):
            raise _Problem(f"{owner}.{name} is not a function (it is of type {literals[-1]})")
        return f"{owner}.{name} is bound {len(nodes)} times; which one wins is decided at import"
    node = nodes[0]
    literal = _literal_type(node)
    if literal is not None:
        raise _Problem(f"{owner}.{name} is not a function (it is of type {literal}, assigned at line {node.lineno})")
    if isinstance(node, ast.ClassDef) and rest:
        inner = f"{owner}.{name}"
        members = _scope(node.body)
        if rest[0] not in members.bindings and not members.dynamic:
            if node.bases or node.keywords or node.decorator_list:
                return f"{inner!r} may inherit {rest[0]!r} (it has bases, a metaclass or decorators); checked at import"
            raise _Problem(f"{inner!r} has no attribute {rest[0]!r} ({_known(rest[0], members)})")
        return _resolve_in(members, rest, inner, repr(inner), keywords, in_class=True)
    if isinstance(node, ast.ClassDef):
        return None  # calling a class constructs an instance; publish checks what comes back
    if rest:
        return f"{owner}.{name} is not a class; {'.'.join(rest)!r} is checked at import"
    return _check_call(node, owner, keywords, in_class=in_class)


def _known(name: str, scope: _Scope) -> str:
    public = sorted(n for n in scope.bindings if not n.startswith("__"))
    return f"{did_you_mean(name, public)}it defines: {_quoted(public)}" if public else "it defines nothing"


def _check_call(node: ast.AST, owner: str, keywords: list[str], *, in_class: bool) -> str | None:
    """Check a single binding can be called as fn(context=..., **kwargs)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        decorators = _decorators(node)
        if any(d not in ("staticmethod", "classmethod") for d in decorators) or (decorators and not in_class):
            return f"{owner}.{node.name} is decorated; its signature is checked at import"
        if in_class and not decorators:
            raise _Problem(
                f"{owner}.{node.name} is a method without @staticmethod or @classmethod: the handler calls it "
                "through the class, so nothing would fill 'self'"
            )
        if isinstance(node, ast.AsyncFunctionDef):
            raise _Problem(
                f"{owner}.{node.name} is async (line {node.lineno}); completion handlers must be plain functions"
            )
        problem = _signature_problem(node.args, keywords, bound=decorators == ["classmethod"])
        if problem:
            raise _Problem(f"{owner}.{node.name} (line {node.lineno}): {problem}")
        return None
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
        problem = _signature_problem(node.value.args, keywords, bound=False)
        if problem:
            raise _Problem(f"the lambda at line {node.lineno}: {problem}")
        return None
    return None  # an import, a call's result, ...: seen at import


@dataclass(frozen=True)
class CallableCheck:
    module: str
    origin: str | None  # the file read, or None when the module has no Python source
    attrs: tuple[str, ...]
    note: str | None  # set when part of the check is left to the task's import at publish time


def check_callable(path: str, keywords: Iterable[str] = ("context",)) -> CallableCheck:
    """Check `path` from source, importing nothing; raise CallableResolutionError naming the fix.

    `keywords` are the argument names the handler passes (`context` and the keys of its kwargs)."""
    keywords = list(keywords)
    module_name, attr = split_callable(path)
    if attr is not None:
        parts = module_name.split(".")
        walk = _walk(parts)
        if len(walk.specs) < len(parts):
            raise _not_found(path, module_name, walk, parts)
        attrs = attr.split(".")
    else:
        # "a.b.c": as at import time, the longest prefix that is a module is the module, the rest attributes.
        dotted = module_name.split(".")
        walk = _walk(dotted[:-1])
        if not walk.specs:
            raise _not_found(path, ".".join(dotted[:-1]), walk, dotted[:-1])
        module_name, attrs = ".".join(dotted[: len(walk.specs)]), dotted[len(walk.specs) :]
        parts = module_name.split(".")
    spec = walk.specs[-1]
    if _is_namespace(spec):
        raise CallableResolutionError(
            f"callable {path!r}: module {module_name!r} is a namespace package (a folder without __init__.py: "
            f"{_oneline(', '.join(spec.submodule_search_locations or []))}); it defines no functions: "
            "name a module inside it"
        )
    tree = _parse(path, module_name, spec)
    if tree is None:
        note = (
            f"module {module_name!r} has no Python source ({_origin(spec)}); {'.'.join(attrs)!r} is checked at import"
        )
        return CallableCheck(module_name, None, tuple(attrs), note)
    scope = _scope(tree.body)
    if attr is None and len(attrs) > 1 and spec.submodule_search_locations is not None and not scope.dynamic and (
        attrs[0] not in scope.bindings
    ):
        # "pkg.nomodule.fn": pkg has neither a submodule nor a name 'nomodule', so the module is what is missing.
        searched = _Walk(walk.specs, list(spec.submodule_search_locations), False)
        raise _not_found(path, f"{module_name}.{attrs[0]}", searched, [*parts, attrs[0]])
    try:
        what = f"module {module_name!r} ({_origin(spec)})"
        note = _resolve_in(scope, attrs, module_name, what, keywords, in_class=False)
    except _Problem as problem:
        raise CallableResolutionError(f"callable {path!r}: {problem}") from None
    return CallableCheck(module_name, spec.origin, tuple(attrs), note)
