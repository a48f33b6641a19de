"""The functions registered in function_app.py, read the way the Functions host indexes them."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import azure.functions as func

from ingest_core.settings import ENV_NAMES, Settings
from local_twin.ncrontab import Schedule

_SETTING_REF = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")


@dataclass(frozen=True)
class BlobTarget:
    """A blob trigger: fires for blobs in `container` whose name starts with `prefix`."""

    name: str
    container: str
    prefix: str
    connection: str
    call: Callable[..., Any]


@dataclass(frozen=True)
class EventGridTarget:
    """An Event Grid trigger."""

    name: str
    call: Callable[..., Any]


@dataclass(frozen=True)
class TimerTarget:
    """A timer trigger with its resolved schedule."""

    name: str
    schedule: Schedule
    run_on_startup: bool
    call: Callable[..., Any]


@dataclass(frozen=True)
class QueueTarget:
    """A queue trigger (the app has one: on the blob extension's poison queue)."""

    name: str
    queue: str
    call: Callable[..., Any]


@dataclass(frozen=True)
class Registry:
    """Every trigger of one FunctionApp, by kind."""

    blobs: tuple[BlobTarget, ...]
    event_grid: tuple[EventGridTarget, ...]
    timers: tuple[TimerTarget, ...]
    queues: tuple[QueueTarget, ...] = ()


def setting_default(name: str) -> str | None:
    """The default ingest_core's Settings gives the app setting `name`, if any."""
    for field_name, env_name in ENV_NAMES.items():
        if env_name == name:
            default = Settings.model_fields[field_name].default
            return None if default is None or callable(default) else str(default)
    return None


def resolve(expression: str, env: Mapping[str, str]) -> str:
    """Replace each %NAME% with the app setting, as the host does; fall back to the Settings default."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = env.get(name) or setting_default(name)
        if found is None:
            raise ValueError(f"binding expression {expression!r} names app setting {name}, which is not set")
        return found

    return _SETTING_REF.sub(value, expression)


def _blob_target(fn: Any, env: Mapping[str, str]) -> BlobTarget:
    trigger = fn.get_trigger()
    path = resolve(trigger.path, env)
    container, _, pattern = path.partition("/")
    # Only the literal part before the first {binding} narrows which blobs fire.
    return BlobTarget(fn.get_function_name(), container, pattern.split("{", 1)[0], trigger.connection,
                      fn.get_user_function())  # fmt: skip


def registry(app: func.FunctionApp, env: Mapping[str, str]) -> Registry:
    """Index the app's triggers, resolving %NAME% binding expressions from `env`."""
    app.functions_bindings = None  # get_functions() refuses a second call otherwise
    blobs, grids, timers, queues = [], [], [], []
    for fn in app.get_functions():
        trigger = fn.get_trigger()
        kind = trigger.get_binding_name()
        if kind == "blobTrigger":
            blobs.append(_blob_target(fn, env))
        elif kind == "eventGridTrigger":
            grids.append(EventGridTarget(fn.get_function_name(), fn.get_user_function()))
        elif kind == "timerTrigger":
            schedule = Schedule.parse(resolve(trigger.schedule, env))
            timers.append(TimerTarget(fn.get_function_name(), schedule, bool(trigger.run_on_startup),
                                      fn.get_user_function()))  # fmt: skip
        elif kind == "queueTrigger":
            queues.append(QueueTarget(fn.get_function_name(), resolve(trigger.queue_name, env), fn.get_user_function()))
    return Registry(tuple(blobs), tuple(grids), tuple(timers), tuple(queues))


def load_app(module: str = "function_app") -> func.FunctionApp:
    """Import the module the host would index and return its FunctionApp."""
    app = importlib.import_module(module).app
    if not isinstance(app, func.FunctionApp):
        raise TypeError(f"{module}.app is not an azure.functions.FunctionApp")
    return app
