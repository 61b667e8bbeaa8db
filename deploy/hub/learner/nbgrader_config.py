"""nbgrader configuration for a learner's JupyterLab on the bnlab hub.

The hub puts this folder on every learner's JUPYTER_CONFIG_PATH (jupyterhub_config.py), so the
Assignments panel knows the course and the exchange.  On a hub of your own, put the same lines in
/etc/jupyter/nbgrader_config.py of the learners' image instead.
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "bnlab"
c.Exchange.root = os.environ.get("BNLAB_EXCHANGE", "/srv/nbgrader/exchange")
# The lessons' experiment cells train small models and Validate runs the whole notebook: on a busy
# shared machine a cell can take minutes.
c.Execute.timeout = 300
