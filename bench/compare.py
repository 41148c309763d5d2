#!/usr/bin/env python3
"""Side by side on one moto server: an AWS IAM MFA audit of 5,000 users
(half with an MFA device, all with a console password) by mfa-monitor
(`run --dry-run`, IAM only), Prowler and Cloud Custodian, each from PyPI in
its own virtual environment. Prints wall time, peak RSS and each tool's
count of users without MFA (right answer: half the users).

    cargo build --release
    python3 bench/compare.py [--users 5000] [--binary target/release/mfa-monitor]

Virtual environments go to $HOME/.cache/mfa-monitor-venvs (created on first
use). Installs moto[server] and boto3 (pip) and GNU time (apt) when missing.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from measure import ensure_tools, timed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENVS = os.environ.get("MFA_MONITOR_VENVS", os.path.expanduser("~/.cache/mfa-monitor-venvs"))

CUSTODIAN_POLICY = """
policies:
  - name: console-users-without-mfa
    resource: iam-user
    filters:
      - type: credential
        key: password_enabled
        value: true
      - type: credential
        key: mfa_active
        value: false
"""


def venv(name, package):
    path = os.path.join(VENVS, name)
    if not os.path.exists(os.path.join(path, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([os.path.join(path, "bin", "pip"), "install", "--quiet", package], check=True)
    return os.path.join(path, "bin")


def seed(moto, users):
    import boto3

    iam = boto3.client("iam", endpoint_url=moto, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")

    def one(i):
        name = f"user{i:05d}"
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password="Passw0rd!Passw0rd!")
        if i % 2 == 0:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=name, SerialNumber=serial,
                                  AuthenticationCode1="123456", AuthenticationCode2="654321")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(users)))


def aws_env(moto):
    env = dict(os.environ)
    env.update({"AWS_ENDPOINT_URL": moto, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"})
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    return env


def mfa_monitor(binary, moto, work):
    env = aws_env(moto)
    env.update({"AWS_IAM_ACCOUNTS": "self", "MFA_STATE_FILE": os.path.join(work, "state.json"),
                "MFA_TARGET_TIMEOUT_SECONDS": "900"})
    wall, rss, proc = timed([binary, "run", "--dry-run", "--json"], env)
    summary = json.loads(proc.stdout)
    baseline = next(n for n in summary["would_send"] if n["type"] == "baseline")
    root_listed = any(e["name"] == "<root>" for e in baseline["listed"])
    return wall, rss, baseline["non_compliant"] - int(root_listed), ""


def prowler(moto, work):
    bin_dir = venv("prowler", "prowler")
    out = os.path.join(work, "prowler")
    wall, rss, proc = timed([os.path.join(bin_dir, "prowler"), "aws", "--checks",
                             "iam_user_mfa_enabled_console_access", "iam_root_mfa_enabled",
                             "--output-formats", "json-ocsf", "--output-directory", out,
                             "--filter-region", "us-east-1", "--no-banner"], aws_env(moto))
    failed = 0
    files = glob.glob(os.path.join(out, "*.ocsf.json"))
    for f in files:
        for finding in json.load(open(f)):
            check = finding.get("metadata", {}).get("event_code") or finding.get("finding_info", {}).get("title", "")
            if check == "iam_user_mfa_enabled_console_access" and finding.get("status_code") == "FAIL":
                failed += 1
    note = "" if files else f"no findings file (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return wall, rss, failed if files else None, note


def custodian(moto, work):
    bin_dir = venv("c7n", "c7n")
    policy = os.path.join(work, "policy.yml")
    open(policy, "w").write(CUSTODIAN_POLICY)
    out = os.path.join(work, "custodian")
    wall, rss, proc = timed([os.path.join(bin_dir, "custodian"), "run", "--cache-period", "0", "-s", out, "--region", "us-east-1", policy],
                            aws_env(moto))
    path = os.path.join(out, "console-users-without-mfa", "resources.json")
    if not os.path.exists(path):
        return wall, rss, None, f"no resources.json (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return wall, rss, len(json.load(open(path))), ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mfa-monitor"))
    parser.add_argument("--moto-port", type=int, default=5060)
    args = parser.parse_args()
    ensure_tools()
    moto = f"http://127.0.0.1:{args.moto_port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(args.moto_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true"))
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(moto + "/moto-api/", timeout=2)
                break
            except Exception:
                time.sleep(0.2)
        started = time.monotonic()
        seed(moto, args.users)
        print(f"seeded {args.users} users ({args.users // 2} without MFA) in {time.monotonic() - started:.0f} s",
              flush=True)
        expected = args.users - (args.users + 1) // 2
        rows = []
        with tempfile.TemporaryDirectory() as work:
            for name, run in [("mfa-monitor", lambda: mfa_monitor(args.binary, moto, work)),
                              ("Prowler", lambda: prowler(moto, work)),
                              ("Cloud Custodian", lambda: custodian(moto, work))]:
                wall, rss, count, note = run()
                rows.append((name, wall, rss, count, note))
                print(f"{name}: {wall:.2f} s, {rss:.0f} MB, {count} without MFA {note}", flush=True)
        print(f"\n| tool | wall s | peak RSS MB | users without MFA counted | right ({expected})? |")
        print("|---|---|---|---|---|")
        for name, wall, rss, count, note in rows:
            right = "yes" if count == expected else f"no{': ' + note if note else ''}"
            print(f"| {name} | {wall:.2f} | {rss:.0f} | {count} | {right} |")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
