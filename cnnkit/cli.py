"""Command line interface: ``cnnkit report``, the instructor report over parameter grids, and
``cnnkit exercises``, the graded exercises (nbgrader).

``cnnkit report [NOTEBOOK ...] [-p NAME=VALUE[,VALUE...]]... [--grid | --zip] [--out DIR]
[--jobs N | --scheduler ADDRESS] [--timeout SECONDS] [--no-input] [--dry-run] [--force]
[--memory-budget-mb MB]``

``cnnkit exercises release [--out DIR] [--lesson NAME]...``
``cnnkit exercises autograde SUBMISSIONS [--out DIR] [--timeout SECONDS] [--lesson NAME]...
[--jobs N | --scheduler ADDRESS]``
(both also take ``--exercises DIR``; a thin layer over ``cnnkit.grading``)

Also reachable as ``python -m cnnkit``. ``main`` returns the exit status: 0 when every
run ended cleanly, 1 when at least one failed (the others are still run and reported),
2 for a usage error (a notebook path that does not exist, an unknown parameter, a value
of the wrong type, ``--zip`` with different numbers of values, ...), in which case
nothing has been executed or written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cnnkit import __version__

_REPORT_EPILOG = """\
parameters:
  -p NAME=VALUE sets a parameter of the notebooks' cell tagged "parameters"; every NAME
  must be a parameter of every notebook run, and values are converted to the type of the
  default (int, float, bool: true/false/yes/no/1/0, str, list as [1, 2]) and must be
  allowed by the parameter's comment in that cell, if it declares values: a range
  "# 0..9" (inclusive; "1.." or "..0.5" leave one side open) or choices
  '# one of: "adam", "sgd"'. Several values (NAME=V1,V2; commas inside [...] or quotes do
  not split) make several runs: --grid (the default) runs every combination, --zip pairs
  the i-th values.

where runs execute: one at a time here (default), --jobs N at a time here, or on a Dask
  cluster with --scheduler tcp://HOST:8786 (workers started with "dask worker ADDRESS
  --nthreads 1" on machines with the course installed, seeing DIR and the notebooks at the
  same paths).

outputs (in DIR, per run RUN = notebook name plus the non-default parameters):
  RUN.ipynb, RUN.html, RUN.run.json (status, metrics, seconds, peak memory; written last,
  so a run is complete once it exists); index.html, results.json and results.csv list
  every complete run in DIR. Complete runs newer than their notebook are not re-run
  (--force re-runs them); failed runs always are.

examples:
  cnnkit report                                  the whole course, default parameters
  cnnkit report notebooks/01_convolution.ipynb -p digit=3,7 -p seed=0,1 --jobs 2
  cnnkit report notebooks/01_convolution.ipynb -p digit=3,7 -p seed=0,1 --zip --dry-run
  cnnkit report notebooks/04_mnist.ipynb -p optimizer=adam,sgd --scheduler tcp://10.0.0.5:8786

