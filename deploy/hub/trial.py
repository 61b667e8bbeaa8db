"""A trial bnlab hub on this machine: ``deploy/hub/start`` runs ``trial.py up``.

    trial.py up     create the local accounts that are missing (instructor and learners), the
                    exchange and the instructor's course folder, install the proxy if needed,
                    then run JupyterHub in the foreground (Ctrl-C stops it and every server)
    trial.py down   delete the accounts (and their homes) that `up` created, and the hub's state

Settings come from the environment (see jupyterhub_config.py); a trial adds

    BNLAB_HUB_HOMES     where new accounts get their home folders   (/home)
    BNLAB_HUB_USERENV   the users' Python environment, when they cannot run the hub's
                        (see user_environment)                      (/opt/bnlab-hub/env)
    BNLAB_HUB_PASSWORD  the password of every account `up` creates  (random, printed)

Root only: it creates unix users, and JupyterHub starts each user's server as that user.
"""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROXY = HERE / "node_modules" / ".bin" / "configurable-http-proxy"


def settings() -> dict:
    env = os.environ
    return {
        "state": Path(env.get("BNLAB_HUB_STATE", "/srv/bnlab-hub")),
        "homes": Path(env.get("BNLAB_HUB_HOMES", "/home")),
        "userenv": Path(env.get("BNLAB_HUB_USERENV", "/opt/bnlab-hub/env")),
        "exchange": Path(env.get("BNLAB_EXCHANGE", "/srv/nbgrader/exchange")),
        "instructor": env.get("BNLAB_INSTRUCTOR", "instructor"),
        "learners": [n.strip() for n in env.get("BNLAB_LEARNERS", "alice,bob").split(",") if n.strip()],
    }


def exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def reachable_by_everyone(path: Path) -> bool:
    """Whether any user may run ``path`` (it and every folder above it are world-executable)."""
    path = path.resolve()
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def user_environment(config: dict) -> Path:
    """The folder of the ``python`` that runs users' JupyterLab and kernels.

    bnlab's environment itself when every user can run its interpreter.  When they cannot (a
    Python built under /root, as pyenv does), an environment of the system's Python of the same
    version that reads bnlab's installed packages (a .pth file): the same torch, nbgrader and
    bnlab, without installing them twice.  A real hub installs bnlab where everyone can read it
    instead (docs/deploy.md)."""
    own = Path(sys.executable).parent
    site_packages = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    for needed, what in ((site_packages, "bnlab's installed packages"), (HERE.parent.parent, "bnlab's checkout")):
        if not reachable_by_everyone(needed):
            blocking = next(p for p in [needed.resolve(), *needed.resolve().parents] if not os.stat(p).st_mode & 0o001)
            raise SystemExit(f"deploy/hub: the users cannot reach {what} in {needed}: {blocking} is closed to "
                             f"others (chmod o+x {blocking}, or install bnlab where everyone can read it: "
                             f"docs/deploy.md)")
    if reachable_by_everyone(Path(sys.executable)):
        return own
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    if not system or not reachable_by_everyone(Path(system)):
        raise SystemExit(f"deploy/hub: users cannot run {sys.executable} and there is no system {version}; "
                         f"install bnlab in an environment everyone can read (docs/deploy.md)")
    target = config["userenv"]
    python = target / "bin" / "python"
    if not python.exists():
        subprocess.run([system, "-m", "venv", "--without-pip", str(target)], check=True)
    (target / "lib" / version / "site-packages" / "bnlab-environment.pth").write_text(
        f"import site; site.addsitedir({str(site_packages)!r})\n", encoding="utf-8")
    for folder in [target, *target.parents]:
        if not os.stat(folder).st_mode & 0o001:
            raise SystemExit(f"deploy/hub: {folder} is not readable by every user; set BNLAB_HUB_USERENV elsewhere")
    return python.parent


def install_proxy() -> None:
    if PROXY.exists():
        return
    print("installing configurable-http-proxy from npm into deploy/hub/node_modules", flush=True)
    lock = (HERE / "package-lock.json").exists()
    subprocess.run(["npm", "ci" if lock else "install", "--no-audit", "--no-fund", "--prefix", str(HERE)], check=True)


def create_accounts(config: dict) -> dict[str, str]:
    """The accounts created now -> their password (existing accounts are left as they are)."""
    state = config["state"]
    created = {}
    shared = os.environ.get("BNLAB_HUB_PASSWORD")
    for name in [config["instructor"], *config["learners"]]:
        if exists(name):
            continue
        home = config["homes"] / name
        subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                        "--user-group", name], check=True)
        home.chmod(0o700)
        password = shared or secrets.token_urlsafe(9)
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
        created[name] = password
        with open(state / "created_users", "a", encoding="utf-8") as listing:
            listing.write(name + "\n")
    return created


def prepare(config: dict) -> dict[str, str]:
    state = config["state"]
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    config["homes"].mkdir(parents=True, exist_ok=True)
    created = create_accounts(config)
    # nbgrader's exchange: everyone may enter it; nbgrader sets the course's own folders' modes.
    config["exchange"].mkdir(parents=True, exist_ok=True)
    config["exchange"].chmod(0o777)
    instructor = pwd.getpwnam(config["instructor"])
    course = Path(instructor.pw_dir) / "bnlab-course"
    for folder in (course, course / "submitted", course / "graded", course / "feedback"):
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, instructor.pw_uid, instructor.pw_gid)
    install_proxy()
    os.environ["BNLAB_USER_BIN"] = str(user_environment(config))
    return created


def up() -> int:
    config = settings()
    created = prepare(config)
    for name, password in created.items():
        print(f"created the local account {name} (password: {password})", flush=True)
    ip, port = os.environ.get("BNLAB_HUB_IP", "127.0.0.1"), os.environ.get("BNLAB_HUB_PORT", "8000")
    print(f"bnlab hub: http://{ip}:{port}/  instructor: {config['instructor']}, "
          f"learners: {', '.join(config['learners'])}; exchange: {config['exchange']}", flush=True)
    os.chdir(config["state"])
    hub = shutil.which("jupyterhub", path=str(Path(sys.executable).parent)) or "jupyterhub"
    os.execv(hub, [hub, "-f", str(HERE / "jupyterhub_config.py")])
    return 0


def down() -> int:
    config = settings()
    listing = config["state"] / "created_users"
    names = listing.read_text(encoding="utf-8").split() if listing.exists() else []
    for name in names:
        if exists(name):
            subprocess.run(["userdel", "--remove", name], capture_output=True)
            print(f"removed the local account {name}")
    shutil.rmtree(config["state"], ignore_errors=True)
    return 0


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("deploy/hub/trial.py: run it as root (it creates local accounts and starts their servers)",
              file=sys.stderr)
        return 2
    if argv[:1] == ["up"]:
        return up()
    if argv[:1] == ["down"]:
        return down()
    print("usage: trial.py up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
