"""Configuration loading: one pydantic model per component, read once at start-up from TOML plus
environment overrides, unknown keys rejected, every problem reported at once with its path.

Environment overrides use ``{PREFIX}__{SECTION}__{KEY}`` (for example ``ONESTOP_GATEWAY__HTTP__PORT=9090``);
values are parsed as TOML scalars when they can be (numbers, booleans), else kept as strings.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from onestop.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time zone name (``Asia/Shanghai``), checked against the system's zone database."""


class Section(BaseModel):
    """Base for settings sections: unknown keys are an error, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(data: dict[str, Any], prefix: str, environ: dict[str, str]) -> tuple[dict[str, Any], dict, list]:
    """Apply overrides; returns the data, which variable set each path, and problems with the variables."""
    marker = prefix.upper() + "__"
    origins: dict[tuple[str, ...], str] = {}
    problems: list[str] = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(marker):
            continue
        path = [p.lower() for p in name[len(marker):].split("__") if p]
        node = data
        for depth, key in enumerate(path[:-1]):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                problems.append(f"{'.'.join(path[:depth + 1])}: is a value, not a section "
                                f"(set by the environment variable {name})")
                break
        else:
            if path:
                node[path[-1]] = _env_value(raw)
                origins[tuple(path)] = name
    return data, origins, problems


def _blame(loc: tuple[Any, ...], origins: dict[tuple[str, ...], str]) -> str:
    """`` (set by the environment variable X)`` when an override made the value at ``loc``."""
    where = tuple(str(p) for p in loc)
    for path, name in origins.items():
        if where and (where[:len(path)] == path or path[:len(where)] == where):
            return f" (set by the environment variable {name})"
    return ""


def load_settings(model: type[M], path: str | Path | None, env_prefix: str,
                  environ: dict[str, str] | None = None) -> M:
    """Read ``path`` (TOML) into ``model``; raises ``ConfigError`` listing every problem.

    A problem caused by an environment override names the variable, so nobody searches the file for it.
    """
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(source, ["file not found"]) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, [f"not valid TOML: {exc}"]) from exc
    data, origins, problems = _apply_env(data, env_prefix, dict(os.environ if environ is None else environ))
    if origins or problems:
        source += f" with {env_prefix.upper()}__* environment overrides"
    try:
        settings = model.model_validate(data)
    except ValidationError as exc:
        problems += [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}{_blame(err['loc'], origins)}"
                     for err in exc.errors()]
        raise ConfigError(source, problems) from exc
    if problems:
        raise ConfigError(source, problems)
    return settings
