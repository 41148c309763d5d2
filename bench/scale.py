#!/usr/bin/env python3
"""The scale benchmark (run by hand; not part of the tests).

For each N it generates N principals - 60% GitHub members, 30% Snowflake
users, 10% IAM users (at most --iam-cap, the rest to GitHub) - on local servers (bench/standins.py for GitHub and
Snowflake with a latency per request; a fresh moto server for IAM and the
DynamoDB state table, behind bench/aws_counter.py), then runs the release
binary three times: a baseline pass, a pass after 1% of principals changed,
and a pass with no change. Per pass: wall time, peak RSS, requests per
source (and the minimum paging allows), DynamoDB items written and read
capacity.

    cargo build --release
    python3 bench/scale.py --sizes 1000,10000,100000 [--latency-ms 20]

Installs moto[server] and boto3 (pip) and GNU time (apt) when missing.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.request

from measure import ensure_tools, timed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KEY = open(os.path.join(ROOT, "tests", "fixtures", "snowflake-test-key.p8")).read()
SPLIT = {"github": 0.6, "snowflake": 0.3, "aws": 0.1}


def spawn(cmd, env=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    return proc


def http(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def wait_port(url, path="/moto-api/"):
    for _ in range(300):
        try:
            urllib.request.urlopen(url + path, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"{url} never answered")


def seed_iam(moto, n_users):
    import boto3

    kw = dict(endpoint_url=moto, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    iam = boto3.client("iam", **kw)

    def one(i):
        name = f"iam{i:06d}"
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password="Passw0rd!Passw0rd!")
        if i % 10 != 3:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=name, SerialNumber=serial,
                                  AuthenticationCode1="123456", AuthenticationCode2="654321")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n_users)))
    boto3.client("dynamodb", **kw).create_table(
        TableName="mfa-bench",
        AttributeDefinitions=[{"AttributeName": "target", "AttributeType": "S"},
                              {"AttributeName": "principal", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "target", "KeyType": "HASH"},
                   {"AttributeName": "principal", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST")
    return iam


def change_iam(iam, n_users, percent):
    """Removes the MFA device of `percent`% of the IAM users that have one."""
    step = max(1, round(100 / percent))
    names = [f"iam{i:06d}" for i in range(n_users) if i % step == 11 % step and i % 10 != 3]

    def one(name):
        for d in iam.list_mfa_devices(UserName=name)["MFADevices"]:
            iam.deactivate_mfa_device(UserName=name, SerialNumber=d["SerialNumber"])
            iam.delete_virtual_mfa_device(SerialNumber=d["SerialNumber"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, names))
    return len(names)


def run_pass(binary, env):
    wall, rss, proc = timed([binary, "run", "--json"], env)
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        sys.exit(f"the pass printed no summary (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return wall, rss, summary, proc.returncode


def bench(n, args):
    counts = {s: int(n * f) for s, f in SPLIT.items()}
    # moto seeds IAM users slowly (a virtual MFA device costs it a QR code):
    # past the cap, the rest of the IAM share goes to GitHub.
    if counts["aws"] > args.iam_cap:
        counts["github"] += counts["aws"] - args.iam_cap
        counts["aws"] = args.iam_cap
    moto_port = args.moto_port
    moto = f"http://127.0.0.1:{moto_port}"
    menv = dict(os.environ, MOTO_IAM_LOAD_MANAGED_POLICIES="true")
    moto_proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=menv)
    procs = [moto_proc]
    try:
        wait_port(moto)
        t = time.monotonic()
        iam = seed_iam(moto, counts["aws"])
        print(f"  seeded {counts['aws']} IAM users in moto in {time.monotonic() - t:.0f} s", flush=True)
        stand = spawn([sys.executable, os.path.join(HERE, "standins.py"),
                       "--github-members", str(counts["github"]), "--snowflake-users", str(counts["snowflake"]),
                       "--latency-ms", str(args.latency_ms)])
        procs.append(stand)
        gh_port, orgs = stand.stdout.readline().split()[1:3]
        sf_port = stand.stdout.readline().split()[1]
        counter = spawn([sys.executable, os.path.join(HERE, "aws_counter.py"), moto])
        procs.append(counter)
        aws_port = counter.stdout.readline().split()[1]
        gh, sf, aws = (f"http://127.0.0.1:{p}" for p in (gh_port, sf_port, aws_port))
        env = {
            "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
            "AWS_ENDPOINT_URL": aws, "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_IAM_ACCOUNTS": "self", "MFA_STATE_TABLE": "mfa-bench",
            "GITHUB_ORGS": orgs, "GITHUB_TOKEN": "ghp_bench", "GITHUB_API_URL": gh,
            "SNOWFLAKE_ACCOUNT": "bench-acct", "SNOWFLAKE_USER": "bench", "SNOWFLAKE_PRIVATE_KEY": KEY,
            "SNOWFLAKE_API_URL": sf, "MFA_TARGET_TIMEOUT_SECONDS": "900",
        }
        rows = []
        for label in ["baseline", "1% changed", "no change"]:
            if label == "1% changed":
                http("POST", gh + "/_mutate?percent=1")
                http("POST", sf + "/_mutate?percent=1")
                change_iam(iam, counts["aws"], 1)
            for url in (gh, sf, aws):
                http("POST", url + "/_reset")
            wall, rss, summary, code = run_pass(args.binary, env)
            ghs, sfs, awss = (http("GET", u + "/_stats") for u in (gh, sf, aws))
            results = {t["source"]: t["result"] for t in summary["targets"]}
            changes = sum(v for per in summary["changes"].values() for v in per.values())
            rows.append({
                "pass": label, "exit": code, "results": results, "changes": changes,
                "wall_s": round(wall, 2), "peak_rss_mb": round(rss, 1),
                "collect_s": {t["source"]: round(t.get("collect_ms", 0) / 1000, 2) for t in summary["targets"]},
                "github_requests": sum(ghs["requests"].values()), "github_minimum": ghs["minimum"],
                "snowflake_requests": sum(sfs["requests"].values()), "snowflake_minimum": sfs["minimum"],
                "iam_requests": sum(v for k, v in awss.items() if k.startswith("iam ") and "seconds" not in k),
                "sts_requests": sum(v for k, v in awss.items() if k.startswith("sts ") and "seconds" not in k),
                "dynamodb_requests": sum(v for k, v in awss.items()
                                         if k.startswith("dynamodb ") and not k.startswith("dynamodb items")
                                         and "units" not in k and "seconds" not in k),
                "moto_s": {k.split()[0]: round(v, 2) for k, v in awss.items() if k.endswith("seconds upstream")},
                "dynamodb_items_written": awss.get("dynamodb items written", 0),
                "dynamodb_read_units": awss.get("dynamodb read units (4 KB rule)", 0),
                "dynamodb_ops": {k: v for k, v in awss.items() if k.startswith("dynamodb ")},
                "iam_ops": {k: v for k, v in awss.items() if k.startswith("iam ")},
            })
            print(f"  {label}: {json.dumps(rows[-1])}", flush=True)
        return counts, rows
    finally:
        for p in procs:
            p.kill()
            p.wait()


def table(n, counts, rows):
    out = [f"\nN = {n:,} (GitHub {counts['github']:,}, Snowflake {counts['snowflake']:,}, IAM {counts['aws']:,})\n",
           "| pass | wall s | reading s (GitHub / Snowflake / IAM) | peak RSS MB | GitHub req (min) | Snowflake req (min) | IAM req | STS req | DynamoDB req | items written | read units | in moto s (IAM / DynamoDB) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["collect_s"]
        out.append(f"| {r['pass']} | {r['wall_s']} | {c.get('github')} / {c.get('snowflake')} / {c.get('aws')} | {r['peak_rss_mb']} | {r['github_requests']} ({r['github_minimum']}) "
                   f"| {r['snowflake_requests']} ({r['snowflake_minimum']}) | {r['iam_requests']} | {r['sts_requests']} "
                   f"| {r['dynamodb_requests']} | {r['dynamodb_items_written']} | {r['dynamodb_read_units']} "
                   f"| {r['moto_s'].get('iam', 0)} / {r['moto_s'].get('dynamodb', 0)} |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mfa-monitor"))
    parser.add_argument("--moto-port", type=int, default=5050)
    parser.add_argument("--iam-cap", type=int, default=2000, help="most IAM users to seed in moto")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    ensure_tools()
    results = {}
    tables = []
    for n in (int(s) for s in args.sizes.split(",")):
        print(f"N = {n}", flush=True)
        counts, rows = bench(n, args)
        results[n] = {"counts": counts, "passes": rows}
        tables.append(table(n, counts, rows))
    print("\n".join(tables))
    if args.json:
        json.dump(results, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
