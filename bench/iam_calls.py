#!/usr/bin/env python3
"""IAM calls one mfa-monitor pass makes for one account, per operation, and
what the freshness reads cost: a moto server seeded with --users users
(all with a console password, half with a virtual MFA device, as in
compare.py) plus --service-users users without a console password, read
through bench/aws_counter.py, which counts requests per operation.

    cargo build --release
    python3 bench/iam_calls.py [--users 5000] [--service-users 500]

moto's credential report always carries the same old GeneratedTime, so
every pass here reads as one on a report older than the pass: the users
the report shows without a password are read live (GetLoginProfile), which
is the cost of seeing a console password added since the report. With a
report this pass generated itself (AWS regenerates it when it is over 4
hours old) that cost is zero.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from compare import ROOT, aws_env, seed
from measure import ensure_tools, timed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--service-users", type=int, default=500)
    parser.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mfa-monitor"))
    parser.add_argument("--moto-port", type=int, default=5070)
    args = parser.parse_args()
    ensure_tools()
    import boto3

    moto = f"http://127.0.0.1:{args.moto_port}"
    procs = [subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(args.moto_port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(moto + "/moto-api/", timeout=2)
                break
            except Exception:
                time.sleep(0.2)
        seed(moto, args.users)
        iam = boto3.client("iam", endpoint_url=moto, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: iam.create_user(UserName=f"svc{i:05d}"), range(args.service_users)))
        counter = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "aws_counter.py"), moto],
                                   stdout=subprocess.PIPE, text=True)
        procs.append(counter)
        port = counter.stdout.readline().split()[1]
        counted = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as work:
            env = aws_env(counted)
            env.update({"AWS_IAM_ACCOUNTS": "self", "MFA_STATE_FILE": os.path.join(work, "state.json"),
                        "MFA_TARGET_TIMEOUT_SECONDS": "900"})
            wall, rss, proc = timed([args.binary, "run", "--dry-run", "--json"], env)
        with urllib.request.urlopen(counted + "/_stats") as resp:
            stats = json.loads(resp.read())
        ops = {k: v for k, v in sorted(stats.items())
               if (k.startswith("iam ") or k.startswith("sts ") or k.startswith("organizations "))
               and "seconds" not in k and "bytes" not in k}
        print(f"{args.users} console users, {args.service_users} without a password: "
              f"{wall:.2f} s, {rss:.0f} MB, exit {proc.returncode}")
        print(f"\n| operation | requests |\n|---|---|")
        for k, v in ops.items():
            print(f"| {k} | {v} |")
        print(f"| all | {sum(ops.values())} |")
    finally:
        for p in procs:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
