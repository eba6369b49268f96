"""Where settings come from: embedded defaults, then a TOML file, then the files of a
secrets directory, then ``STREAMML_*`` environment variables, then command-line flags
(``--set name=value``), each layer overriding the one before. Only the command line calls
this (the edge); the result is one frozen :class:`~streamml.settings.Settings`.

A TOML file holds setting names, flat or grouped in tables whose name is their first
word (``[kafka] bootstrap_servers = ...`` is ``kafka_bootstrap_servers``); tables named
after a setting that is itself a mapping (``[emotion_tasks.emotion6]``) stay whole.
An unknown name, a malformed file or an invalid value fails with one line that names the
setting and where its value came from.

Secrets (the settings typed ``SecretStr``) come only from the environment or from
``STREAMML_SECRETS_DIR`` (one file per setting, named like its variable, as Docker and
Kubernetes mount them): a secret in the TOML file (files get committed) or in ``--set``
(command lines are visible to every user) is refused. See docs/adr/0017.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from streamml.errors import ConfigurationError
from streamml.settings import Settings

logger = logging.getLogger(__name__)

ENV_PREFIX = "STREAMML_"
CONFIG_FILE_ENV = "STREAMML_CONFIG_FILE"
SECRETS_DIR_ENV = "STREAMML_SECRETS_DIR"
MASK = "********"
SECRETS = frozenset(
    name
    for name, info in Settings.model_fields.items()
    if info.annotation in (SecretStr, SecretStr | None)
)


@dataclass(frozen=True, slots=True)
class Layers:
    """The values each layer gives (file, secrets, flags); the environment is read by
    pydantic."""

    file: Path | None = None
    file_values: dict[str, Any] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    secrets_dir: Path | None = None
    secrets: dict[str, SecretStr] = field(default_factory=dict)

    def source(self, name: str, environ: Mapping[str, str]) -> str:
        """Where the effective value of setting ``name`` comes from."""
        if name in self.flags:
            return f"--set {name}"
        if _variable(name) in environ:
            return _variable(name)
        if name in self.secrets and self.secrets_dir is not None:
            return f"{self.secrets_dir / _variable(name)}"
        if name in self.file_values:
            return f"{self.file}"
        return "default"


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings a TOML file gives, by setting name.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "streamml.toml"
    >>> _ = p.write_text('app_id = "fraud-eu"\\n[kafka]\\nbootstrap_servers = "b1:9092"\\n')
    >>> read_config_file(p)
    {'app_id': 'fraud-eu', 'kafka_bootstrap_servers': 'b1:9092'}
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(f"configuration file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"configuration file {path}: not valid TOML: {error}") from None
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and key not in Settings.model_fields:
            for inner, inner_value in value.items():
                values[f"{key}_{inner}"] = inner_value
        else:
            values[key] = value
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise ConfigurationError(
            f"configuration file {path}: unknown setting {unknown[0]!r}"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
        )
    secrets = sorted(SECRETS & set(values))
    if secrets:
        raise ConfigurationError(
            f"configuration file {path}: {secrets[0]} is a secret and configuration files "
            f"get committed; {_elsewhere(secrets[0])}"
        )
    return values


def read_secrets_dir(path: Path) -> dict[str, SecretStr]:
    """The secret settings a directory gives: one file per setting, named like its
    variable, holding the value (one trailing newline dropped). Other files are warned
    about and ignored; so are files of settings that are not secrets (they belong in the
    environment or the TOML file).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "STREAMML_KAFKA_SASL_PASSWORD").write_text("s3cret\\n")
    >>> secrets = read_secrets_dir(d)
    >>> secrets["kafka_sasl_password"].get_secret_value()
    's3cret'
    """
    if not path.is_dir():
        problem = "not a directory" if path.exists() else "no such directory"
        raise ConfigurationError(f"{SECRETS_DIR_ENV}={path}: {problem}")
    by_variable = {_variable(name): name for name in Settings.model_fields}
    values: dict[str, SecretStr] = {}
    for entry in sorted(path.iterdir()):
        if entry.name.startswith("."):
            continue  # Kubernetes' ..data links to the current version of the files
        name = by_variable.get(entry.name, "")
        if name not in SECRETS:
            why = "not a secret setting" if name else "not a streamml setting"
            logger.warning("%s is %s; ignored", entry, why)
            continue
        try:
            values[name] = SecretStr(entry.read_text(encoding="utf-8").removesuffix("\n"))
        except OSError as error:
            raise ConfigurationError(f"secrets file {entry}: {error.strerror}") from None
        except UnicodeDecodeError:  # its message would show bytes of the secret
            raise ConfigurationError(f"secrets file {entry}: not UTF-8 text") from None
    return values


def parse_flags(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``name=value`` pairs; a value that parses as JSON is taken as JSON.

    >>> parse_flags(["topic_partitions=6", "app_id=fraud-eu", "sink_topics=[\\"texts\\"]"])
    {'topic_partitions': 6, 'app_id': 'fraud-eu', 'sink_topics': ['texts']}
    """
    flags: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ConfigurationError(f"--set {pair!r}: expected name=value")
        if name not in Settings.model_fields:
            raise ConfigurationError(f"--set {pair!r}: unknown setting {name!r}")
        if name in SECRETS:  # the pair itself is not shown: it holds the secret
            raise ConfigurationError(
                f"--set {name}: a secret on the command line is visible to every user "
                f"(ps); {_elsewhere(name)}"
            )
        try:
            flags[name] = json.loads(text)
        except json.JSONDecodeError:
            flags[name] = text
    return flags


