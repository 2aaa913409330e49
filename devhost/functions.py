"""Index a Python v2 function app, as the host and worker do (invocation: devhost/invocation.py).

Indexing imports the app module (default `function_app`) from the script root, finds the one
`FunctionApp`/`FunctionRegister` instance in it, and reads `get_functions()`: the same metadata
the Python worker sends the host.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from azure.functions.decorators.function_app import Function, FunctionRegister

from devhost.routing import RouteTemplate, full_template

log = logging.getLogger("devhost")

DEFAULT_APP_MODULE = "function_app"
DEFAULT_CONNECTION = "AzureWebJobsStorage"


class IndexingError(RuntimeError):
    """The app cannot be indexed (import error, no FunctionApp, bad binding)."""


@dataclass
class FunctionInfo:
    name: str
    user_function: Callable[..., Any]
    trigger_type: str
    trigger_arg: str
    has_context: bool
    is_async: bool
    directory: str
    unsupported_bindings: list[str] = field(default_factory=list)
    trigger: Any = field(default=None, repr=False)  # the decorator's trigger binding


@dataclass
class HttpFunction(FunctionInfo):
    route: str = ""
    methods: tuple[str, ...] | None = None  # None: every method
    template: RouteTemplate | None = None


@dataclass
class QueueFunction(FunctionInfo):
    queue_name: str = ""
    connection: str = DEFAULT_CONNECTION


@dataclass
class IndexedApp:
    http: list[HttpFunction]
    queues: list[QueueFunction]
    other: list[FunctionInfo]

    @property
    def all(self) -> list[FunctionInfo]:
        return [*self.http, *self.queues, *self.other]


_SETTING_REF = re.compile(r"%([^%]+)%")


def resolve_binding_expression(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `%SETTING%` with the app setting's value, as the host does for binding values."""
    env = os.environ if environ is None else environ

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in env:
            raise IndexingError(f"'%{name}%' does not resolve to a value (app setting missing)")
        return env[name]

    return _SETTING_REF.sub(repl, value)


def import_app_module(script_root: Path, module_name: str = DEFAULT_APP_MODULE) -> ModuleType:
    """Import the app module with the script root first on sys.path, as the worker does.

    If a different file is already imported under the same module name (two apps in one
    process, as in tests), the file is loaded again under a private name.
    """
    root = Path(script_root).resolve()
    path = root / (module_name.replace(".", os.sep) + ".py")
    if not path.is_file():
        raise IndexingError(f"{path} not found: the app module must be in the script root")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    existing = sys.modules.get(module_name)
    try:
        if existing is None:
            return importlib.import_module(module_name)
        if Path(getattr(existing, "__file__", "") or "").resolve() == path:
            return existing
        private = f"_devhost_app_{uuid.uuid4().hex[:8]}"
        spec = importlib.util.spec_from_file_location(private, path)
        if spec is None or spec.loader is None:
            raise IndexingError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module
        spec.loader.exec_module(module)
        return module
    except IndexingError:
        raise
    except Exception as exc:
        raise IndexingError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc


def _find_register(module: ModuleType) -> FunctionRegister:
    found = [v for v in vars(module).values() if isinstance(v, FunctionRegister)]
    if not found:
        raise IndexingError(
            f"{module.__file__}: no FunctionApp found (expected `app = func.FunctionApp()`)"
        )
    if len(found) > 1:
        raise IndexingError(f"{module.__file__}: more than one FunctionApp instance found")
    return found[0]


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def function_info(fn: Function, directory: str) -> dict[str, Any]:
    user = fn.get_user_function()
    trigger = fn.get_trigger()
    if trigger is None:
        raise IndexingError(f"function {fn.get_function_name()!r} has no trigger")
    params = inspect.signature(user).parameters
    binding_names = {b.name for b in fn.get_bindings()}
    has_context = "context" in params and "context" not in binding_names
    unsupported = [
        f"{b.name} ({b.type})" for b in fn.get_bindings() if b.name not in (trigger.name, "$return")
    ]
    return {
        "name": fn.get_function_name() or user.__name__,
        "user_function": user,
        "trigger_type": str(trigger.type),
        "trigger_arg": trigger.name,
        "has_context": has_context,
        "is_async": inspect.iscoroutinefunction(user),
        "directory": directory,
        "unsupported_bindings": unsupported,
        "trigger": trigger,
    }


def index_app(
    script_root: Path,
    module_name: str = DEFAULT_APP_MODULE,
    route_prefix: str = "api",
    environ: Mapping[str, str] | None = None,
) -> IndexedApp:
    from devhost.query_rules import install_from_environment

    install_from_environment()  # the tests' query rules, in every process that runs the app
    module = import_app_module(script_root, module_name)
    register = _find_register(module)
    try:
        functions = register.get_functions()
    except Exception as exc:
        raise IndexingError(f"indexing failed: {type(exc).__name__}: {exc}") from exc
    directory = str(Path(script_root).resolve())
    http: list[HttpFunction] = []
    queues: list[QueueFunction] = []
    other: list[FunctionInfo] = []
    for fn in functions:
        info = function_info(fn, directory)
        trigger: Any = fn.get_trigger()
        if info["trigger_type"] == "httpTrigger":
            route = trigger.route if trigger.route is not None else info["name"]
            methods = (
                tuple(sorted({_enum_value(m).upper() for m in trigger.methods}))
                if trigger.methods
                else None
            )
            try:
                template = RouteTemplate(full_template(route_prefix, route))
            except ValueError as exc:
                raise IndexingError(f"function {info['name']!r}: route {route!r}: {exc}") from exc
            http.append(HttpFunction(**info, route=route, methods=methods, template=template))
        elif info["trigger_type"] == "queueTrigger":
            queue_name = resolve_binding_expression(trigger.queue_name, environ).lower()
            connection = trigger.connection or DEFAULT_CONNECTION
            queues.append(QueueFunction(**info, queue_name=queue_name, connection=connection))
        else:
            other.append(FunctionInfo(**info))
    return IndexedApp(http, queues, other)
