"""Command line: ``python run_sim.py COMMAND ...`` (or the ``bmc-sim`` script).

Each command lives in its own module under :mod:`sim.cli.commands` and calls
the same library functions as the dashboard.  Bad input of any kind ends
with exit status 2 and a message that names the field and the fix.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

from sim import __version__
from sim.errors import RunawayCourse, UsageError
from sim.outputs.paths import OutputError
from sim.scenario.loader import ScenarioError

# command modules, in the order they are listed by --help; a module that is
# not present in this installation is skipped
COMMANDS = (
    "run",
    "validate",
    "compare",
    "journey",
    "report",
    "psa",
    "owsa",
    "schema",
    "explain",
    "new",
    "diff",
    "bench",
    "kernel",
)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
EXIT_SIGINT, EXIT_SIGTERM = 130, 143  # 128 + the signal number, as shells report it


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwind exactly like Ctrl-C (partial output removed,
    checkpoints kept, each command's own interrupt message), then exit 143.

    A KeyboardInterrupt, so ``except Exception`` in library code does not
    swallow it and a command's ``except KeyboardInterrupt`` handles both."""


_sigterm_received = False
_stopping: int | None = None  # the exit status once a first SIGINT or SIGTERM has arrived
FORCED_EXIT_S = 1.0  # after a second signal, the clean-up the first one started has this long, then the process exits


def _on_signal(signum: int, frame: Any) -> None:
    """The first SIGINT raises KeyboardInterrupt, the first SIGTERM :class:`Terminated`:
    the command unwinds (partial output removed, workers stopped).  A second
    one (either) does not interrupt that clean-up: it kills the local workers
    and ends the process as soon as the clean-up is done, within
    FORCED_EXIT_S; a third ends it at once."""
    global _sigterm_received, _stopping
    if _stopping is None:
        _stopping = EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT
        if signum == signal.SIGTERM:
            _sigterm_received = True
            raise Terminated()
        raise KeyboardInterrupt()
    parallel = sys.modules.get("sim.runtime.parallel")  # loaded only if a command used it
    if parallel is not None:
        parallel.kill_workers()
    if any(t.name == "forced-exit" for t in threading.enumerate()):
        _exit_now(_stopping)
    threading.Thread(target=_exit_after, args=(_stopping,), daemon=True, name="forced-exit").start()


def _exit_after(code: int) -> None:
    time.sleep(FORCED_EXIT_S)
    _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code)


@contextmanager
def _sigterm_as_exception() -> Iterator[None]:
    """SIGINT and SIGTERM handled by :func:`_on_signal` while a command runs
    (main thread only; a SIGINT that this process was started ignoring stays
    ignored).  After an interrupt the local workers are stopped, and the
    handler stays for the rest of the process, so a second signal during the
    interpreter's exit cannot interrupt it either."""
    global _stopping
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stopping = None
    kinds = [signal.SIGTERM] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else [])
    old = {k: signal.signal(k, _on_signal) for k in kinds}
    try:
        yield
    finally:
        if _stopping is not None:
            parallel = sys.modules.get("sim.runtime.parallel")
            if parallel is not None:
                parallel.stop_pools()
        else:
            for k, handler in old.items():
                signal.signal(k, signal.SIG_DFL if handler is None else handler)


def _stages_folder(args: argparse.Namespace) -> bool:
    """True for a command that writes a results folder through a staged temporary
    folder, removed when the command stops before it is complete."""
    command = getattr(args, "command", None)
    return command in ("run", "owsa") or (command == "compare" and bool(getattr(args, "out", None)))


def _kept(args: argparse.Namespace) -> str | None:
    """What is true of the user's files when the command stops now (set by the
    command as it goes on, as ``args.kept``), or None when nothing can be said."""
    kept = getattr(args, "kept", None)
    if kept:
        return str(kept)
    if _stages_folder(args):
        return "the unfinished results folder was removed; nothing was written for it"
    if getattr(args, "docs", False):
        return None  # schema --docs rewrites two files, one after the other
    if getattr(args, "command", None) in ("validate", "compare", "journey", "schema", "explain", "new", "diff", "bench"):
        return "nothing was written"  # these write nothing, or one file only when it is complete
    return None


def _stopped(args: argparse.Namespace, how: str) -> None:
    """What an interrupted command tells the user: what was kept and how to resume."""
    hint = getattr(args, "resume_hint", None) or (
        "to resume, run the same command again (it starts the unfinished run over)"
        if _stages_folder(args)
        else "run the same command again to start over"
    )
    kept = _kept(args)
    sys.stderr.write(f"{how}: {kept + '; ' if kept else ''}{hint}\n")


def _os_error(args: argparse.Namespace, exc: OSError) -> str:
    """The one-line message of an operating-system error: the path, the fix, what was kept."""
    from sim.oserrors import describe

    out = getattr(args, "out", None)
    where = {"report": getattr(args, "results", None), "new": getattr(args, "dir", None)}.get(getattr(args, "command", ""), out)
    elsewhere = {"report": None, "new": "give another --dir"}.get(
        getattr(args, "command", ""), "choose another --out" if hasattr(args, "out") else None
    )
    text = describe(exc, path=where or "the output folder (results/ by default)", elsewhere=elsewhere)
    if getattr(exc, "__notes__", None):  # the writer that failed said what it kept
        kept = None
    elif _stages_folder(args) and not getattr(args, "kept", None):
        kept = "nothing was kept"  # an unfinished results folder is removed; it may not have been started
    else:
        kept = _kept(args)
    return f"{text}; {kept}" if kept else text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own errors: same exit status, no traceback
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
            mod = importlib.import_module(f"sim.cli.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"sim.cli.commands.{name}":
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the commands load: nothing was started
        return EXIT_SIGINT
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    global _sigterm_received
    _sigterm_received = False
    try:
        with _sigterm_as_exception():
            code = int(args.func(args) or 0)
        # a command that handled the interrupt itself (e.g. psa: "continue with --resume") still exits 143 on SIGTERM
        return EXIT_SIGTERM if _sigterm_received and code == EXIT_SIGINT else code
    except (ScenarioError, OutputError, UsageError, RunawayCourse) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except Terminated:
        _stopped(args, "terminated (SIGTERM)")
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        _stopped(args, "interrupted (SIGINT)")
        return EXIT_SIGINT
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # disk full, read-only, permissions, names too long, a folder that vanished...
        sys.stderr.write(f"error: {_os_error(args, exc)}\n")
        return EXIT_USAGE
    except BrokenProcessPool as exc:  # a local worker process died (killed, out of memory, crashed)
        sys.stderr.write(
            f"error: a worker process stopped unexpectedly ({exc}); results finished before it were kept where the command "
            "checkpoints them (psa: continue with --resume); otherwise run the same command again, with fewer --workers "
            "if memory is short\n"
        )
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
