"""A Dask worker preload for tests/test_cluster.py: a submission whose answer holds the line
``# bnlab-test: kill the worker`` ends the worker process that runs it (as a submission that
crashes every machine it lands on would), before any of its learner code runs."""
import os

MARKER = "# bnlab-test: kill the worker"


def dask_setup(worker) -> None:
    import autograder.cohort.dask_worker as grading_worker

    run_submission = grading_worker.run_submission

    def killing_run_submission(prepared, limits):
        if MARKER in repr(prepared):
            os._exit(1)
        return run_submission(prepared, limits)

    grading_worker.run_submission = killing_run_submission
