"""``schema [--out FILE] [--force] | --docs``: the JSON Schema of scenario files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.cli.commands.common import given
from sim.errors import UsageError
from sim.oserrors import write_text
from sim.scenario import reference


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of scenario files (editors validate and complete with it)",
        description="Print the JSON Schema of scenario files, generated from the definitions the loader validates with.",
    )
    p.add_argument(
        "--out",
        type=given("a file path"),
        help="write the schema to FILE instead of printing it (an existing file needs --force)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument(
        "--docs",
        action="store_true",
        help="regenerate docs/scenario.schema.json and docs/scenario-reference.md in the project (after a change to sim/scenario/model.py)",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.docs:
        if args.out:
            raise UsageError("give either --docs or --out, not both")
        if not (reference.ROOT_DIR / "sim").is_dir() or not (reference.ROOT_DIR / "pyproject.toml").is_file():
            raise UsageError(f"--docs writes into the project's docs/ folder, but no project was found at {reference.ROOT_DIR}")
        for path, changed in reference.write_generated_docs():
            shown = path.relative_to(reference.ROOT_DIR) if path.is_relative_to(reference.ROOT_DIR) else path
            print(f"{'updated' if changed else 'unchanged'}: {shown}")
        return 0
    text = reference.schema_json()
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name, e.g. {out / 'scenario.schema.json'}")
    if not out.parent.is_dir():
        raise UsageError(f"folder {out.parent} does not exist; create it first")
    if (out.exists() or out.is_symlink()) and not args.force:
        raise UsageError(f"{out} already exists; add --force to replace it (nothing was written)")
    try:
        write_text(out, text, exclusive=not args.force)  # whole or not at all; never a file that appeared meanwhile
    except FileExistsError:
        raise UsageError(f"{out} already exists; add --force to replace it (nothing was written)") from None
    print(f"schema written to {out}")
    return 0