def load_settings(
    file: Path | None = None, flags: dict[str, Any] | None = None
) -> tuple[Settings, Layers]:
    """The effective settings and the layers they came from. ``file`` defaults to
    ``STREAMML_CONFIG_FILE``; secrets files are read from ``STREAMML_SECRETS_DIR``."""
    if file is None and os.environ.get(CONFIG_FILE_ENV):
        file = Path(os.environ[CONFIG_FILE_ENV])
    secrets_dir = Path(os.environ[SECRETS_DIR_ENV]) if os.environ.get(SECRETS_DIR_ENV) else None
    layers = Layers(
        file,
        read_config_file(file) if file else {},
        dict(flags or {}),
        secrets_dir,
        read_secrets_dir(secrets_dir) if secrets_dir else {},
    )
    for name in unknown_variables(os.environ):
        logger.warning("%s is not a streamml setting; ignored", name)
    try:
        from_env = Settings()  # defaults plus the environment, parsed by pydantic
        env_values = {name: getattr(from_env, name) for name in from_env.model_fields_set}
        values = {**layers.file_values, **layers.secrets, **env_values, **layers.flags}
        return Settings(**values), layers
    except PydanticValidationError as error:
        raise ConfigurationError(describe(error, layers, dict(os.environ))) from None


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``STREAMML_*`` variables that name no setting (a typo would go unnoticed).

    >>> unknown_variables({"STREAMML_APP_ID": "x", "STREAMML_APPID": "y", "HOME": "/"})
    ['STREAMML_APPID']
    """
    known = {_variable(name) for name in Settings.model_fields}
    known |= {CONFIG_FILE_ENV, SECRETS_DIR_ENV}
    return sorted(
        name
        for name in environ
        if name.startswith(ENV_PREFIX)
        and name not in known
        and not name.startswith(f"{ENV_PREFIX}TEST_")
    )


def describe(error: PydanticValidationError, layers: Layers, environ: Mapping[str, str]) -> str:
    """One line: the first invalid setting, its value (masked if secret), its source."""
    problems = error.errors()
    first = problems[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    if name in Settings.model_fields:
        shown = MASK if name in SECRETS else repr(first.get("input"))
        where = layers.source(name, environ)
        line = f"invalid setting {name} = {shown} (from {where}): {first['msg']}"
    else:
        line = f"invalid settings: {first['msg']}"
    more = len(problems) - 1
    return line + (f" (and {more} more)" if more else "")


def show(settings: Settings, layers: Layers, environ: Mapping[str, str]) -> str:
    """The effective configuration as TOML-like lines, secrets masked, each with its
    source."""
    lines = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        lines.append(f"{name} = {_render(value)}  # {layers.source(name, environ)}")
    return "\n".join(lines)


def _variable(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def _elsewhere(secret: str) -> str:
    """Where a secret may be given instead."""
    variable = _variable(secret)
    return f"give it in the environment ({variable}) or in a file {variable} in {SECRETS_DIR_ENV}"


def _render(value: Any) -> str:
    if isinstance(value, SecretStr):
        return json.dumps(MASK)
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, Path):
        value = str(value)
    try:
        return json.dumps(value, default=_plain)
    except TypeError:
        return json.dumps(str(value))


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)
