"""nbgrader configuration for the instructor's JupyterLab on the bnlab hub (formgrader, exchange).

The hub puts this folder on the instructor's JUPYTER_CONFIG_PATH (jupyterhub_config.py).  The
instructor's course folder (BNLAB_COURSE_DIR, ~/bnlab-course by default) is nbgrader's course
directory as bnlab fills it:

    submitted/<student>/<A>/<A>.ipynb     bnlab collect A --to ~/bnlab-course/submitted
    graded/                               bnlab grade ~/bnlab-course/submitted --out ~/bnlab-course/graded
    graded/gradebook.db                   the gradebook bnlab wrote: formgrader shows these scores
    graded/autograded/<student>/<A>/      the executed notebooks
    feedback/<student>/<A>/<A>.html       deploy/hub/release_feedback.py copies graded/feedback/ here,
                                          then runs nbgrader release_feedback
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

course = os.environ.get("BNLAB_COURSE_DIR", os.path.expanduser("~/bnlab-course"))
repository = os.environ.get("BNLAB_REPOSITORY", "")

c.CourseDirectory.course_id = "bnlab"
c.CourseDirectory.root = course
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(course, "graded", "gradebook.db")
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = os.path.join("graded", "autograded")
c.CourseDirectory.feedback_directory = "feedback"
if repository:  # the course's sources and released lessons, as `bnlab build` makes them
    c.CourseDirectory.source_directory = os.path.join(repository, "solutions")
    c.CourseDirectory.release_directory = os.path.join(repository, "lessons")
c.Exchange.root = os.environ.get("BNLAB_EXCHANGE", "/srv/nbgrader/exchange")
c.Execute.timeout = 300