exit status: 0 all runs ok, 1 some run failed, 2 usage error (nothing run or written).
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnkit", description="Tools for the cnnkit CNN course.")
    parser.add_argument("--version", action="version", version=f"cnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    report = sub.add_parser(
        "report",
        help="execute course notebooks (over parameter grids) and write an HTML report",
        description=(
            "Execute notebooks with papermill, for one or several parameter settings, and\n"
            "write for each run the executed .ipynb and an HTML rendering, plus index.html\n"
            "(one row per run: parameters, status, metrics, data source, wall time, peak\n"
            "memory; a comparison figure per metric), results.json and results.csv."
        ),
        epilog=_REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "notebooks",
        nargs="*",
        type=Path,
        metavar="NOTEBOOK",
        help="notebooks to run (default: the course notebooks notebooks/NN_*.ipynb)",
    )
    report.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        action="append",
        type=_parameter_option,
        default=[],
        metavar="NAME=VALUE[,VALUE...]",
        help="set a notebook parameter; several values make several runs (repeatable)",
    )
    mode = report.add_mutually_exclusive_group()
    mode.add_argument(
        "--grid",
        dest="mode",
        action="store_const",
        const="grid",
        help="run every combination of the parameter values (the default)",
    )
    mode.add_argument(
        "--zip",
        dest="mode",
        action="store_const",
        const="zip",
        help="pair the i-th values of the parameters (same number of values each)",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    report.add_argument(
        "--jobs",
        "-j",
        type=_positive_int,
        default=1,
        metavar="N",
        help="runs executed at the same time, each in its own process (default: %(default)s)",
    )
    report.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="send the runs to this Dask distributed scheduler (e.g. tcp://10.0.0.5:8786) "
        "instead of running them here",
    )
    report.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=600,
        metavar="SECONDS",
        help="time allowed per cell, 0 for no limit (default: %(default)s)",
    )
    report.add_argument(
        "--no-input",
        dest="include_input",
        action="store_false",
        help="leave the code cells' input out of the HTML pages",
    )
    report.add_argument(
        "--dry-run",
        action="store_true",
        help="check the parameters and print the runs, without executing or writing anything",
    )
    report.add_argument(
        "--force",
        action="store_true",
        help="re-run runs whose outputs are complete and up to date",
    )
    report.add_argument(
        "--memory-budget-mb",
        type=_positive_mb,
        default=1536.0,
        metavar="MB",
        help="flag runs whose kernel peaks above this many MB (2**20 bytes; "
        "default: %(default)g)",
    )
    report.set_defaults(func=_cmd_report, parser=report)
    _add_exercises_parser(sub)
    return parser


_EXERCISES_EPILOG = """\
layout:
  exercises/source/<lesson>/<lesson>.ipynb   instructor versions (solutions, hidden tests)
  SUBMISSIONS/<student>/<lesson>.ipynb       what students hand in (or
                                             SUBMISSIONS/<student>/<lesson>/<lesson>.ipynb)

examples:
  cnnkit exercises release --out build/release          every lesson's student version
  cnnkit exercises autograde submissions --out build/grades --timeout 30
  cnnkit exercises autograde submissions --out build/grades --jobs 2
  cnnkit exercises autograde /shared/submissions --out /shared/grades \\
      --scheduler tcp://10.0.0.5:8786     workers: "dask worker tcp://10.0.0.5:8786"

needs nbgrader: pip install 'cnnkit[instructor]'
"""

_AUTOGRADE_EPILOG = """\
outputs (in DIR):
  grades.csv    student,lesson,part,points,max (one row per graded part)
  totals.csv    student,lesson,points,max,status (graded / missing / failed)
  review.csv    student,lesson,flag,detail: signs of tampering for a person to look at
  feedback/<student>/<lesson>.html, autograded/<student>/<lesson>.ipynb, grading.log,
  .state/ (saved verdicts: a re-run resumes and regrades only what changed)

Each notebook runs in a bubblewrap sandbox (no network, own PID namespace, read-only Python
environment, writes only to its own folder, memory/file/process/CPU limits, as a user of its
own when started as root). Test cells run in their original version (hidden tests included); the
hidden tests hand the student's outputs on hidden inputs back as data, and the grader
compares them with the reference solution's: a part scores when all match and no forbidden
reference was called. A cell running longer than the time limit is interrupted.

exit status: 0 all graded, 1 some notebook could not be graded (scored 0, see grading.log),
2 usage error.
"""


