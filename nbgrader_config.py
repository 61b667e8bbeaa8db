"""nbgrader configuration for the bnlab course (the repository root is the course root).

solutions/<A>/<A>.ipynb  is nbgrader's *source* (built from solutions/<A>/<A>.py by `bnlab build`),
lessons/<A>/<A>.ipynb    is nbgrader's *release* (the learner's copy, committed).
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "bnlab"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "lessons"
# The jupytext sources (*.py) are the instructor's text; they never go to learners.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]
# The build's own gradebook lives outside git; `bnlab grade` writes its own into OUT/.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(
    os.path.dirname(os.path.abspath(__file__)), ".nbgrader", "gradebook.db"
)
# Learners' self-checks (Validate button): the lessons' experiment cells train small models,
# which can take longer than nbgrader's default of 30 s per cell on a busy laptop.
c.Execute.timeout = 120
