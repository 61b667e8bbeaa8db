"""The kernel a submission runs in: an IPython kernel started inside limits.

``python -m autograder.run.kernel --memory-mb 3072 --threads 1 -- -f CONNECTION_FILE`` applies the
limits to its own process (they are inherited by anything the learner's code starts), seeds
``random``, NumPy and PyTorch, then becomes an ordinary ipykernel.  The grader's kernel
manager (:mod:`autograder.run.notebook`) starts it in a process group of its own and ends the
whole group when the submission is done.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys

SEED = 0


# What the numerical libraries read, once, when they load, to size their thread pools.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def apply_limits(memory_mb: int, threads: int, max_processes: int, max_file_mb: int) -> None:
    """Limits for this process and its children (POSIX rlimits).

    The memory cap is on address space, which counts what PyTorch reserves but never touches,
    so it should be a few GiB, not the few hundred MiB a script actually uses.
    """
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if max_processes:
        # Counts every process of this user; effective for unprivileged users only (root is exempt),
        # which is why the grader also ends the kernel's whole process group / sandbox.
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        wanted = max_processes if hard == resource.RLIM_INFINITY else min(max_processes, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (wanted, wanted))
        except (ValueError, OSError):
            pass
    if max_file_mb:
        size = max_file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def join_cgroups(procs_files) -> None:
    """Move this process into the submission's cgroups (its children follow)."""
    for path in procs_files:
        with open(path, "w") as procs:
            procs.write(str(os.getpid()))


def seed_and_configure(threads: int) -> None:
    import random

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-mb", type=int, default=3072)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-processes", type=int, default=0)
    parser.add_argument("--max-file-mb", type=int, default=256)
    parser.add_argument("--cgroup-procs", action="append", default=[],
                        help="cgroup.procs files to join first (the submission's cgroups)")
    parser.add_argument("--evidence", nargs=2, type=int, metavar=("REQUEST_FD", "RESULT_FD"),
                        help="run the evidence step (autograder.run.evidence) on these pipes instead of a kernel")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for ipykernel (after --)")
    args = parser.parse_args(argv)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    join_cgroups(args.cgroup_procs)
    # With cgroups the process cap is the cgroup's pids.max; RLIMIT_NPROC would count the whole user.
    apply_limits(args.memory_mb, args.threads, 0 if args.cgroup_procs else args.max_processes, args.max_file_mb)
    seed_and_configure(args.threads)
    if args.evidence:
        from autograder.run.evidence import main as evidence_main

        evidence_main(*args.evidence)
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=rest)


if __name__ == "__main__":
    sys.exit(main())
