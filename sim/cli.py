"""Command line: ``python run_sim.py COMMAND ...`` (or the ``bmc-sim`` script).

Each command lives in its own module under :mod:`sim.commands` and calls
the same library functions as the dashboard.  Bad input of any kind ends
with exit status 2 and a message that names the field and the fix.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .course import RunawayCourse
from .loader import ScenarioError
from .output import OutputError

# command modules, in the order they are listed by --help; a module that is
# not present in this installation is skipped
COMMANDS = ("run", "validate", "compare", "journey", "report", "psa", "owsa", "schema", "explain", "new", "diff", "bench")

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input detected by a command (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: same exit status, no traceback
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="run_sim.py",
        description="Bone marrow carcinosis course simulator. Parameters are illustrative, not clinically validated.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"sim.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sim.commands.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except (ScenarioError, OutputError, UsageError, RunawayCourse) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; nothing was written for the unfinished run\n")
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
