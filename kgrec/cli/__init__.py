"""The `kgrec` command: a thin layer over the Python API.

Each layer's commands live in their own module here and register on :data:`app`. Errors from
kgrec exit non-zero with one clear line; ``-v`` shows the traceback.

This is an edge: :func:`main` makes ``KGREC_HOME`` / ``KGREC_DATA_HOME`` absolute once
(:func:`kgrec.config.pin_environment`) before any command runs, so every path a command prints
(dataset not found, store folder, run directory) is the resolved one.
"""

from __future__ import annotations

import logging
import sys

import typer

from kgrec.errors import KgrecError

app = typer.Typer(name="kgrec", help="Knowledge-graph-augmented recommendations.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
state = {"verbose": False}


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log more and show tracebacks.")) -> None:
    state["verbose"] = verbose
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # Third-party chatter stays quiet unless -v.
    for name in ("httpx", "neo4j", "urllib3", "transformers", "filelock"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _register() -> None:
    # Imported for their side effect: each module adds its commands to `app`.
    import importlib

    for module in ("kg", "text", "train", "serve", "quickstart", "events", "intent", "explain"):
        try:
            importlib.import_module(f"kgrec.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"kgrec.cli.{module}":
                raise


def main() -> None:
    """Entry point of the `kgrec` script."""
    from kgrec.config import pin_environment

    pin_environment()
    _register()
    try:
        app(standalone_mode=False)
    except KgrecError as e:
        if state["verbose"]:
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:
        # Usage errors: typer bundles its own click, so match the shape rather than the class.
        show, code = getattr(e, "show", None), getattr(e, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
