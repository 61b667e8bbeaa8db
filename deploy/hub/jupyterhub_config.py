"""JupyterHub for a bnlab course on one machine (see docs/deploy.md).

Local unix accounts: one instructor and the learners.  Each learner's JupyterLab runs as that
learner's own unix user (JupyterHub's LocalProcessSpawner), which is how nbgrader's exchange
knows who submits: the Assignments panel submits as the unix user, so no learner can hand in
or fetch feedback under another's name.

Everything that differs between a trial run and a real course comes from the environment
(deploy/hub/start sets it for a trial):

    BNLAB_HUB_STATE       the hub's own files: database, cookie secret, logs   (/srv/bnlab-hub)
    BNLAB_HUB_IP          the address the hub listens on                     (127.0.0.1)
    BNLAB_HUB_PORT        its port                                           (8000)
    BNLAB_HUB_API_PORT    the hub's internal API port                        (8081)
    BNLAB_PROXY_API_PORT  the proxy's internal API port                      (8001)
    BNLAB_HUB_AUTH        pam (the unix passwords) or dummy (one shared password, trial only)
    BNLAB_HUB_PASSWORD    the shared password of BNLAB_HUB_AUTH=dummy
    BNLAB_INSTRUCTOR      the instructor's user name                         (instructor)
    BNLAB_LEARNERS        the learners' user names, comma-separated          (alice,bob)
    BNLAB_EXCHANGE        nbgrader's exchange folder                         (/srv/nbgrader/exchange)
    BNLAB_USER_BIN        the bin/ folder of the Python that runs users' servers and kernels
                          (default: the hub's own)
"""
import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (provided by traitlets when JupyterHub loads this file)

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent.parent
STATE = Path(os.environ.get("BNLAB_HUB_STATE", "/srv/bnlab-hub"))
IP = os.environ.get("BNLAB_HUB_IP", "127.0.0.1")
PORT = int(os.environ.get("BNLAB_HUB_PORT", "8000"))
EXCHANGE = os.environ.get("BNLAB_EXCHANGE", "/srv/nbgrader/exchange")
INSTRUCTOR = os.environ.get("BNLAB_INSTRUCTOR", "instructor")
LEARNERS = [name.strip() for name in os.environ.get("BNLAB_LEARNERS", "alice,bob").split(",") if name.strip()]
# The Python environment the hub runs from (bnlab's .venv) also runs every user's JupyterLab
# and kernels: torch, nbgrader's extensions and bnlab's `utils` and checks are installed there.
# (deploy/hub/trial.py sets BNLAB_USER_BIN when users cannot run the hub's own interpreter.)
BIN = Path(os.environ.get("BNLAB_USER_BIN") or Path(sys.executable).parent)
PREFIX = Path(sys.prefix)   # where bnlab's environment keeps Jupyter's config and extensions

# --------------------------------------------------------------------------- the hub and its proxy
c.JupyterHub.bind_url = f"http://{IP}:{PORT}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("BNLAB_HUB_API_PORT", "8081"))
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True   # stopping the hub stops every user's server
c.JupyterHub.cleanup_proxy = True
# configurable-http-proxy from npm, installed into deploy/hub/node_modules (npm ci --prefix deploy/hub)
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{int(os.environ.get('BNLAB_PROXY_API_PORT', '8001'))}"
c.ConfigurableHTTPProxy.should_start = True

# --------------------------------------------------------------------------- who may log in
if os.environ.get("BNLAB_HUB_AUTH", "pam") == "dummy":
    # A trial only: one shared password for every listed account (they must still be unix users).
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ["BNLAB_HUB_PASSWORD"]
else:
    c.JupyterHub.authenticator_class = "pam"   # the local accounts' own passwords
c.Authenticator.allowed_users = {INSTRUCTOR, *LEARNERS}
c.Authenticator.admin_users = {INSTRUCTOR}

# --------------------------------------------------------------------------- each user's JupyterLab
c.JupyterHub.spawner_class = "localprocess"   # as the user's own unix account, in their home folder
c.Spawner.cmd = [str(BIN / "python"), "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.Spawner.environment = {
    "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",   # the kernel ("python") is the environment's
    "JUPYTER_PATH": str(PREFIX / "share" / "jupyter"),   # JupyterLab's and nbgrader's extensions
    "BNLAB_EXCHANGE": EXCHANGE,
    "BNLAB_REPOSITORY": str(REPOSITORY),
}


def role_config(spawner):
    """The instructor's JupyterLab gets the formgrader and the course folder; the learners' get
    the Assignments panel and Validate only (deploy/hub/learner/ disables the rest)."""
    name = spawner.user.name
    role = "instructor" if name == INSTRUCTOR else "learner"
    spawner.environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(HERE / role), str(PREFIX / "etc" / "jupyter")])
    if role == "instructor":
        spawner.environment["BNLAB_COURSE_DIR"] = os.path.join(pwd.getpwnam(name).pw_dir, "bnlab-course")


c.Spawner.pre_spawn_hook = role_config
