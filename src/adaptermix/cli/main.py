"""The `adaptermix` command line: each command parses, validates, and calls the API.

User errors (`AdapterMixError`, and a plain `ValueError` from the pure layers, which validate their
arguments with it) become one line on stderr and exit code 2; other exceptions are bugs and keep their
traceback.
"""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError

from adaptermix.cli import advise, analysis, attack, commands, data_analysis, interop, report, study, sweep
from adaptermix.errors import AdapterMixError

app = typer.Typer(
    name="adaptermix",
    help="Train, mix, analyse and prune domain-specific adapters (Nguyen & Le 2024).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
commands.register(app)
analysis.register(app)
app.command()(sweep.sweep)
study.register(app)
attack.register(app)
data_analysis.register(app)
interop.register(app)
report.register(app)
advise.register(app)


def usage_line(exc: typer.TyperException) -> str:
    """A parser error as one line that names the command's help, instead of click's usage block.

    Click prints "Usage: ...", "Try ... --help" and "Error: ..." on separate lines; every other
    user error here is one line, so this keeps its message and points at the help instead.
    """
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "adaptermix"
    return f"{message} (see '{command} --help')"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    # The toolkit never needs the hub for offline domains and the embedded encoder; a user who
    # wants hub datasets/encoders sets HF_HUB_OFFLINE=0 explicitly.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(args=argv, prog_name="adaptermix", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except typer.Abort:
        print("adaptermix: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad option or value, missing argument
        print(f"adaptermix: error: {usage_line(exc)}", file=sys.stderr)
        sys.exit(2)
    except AdapterMixError as exc:
        # One line even if a message quotes multi-line text from a library (e.g. pyarrow's errors).
        print(f"adaptermix: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as exc:  # a flag outside its range (e.g. --workers 0): one line, no traceback
        err = exc.errors()[0]
        field = "-".join(str(x) for x in err["loc"]).replace("_", "-")
        option = "--" + {"learning-rate": "lr"}.get(field, field)
        print(f"adaptermix: error: {option}: {err['msg']}", file=sys.stderr)
        sys.exit(2)
    except ValueError as exc:
        # The pure layers (mixing, analysis, pruning) refuse bad arguments with a plain ValueError that names
        # the thing; a user who reaches one through a flag gets its message, not a traceback.
        print(f"adaptermix: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("adaptermix: interrupted", file=sys.stderr)
        sys.exit(130)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