def _add_exercises_parser(sub) -> None:
    exercises = sub.add_parser(
        "exercises",
        help="release and autograde the graded exercises (nbgrader, no JupyterHub needed)",
        description="The graded exercises (nbgrader format, exercises/source/): make the "
        "student versions, and autograde a folder of submissions into a grades CSV and "
        "feedback pages.",
        epilog=_EXERCISES_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = exercises.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--lesson",
            dest="lessons",
            action="append",
            metavar="NAME",
            help="only this lesson, e.g. 01_convolution (repeatable; default: every lesson)",
        )
        p.add_argument(
            "--exercises",
            type=Path,
            default=None,
            metavar="DIR",
            help="the nbgrader course folder (default: ./exercises, else the repository's)",
        )

    release = actions.add_parser(
        "release",
        help="write the student version of every lesson (no solutions, no hidden tests)",
        description="nbgrader generate_assignment for every lesson: DIR/<lesson>/<lesson>.ipynb "
        "with the solutions replaced by stubs, hidden tests and outputs removed, test cells "
        "locked. An earlier release of the same lesson in DIR is replaced.",
    )
    release.add_argument(
        "--out",
        type=Path,
        default=Path("build/release"),
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    common(release)
    release.set_defaults(func=_cmd_exercises_release, parser=release)

    autograde = actions.add_parser(
        "autograde",
        help="grade a folder of submissions: grades CSV and feedback HTML per student",
        description="Grade every student folder in SUBMISSIONS: each notebook in its own "
        "sandboxed kernel, the verdict computed outside it (see below).",
        epilog=_AUTOGRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    autograde.add_argument(
        "submissions", type=Path, metavar="SUBMISSIONS", help="one folder per student"
    )
    autograde.add_argument(
        "--out",
        type=Path,
        default=Path("build/grades"),
        metavar="DIR",
        help="output folder (default: %(default)s)",
    )
    autograde.add_argument(
        "--timeout",
        type=_timeout_seconds,
        default=None,
        metavar="SECONDS",
        help="time each cell may run (default: Execute.timeout in "
        "exercises/nbgrader_config.py, 60)",
    )
    autograde.add_argument(
        "--no-sandbox",
        dest="sandbox",
        action="store_false",
        help="run student code WITHOUT the bubblewrap sandbox, with your permissions (only "
        "inside a disposable container or VM; a warning says so)",
    )
    autograde.add_argument(
        "--secret",
        default=None,
        metavar="TEXT",
        help="the grading secret the hidden inputs are drawn from (default: "
        "$CNNKIT_GRADING_SECRET, else ~/.config/cnnkit/grading-secret, created on first use)",
    )
    parallel = autograde.add_mutually_exclusive_group()
    parallel.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="grade N notebooks at once, each in its own sandbox (1-16; default: 1); the CSVs "
        "are the same as one at a time",
    )
    parallel.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="grade each notebook on a worker of this Dask distributed scheduler (e.g. "
        "tcp://10.0.0.5:8786) instead of here; the workers need the course installed, bwrap, "
        "and the --out folder at the same path (a shared file system: the submissions are "
        "copied into it); this machine still runs the reference solutions, saves the "
        "verdicts and writes the CSVs",
    )
    common(autograde)
    autograde.set_defaults(func=_cmd_exercises_autograde, parser=autograde)


