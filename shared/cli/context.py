"""What a command runs against: the output, the settings and the services, each built on first use.

Building lazily keeps ``tenants list`` from needing a partner app credential and ``consent-link`` from
needing storage; a setting that a command does not use can never stop it. Everything real is built
by ``shared.bootstrap`` (the one place clients are made), exactly as in the Function App.

``--settings local.settings.json`` puts the file's ``Values`` into the process environment, as ``func
start`` does for the Functions host: the client libraries read their own variables from ``os.environ``
(requests ``REQUESTS_CA_BUNDLE``, azure-identity ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``), not from the
settings the relay parses. They are applied before any client is built (sessions read them once) and
taken back when the command ends, so an in-process caller keeps its environment. Unlike ``func start``,
which keeps a variable the environment already has (Azure Functions Core Tools, ``StartHostAction``:
"Skipping '…' from local settings as it's already defined in current environment variables"), the
file wins, and the command says which variables it replaced: the operator named the file, and a shell
that sets ``REQUESTS_CA_BUNDLE`` for a corporate proxy would otherwise never trust the local emulator.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.cli.output import Output
from shared.domain.errors import ConfigError

if TYPE_CHECKING:
    from shared.platform.settings import Settings


class CliContext:
    def __init__(
        self,
        *,
        out: Output,
        environ: Mapping[str, str],
        settings_file: str | None = None,
        process_environ: MutableMapping[str, str] | None = None,
    ) -> None:
        self.out = out
        self._base_environ = environ
        self._settings_file = settings_file
        self._process_environ = os.environ if process_environ is None else process_environ
        self._environ: dict[str, str] | None = None
        self._settings: Settings | None = None
        self._cache: dict[str, Any] = {}
        self._closers: list[Any] = []

    @property
    def environ(self) -> dict[str, str]:
        """The environment, overlaid with ``--settings FILE``'s ``Values``, which are also applied to the process."""
        if self._environ is None:
            merged = dict(self._base_environ)
            if self._settings_file:
                values = _read_local_settings(Path(self._settings_file))
                merged.update(values)
                self._apply_to_process(values)
            self._environ = merged
        return self._environ

    def _apply_to_process(self, values: Mapping[str, str]) -> None:
        saved = {name: self._process_environ.get(name) for name in values}
        replaced = sorted(n for n, old in saved.items() if old and old != values[n])
        self._process_environ.update(values)
        self._closers.append(lambda: _restore(self._process_environ, saved))
        if replaced:
            self.out.info(f"--settings: the file's {', '.join(replaced)} replace(s) the environment's value")

    def settings(self) -> Settings:
        if self._settings is None:
            from shared.platform.settings import Settings

            self._settings = Settings.from_env(self.environ)
        return self._settings

    def cached(self, key: str, build: Any) -> Any:
        """Build a service once per command run (``build()`` is called at most once)."""
        if key not in self._cache:
            value = build()
            self._cache[key] = value
            close = getattr(value, "close", None)
            if callable(close):
                self._closers.append(close)
        return self._cache[key]

    def close(self) -> None:
        while self._closers:
            # Closing is best effort at exit: the command's result stands whatever a close does.
            with contextlib.suppress(Exception):
                self._closers.pop()()


def _restore(environ: MutableMapping[str, str], saved: Mapping[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value


def _read_local_settings(path: Path) -> dict[str, str]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError([f"--settings: {path} does not exist"]) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError([f"--settings: {path} is not readable JSON ({exc})"]) from exc
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise ConfigError([f'--settings: {path} has no "Values" object'])
    return {str(k): str(v) for k, v in values.items()}
