"""What the bench scripts share: running a command for its wall time and
peak RSS, and making sure GNU time, moto and boto3 are there on a fresh
machine.

Peak RSS comes from GNU time, not from os.wait4: a child forked from this
Python process keeps the parent's high-water mark across exec, so wait4
would report ~60 MB for any command."""

import os
import re
import subprocess
import sys
import tempfile
import time

GNU_TIME = "/usr/bin/time"


class Finished:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def timed(cmd, env=None, cwd=None):
    """Runs `cmd`; returns (wall seconds, peak RSS in MB, Finished)."""
    with tempfile.NamedTemporaryFile("r") as timing:
        started = time.monotonic()
        proc = subprocess.run([GNU_TIME, "-v", "-o", timing.name] + cmd, env=env, cwd=cwd,
                              capture_output=True, text=True)
        wall = time.monotonic() - started
        text = timing.read()
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return wall, kb / 1024, Finished(proc.returncode, proc.stdout, proc.stderr)


def ensure_tools():
    if not os.path.exists(GNU_TIME):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "time"], check=False)
        if not os.path.exists(GNU_TIME):
            sys.exit(f"{GNU_TIME} is missing: install GNU time (Debian/Ubuntu package `time`)")
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "moto[server]", "boto3"], check=True)