def _timeout_seconds(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second: {text}")
    return round(value)


def _parameter_option(text: str) -> tuple[str, list[str]]:
    from cnnkit.report import parse_parameter_option

    try:
        return parse_parameter_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _positive_mb(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of MB: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _report_notebooks(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list:
    """The notebooks ``cnnkit report`` was asked to run (default: the course's), checked."""
    from cnnkit.report import default_notebooks

    if not args.notebooks:
        try:
            return default_notebooks()
        except FileNotFoundError as exc:
            parser.error(str(exc))
    for nb in args.notebooks:
        if not nb.exists():
            parser.error(f"notebook not found: {nb}")
        if not nb.is_file() or nb.suffix != ".ipynb":
            parser.error(f"not a notebook (.ipynb file): {nb}")
    return list(args.notebooks)


def _print_dry_run(runs: list, args: argparse.Namespace) -> None:
    from cnnkit.report import is_up_to_date

    fresh = 0
    for spec in runs:
        up_to_date = not args.force and is_up_to_date(spec, args.out)
        fresh += up_to_date
        state = "up to date" if up_to_date else "would run"
        print(f"{state:<10}  {spec.run_id}  ({spec.describe()})  -> {spec.run_id}.html")
    print(
        f"{len(runs)} run{'s' if len(runs) != 1 else ''} into {args.out}, {fresh} up to "
        "date; --dry-run: nothing executed or written"
    )


def _cmd_report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cnnkit.report import check_runs, plan_runs, run_report

    notebooks = _report_notebooks(args, parser)
    # Everything that can be wrong with the request is found here, before anything runs.
    try:
        runs = plan_runs(notebooks, args.parameters, mode=args.mode or "grid")
        check_runs(runs, args.out)
    except ValueError as exc:  # ParameterError, or two runs writing the same files
        parser.error(str(exc))
    if args.dry_run:
        _print_dry_run(runs, args)
        return 0

    try:
        results = run_report(
            runs,
            args.out,
            timeout=args.timeout or None,
            jobs=args.jobs,
            scheduler=args.scheduler,
            include_input=args.include_input,
            force=args.force,
            memory_budget_mb=args.memory_budget_mb,
        )
    except KeyboardInterrupt:
        print(
            "interrupted: runs that finished are complete; the others will run next time",
            file=sys.stderr,
        )
        return 130
    except ConnectionError as exc:  # --scheduler that does not answer
        print(f"cnnkit report: {exc}", file=sys.stderr)
        return 1

    for r in results:
        memory = "     ? MB" if r.peak_memory_mb is None else f"{r.peak_memory_mb:6.0f} MB"
        line = f"{r.status:<6} {r.seconds:7.1f}s {memory}  {r.html}"
        if r.skipped:
            line += "  (up to date, not re-run)"
        if r.peak_memory_mb is not None and r.peak_memory_mb > args.memory_budget_mb:
            line += f"  (over the {args.memory_budget_mb:g} MB memory budget)"
        if r.error:
            line += f"  ({r.error})"
        print(line)
    print(f"index: {args.out / 'index.html'}")
    return 0 if all(r.ok for r in results) else 1


def _cmd_exercises_release(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cnnkit import grading

    try:
        written = grading.release(args.out, exercises=args.exercises, lessons=args.lessons)
    except grading.GradingError as exc:
        parser.error(str(exc))
    except (ImportError, RuntimeError) as exc:
        print(f"cnnkit exercises release: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"{len(written)} lesson{'s' if len(written) != 1 else ''} released into {args.out}")
    return 0


def _cmd_exercises_autograde(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from cnnkit import grading

    try:
        result = grading.autograde(args.submissions, args.out, exercises=args.exercises,
                                   timeout=args.timeout, lessons=args.lessons,
                                   sandbox=args.sandbox, secret=args.secret,
                                   jobs=args.jobs, scheduler=args.scheduler)
    except grading.GradingError as exc:
        parser.error(str(exc))
    except (ImportError, RuntimeError, ConnectionError) as exc:  # SandboxError: bwrap missing
        print(f"cnnkit exercises autograde: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM
        print(f"interrupted: the verdicts so far are saved in {args.out / '.state'}; run the "
              "same command again to resume", file=sys.stderr)
        return 130

    for line in result.ignored:
        print(f"ignored: {line}")
    for key, (points, most) in result.totals().items():
        student, lesson = key
        line = f"{student:<20} {lesson:<20} {points:6g} / {most:g}"
        if key in result.failed:
            line += f"  (failed: {result.failed[key]})"
        elif result.status[key] != "graded":
            line += f"  ({result.status[key]})"
        if key in result.restored:
            line += "  (locked cells restored: " + ", ".join(result.restored[key]) + ")"
        print(line)
    if result.review:
        print(f"{len(result.review)} sign(s) of tampering to look at: {result.out / 'review.csv'}")
    print(f"grades: {result.grades_csv}  totals: {result.totals_csv}  feedback: "
          f"{result.out / 'feedback'}  log: {result.log}")
    return 0 if result.ok else 1


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
