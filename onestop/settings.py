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


def _apply_env(data: dict[str, Any], prefix: str, environ: dict[str, str]) -> dict[str, Any]:
    marker = prefix.upper() + "__"
    for name, raw in environ.items():
        if not name.startswith(marker):
            continue
        path = [p.lower() for p in name[len(marker):].split("__") if p]
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if path:
            node[path[-1]] = _env_value(raw)
    return data


def load_settings(model: type[M], path: str | Path | None, env_prefix: str,
                  environ: dict[str, str] | None = None) -> M:
    """Read ``path`` (TOML) into ``model``; raises ``ConfigError`` listing every problem."""
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
    data = _apply_env(data, env_prefix, dict(os.environ if environ is None else environ))
    try:
        settings = model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(source, problems) from exc
    return settings
