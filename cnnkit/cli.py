"""Command line interface: ``cnnkit report [NOTEBOOK ...] --out DIR --timeout SECONDS``.

Also reachable as ``python -m cnnkit``. ``main`` returns the exit status: 0 when every
notebook ran cleanly, 1 when at least one failed (the others are still run and reported),
2 for a usage error such as a notebook path that does not exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cnnkit import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnkit", description="Tools for the cnnkit CNN course.")
    parser.add_argument("--version", action="version", version=f"cnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    report = sub.add_parser(
        "report",
        help="execute course notebooks and write an HTML report",
        description=(
            "Execute notebooks with papermill and write, for each, the executed .ipynb and an "
            "HTML rendering, plus index.html and results.json, into the output folder. "
            "Exit status: 0 all ok, 1 some notebook failed, 2 usage error."
        ),
    )
    report.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        metavar="NOTEBOOK",
        help="notebooks to run (default: the course notebooks notebooks/NN_*.ipynb)",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    report.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=600,
        metavar="SECONDS",
        help="time allowed per cell, 0 for no limit (default: %(default)s)",
    )
    report.set_defaults(func=_cmd_report, parser=report)
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cnnkit.report import default_notebooks, run_course

    if args.notebooks:
        notebooks = list(args.notebooks)
        for nb in notebooks:
            if not nb.exists():
                parser.error(f"notebook not found: {nb}")
            if not nb.is_file() or nb.suffix != ".ipynb":
                parser.error(f"not a notebook (.ipynb file): {nb}")
    else:
        try:
            notebooks = default_notebooks()
        except FileNotFoundError as exc:
            parser.error(str(exc))

    try:
        results = run_course(notebooks, args.out, timeout=args.timeout or None)
    except ValueError as exc:  # e.g. two notebooks with the same name
        parser.error(str(exc))

    for r in results:
        line = f"{r.status:<6} {r.seconds:7.1f}s  {r.html}"
        if r.error:
            line += f"  ({r.error})"
        print(line)
    print(f"index: {args.out / 'index.html'}")
    return 0 if all(r.status == "ok" for r in results) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cnnkit`` command line with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status instead of exiting (usage errors, which argparse reports by
    raising ``SystemExit``, are returned as their status, normally 2), so the console
    script and ``python -m cnnkit`` end with ``sys.exit(main())``.
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args, args.parser)  # usage errors name the subcommand
    except SystemExit as exc:  # argparse: usage error, --help, --version
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
