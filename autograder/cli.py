"""The ``bnlab`` command line: a thin layer over :mod:`autograder.course.build` and :mod:`autograder.cohort.run`."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from autograder.course.build import CourseError, assignments, build, ensure_tools_on_path, find_root, stale_lessons


def _root(args) -> Path:
    return find_root(Path(args.course)) if args.course else find_root()


def cmd_build(args) -> int:
    root = _root(args)
    for path in build(root, args.assignments or None):
        print(f"built {path.relative_to(root)}")
    return 0


def cmd_check(args) -> int:
    root = _root(args)
    stale = stale_lessons(root)
    if stale:
        print(f"lessons/ is stale for {', '.join(stale)}: run `bnlab build` and commit lessons/", file=sys.stderr)
        return 1
    print(f"lessons/ matches solutions/ for {', '.join(assignments(root))}")
    return 0


def cmd_grade(args) -> int:
    from autograder.cohort.run import grade_cohort

    root = _root(args)
    summary = grade_cohort(root, Path(args.submitted), Path(args.out), assignments=args.assignment or None,
                           workers=args.workers, force=args.force, timeout=args.timeout,
                           notebook_timeout=args.notebook_timeout, memory_mb=args.memory_mb,
                           progress=not args.quiet, db_url=args.db, cluster=args.cluster, **_zip_options(args))
    return 0 if summary is not None else 1


def cmd_worker(args) -> int:
    """An ordinary Dask worker with bnlab's preload (autograder.cohort.dask_worker): --slots
    grading slots, each one submission at a time."""
    import os

    from autograder.cohort.dask_worker import SLOT

    try:
        import distributed  # noqa: F401
    except ImportError as error:
        raise CourseError(f"bnlab worker needs dask.distributed ({error}); pip install distributed")
    slots = args.slots or os.cpu_count() or 1
    if slots < 1:
        raise CourseError(f"--slots must be at least 1 (got {slots})")
    command = [sys.executable, "-m", "distributed.cli.dask_worker", args.scheduler, "--nthreads", str(slots),
               "--nworkers", "1", "--resources", f"{SLOT}={slots}", "--preload", "autograder.cohort.dask_worker",
               "--no-dashboard", *args.dask_options]
    if args.host:  # Dask's HTTP endpoints (metrics, health) listen there too, not on every interface
        command += ["--host", args.host, "--dashboard-address", f"{args.host}:0"]
    if args.name:
        command += ["--name", args.name]
    sys.stdout.flush()
    os.execv(sys.executable, command)
    return 0  # not reached


# --------------------------------------------------------------------------- release, collect, bundle
# (nbgrader's exchange: autograder.course.exchange; LMS zips: autograder.course.collect; learners' zip: autograder.course.bundle)

def _zip_options(args) -> dict:
    return {"zip_regexp": args.zip_regexp} if getattr(args, "zip_regexp", None) else {}


def cmd_release(args) -> int:
    from autograder.course.exchange import release

    root = _root(args)
    exchange = Path(args.exchange) if args.exchange else None
    for path in release(root, args.assignments or None, exchange, build_first=not args.no_build, force=args.force):
        print(f"released {path}")
    return 0


def cmd_collect(args) -> int:
    from autograder.course.exchange import collect

    root = _root(args)
    collected = collect(root, args.assignments or None, Path(args.to), Path(args.exchange) if args.exchange else None)
    for assignment, students in collected.items():
        print(f"{assignment}: {len(students)} submission(s) in {args.to}" + (f" ({', '.join(students)})" if students else ""))
    print(f"grade them with: bnlab grade {args.to} --out OUT")
    return 0


def cmd_bundle(args) -> int:
    from autograder.course.bundle import write_bundle

    path = write_bundle(_root(args), Path(args.out))
    print(f"wrote {path}")
    return 0


def cmd_export(args) -> int:
    from autograder.cohort.export import export_grades

    path = export_grades(Path(args.out), args.format, Path(args.to) if args.to else None,
                         Path(args.roster) if args.roster else None)
    print(f"wrote {path}")
    return 0


def add_export_command(sub) -> None:
    p = sub.add_parser("export", help="write a gradebook file for an LMS (Canvas) or a plain CSV",
                       description="Write the grades `bnlab grade` recorded in OUT (results/ or grades.json) as "
                                   "a file Canvas's Gradebook > Import takes (--format canvas), or one row per "
                                   "learner (--format csv). See autograder/cohort/export.py.")
    p.add_argument("out", help="the OUT folder of `bnlab grade`")
    p.add_argument("--format", choices=["canvas", "csv"], default="canvas", help="the file's form (default canvas)")
    p.add_argument("--to", help="the file to write (default OUT/canvas_grades.csv or OUT/gradebook.csv)")
    p.add_argument("--roster", help="Canvas's gradebook export (CSV): learners matched by SIS Login ID, "
                                    "SIS User ID or ID, the other columns taken from it")
    p.set_defaults(func=cmd_export)


def add_exchange_commands(sub) -> None:
    p = sub.add_parser("release", help="build lessons and release them into nbgrader's exchange",
                       description="Build lessons/<A> (bnlab build) and run `nbgrader release_assignment` for "
                                   "each assignment into the exchange (course id bnlab). Learners then fetch and "
                                   "submit from JupyterLab's Assignments panel (or `nbgrader fetch_assignment A "
                                   "--course bnlab`, `nbgrader submit A --course bnlab`).")
    p.add_argument("assignments", nargs="*", help="assignments to release (default: all)")
    p.add_argument("--exchange", help="the exchange folder (default: nbgrader's configured Exchange.root, "
                                      "/usr/local/share/nbgrader/exchange if unset)")
    p.add_argument("--force", action="store_true", help="replace an assignment already released")
    p.add_argument("--no-build", action="store_true", help="release lessons/ as it is, without building first")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("collect", help="collect learners' submissions from nbgrader's exchange",
                       description="Run `nbgrader collect --update` for each assignment: each learner's latest "
                                   "submission goes to TO/<student_id>/<A>/<A>.ipynb, which `bnlab grade TO "
                                   "--out OUT` grades.")
    p.add_argument("assignments", nargs="*", help="assignments to collect (default: all)")
    p.add_argument("--exchange", help="the exchange folder (default: nbgrader's configured Exchange.root)")
    p.add_argument("--to", required=True, help="the submitted folder to fill (created)")
    p.set_defaults(func=cmd_collect)

    p = sub.add_parser("bundle", help="write the learners' zip (lessons, utils, visible checks)",
                       description="Write a zip for courses that hand out files: lessons/, utils/, the "
                                   "autograder.checks modules the visible tests import, a pyproject.toml "
                                   "(`pip install .`) and a README; nothing of solutions/, tests/ or hidden tests.")
    p.add_argument("--out", default="bnlab-lessons.zip", help="the zip to write (default: bnlab-lessons.zip)")
    p.set_defaults(func=cmd_bundle)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="bnlab", description="bnlab: batch normalization lessons, graded by behaviour.")
    main.add_argument("--course", help="the course folder (default: found from the current folder)")
    sub = main.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build lessons/ from solutions/ (jupytext + nbgrader generate_assignment)",
                       description="Build each solutions/<A>/<A>.py into nbgrader's source notebook and generate "
                                   "the learner's copy lessons/<A>/<A>.ipynb. Commit lessons/ afterwards.")
    p.add_argument("assignments", nargs="*", help="assignments to build (default: all)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("check", help="fail if lessons/ is stale with respect to solutions/",
                       description="Rebuild every lesson in a temporary folder and compare with lessons/.")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("grade", help="grade a cohort of submissions",
                       description="Grade SUBMITTED/<student_id>/<assignment>/<assignment>.ipynb with nbgrader's "
                                   "restore of the instructor's cells and bnlab's behavioural checks. Writes "
                                   "OUT/grades.json, grades.csv, feedback/, report.html and gradebook.db.")
    p.add_argument("submitted", help="folder in nbgrader's submitted layout")
    p.add_argument("--out", required=True, help="output folder (created; reused to resume)")
    p.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    p.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: CPU count)")
    p.add_argument("--force", action="store_true", help="regrade submissions already graded")
    p.add_argument("--timeout", type=float, default=60, help="seconds per cell (default 60)")
    p.add_argument("--notebook-timeout", type=float, default=300, help="seconds per notebook (default 300)")
    p.add_argument("--memory-mb", type=int, default=3072, help="memory cap per submission, MiB (default 3072)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--zip-regexp", help="for a zip or folder of notebooks not in the submitted layout (an LMS "
                                        "download): nbgrader zip_collect's named_regexp, with groups "
                                        "(?P<student_id>...) and (?P<file_id>...), matched against each notebook's "
                                        "path; {assignments} stands for the course's assignment names (default: "
                                        "'<student_id>_<assignment>...ipynb', '<assignment>_<student_id>...ipynb' "
                                        "or '<student_id>/<assignment>...ipynb')")
    p.add_argument("--db", help="the gradebook: any database URL nbgrader's gradebook supports, e.g. "
                                "postgresql://user@host:5432/gradebook (default: sqlite OUT/gradebook.db)")
    p.add_argument("--cluster", metavar="tcp://HOST:PORT",
                   help="grade on the workers of this Dask scheduler (started with `bnlab worker`); this "
                        "process stays the only one that writes OUT and the gradebook (--workers is unused)")
    p.set_defaults(func=cmd_grade)

    p = sub.add_parser("worker", help="start a Dask worker that grades for `bnlab grade --cluster`",
                       description="Start an ordinary Dask worker (dask worker SCHEDULER --nthreads N --resources "
                                   "grading_slot=N --preload autograder.cohort.dask_worker) whose slots are prepared "
                                   "once: the sandbox probed, the fork server started with PyTorch imported. "
                                   "Other options go to `dask worker` as they are (e.g. --nanny/--no-nanny, --memory-limit).")
    p.add_argument("scheduler", help="the scheduler's address, tcp://HOST:PORT")
    p.add_argument("--slots", type=int, default=None, help="submissions graded at once (default: CPU count)")
    p.add_argument("--host", help="the address this worker listens on (default: Dask's choice)")
    p.add_argument("--name", help="the worker's name")
    p.set_defaults(func=cmd_worker)
    add_exchange_commands(sub)
    add_export_command(sub)
    return main


def _interrupt(signum, frame) -> None:
    """SIGTERM (``kill``, a batch system's time limit) ends a run as Ctrl-C does: in-flight
    submissions stop, their kernels and scratch go, what is recorded stays."""
    raise KeyboardInterrupt


def main(argv=None) -> int:
    command_line = parser()
    args, extra = command_line.parse_known_args(argv)
    if args.command == "worker":
        args.dask_options = [option for option in extra if option != "--"]
    elif extra:
        command_line.error(f"unrecognized arguments: {' '.join(extra)}")
    ensure_tools_on_path()
    previous = None
    if args.command != "worker" and threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)  # Dask's worker handles its own signals
    try:
        return args.func(args)
    except CourseError as error:
        print(f"bnlab: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bnlab: interrupted; grades recorded so far are kept", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
