"""The operator command line: ``defender-relay`` (console script) or ``python -m shared.cli``.

A thin entry point over the same services the triggers use: parse arguments, build the context, call
one handler, map errors to a message and an exit status. Handlers live in ``*_cmd.py`` modules and
return an exit status; they raise ``RelayError`` for anything an operator should read.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from shared.cli.context import CliContext
from shared.cli.output import EXIT_CONFIG, EXIT_FAILED, EXIT_USAGE, Output
from shared.cli.parser import build_parser
from shared.domain.errors import ConfigError, RelayError, TenantNotFoundError, ValidationError

Handler = Callable[..., int]

__all__ = ["main"]


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run one command; return its exit status. ``environ``/``stdout``/``stderr`` are seams for tests."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    out = Output(stdout=stdout, stderr=stderr, json_mode=bool(getattr(args, "json", False)))
    ctx = CliContext(out=out, environ=os.environ if environ is None else environ, settings_file=args.settings)
    try:
        return _handler(args.handler)(args, ctx)
    except ConfigError as exc:
        out.error(str(exc))
        return EXIT_CONFIG
    except (ValidationError, TenantNotFoundError) as exc:
        out.error(str(exc))
        return EXIT_USAGE
    except RelayError as exc:
        remedy = getattr(exc, "remedy", "")
        out.error(str(exc) + (f"\n  remedy: {remedy}" if remedy else ""))
        return EXIT_FAILED
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    finally:
        ctx.close()


def _handler(path: str | Handler) -> Handler:
    if callable(path):  # a plugin's command (see shared.cli.parser)
        return path
    module_name, _, attr = path.partition(":")
    handler: Handler = getattr(importlib.import_module(module_name), attr)
    return handler


def run() -> None:  # pragma: no cover - thin wrapper for ``python -m``
    sys.exit(main())
