#!/usr/bin/env python3
"""How many AWS accounts one pass reads in a Lambda's 15 minutes (run by
hand; not part of the tests).

Builds an AWS organization in a fresh moto server: N member accounts of M
IAM users each (a tenth of them without MFA), then runs the release binary
once per concurrency value with `AWS_IAM_ACCOUNTS=org:ROLE`, every AWS call
going through tests/tools/fault_proxy.py, which delays each request by
--latency-ms (what a real AWS API call costs from Lambda: tens of ms, more
for STS AssumeRole and for the credential report). It reports the pass's
wall time, the accounts read per second and what that gives in the 840 s a
900 s invocation leaves for reading (the pass keeps up to 60 s to commit
and deliver).

    cargo build --release
    python3 bench/org_accounts.py --accounts 60 --users 20 --concurrency 4,16,32

Installs moto[server] and boto3 (pip) and GNU time (apt) when missing.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

from measure import ensure_tools, timed
from scale import spawn, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ROLE = "MfaMonitorAudit"
READ_SECONDS = 840


def creds(sts, account):
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/bench", RoleSessionName="bench")["Credentials"]
    return dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"])


def build_org(moto, accounts, users):
    import boto3

    kw = dict(endpoint_url=moto, region_name="us-east-1")
    base = dict(aws_access_key_id="testing", aws_secret_access_key="testing")
    sts = boto3.client("sts", **kw, **base)
    management = "100000000001"
    mgmt = creds(sts, management)
    org = boto3.client("organizations", **kw, **mgmt)
    org.create_organization(FeatureSet="ALL")
    ids = [org.create_account(Email=f"a{i}@example.com", AccountName=f"a{i}")["CreateAccountStatus"]["AccountId"]
           for i in range(accounts)]

    def seed(account):
        iam = boto3.client("iam", **kw, **creds(sts, account))
        for u in range(users):
            name = f"user{u:04d}"
            iam.create_user(UserName=name)
            iam.create_login_profile(UserName=name, Password="Passw0rd!Passw0rd!")
            if u % 10 != 3:
                serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
                iam.enable_mfa_device(UserName=name, SerialNumber=serial,
                                      AuthenticationCode1="123456", AuthenticationCode2="654321")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(seed, ids))
    return management, mgmt, ids


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=40)
    parser.add_argument("--concurrency", default="4,16,32")
    parser.add_argument("--moto-port", type=int, default=5070)
    parser.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mfa-monitor"))
    args = parser.parse_args()
    ensure_tools()
    moto_url = f"http://127.0.0.1:{args.moto_port}"
    moto = spawn([sys.executable, os.path.join(ROOT, "infra", "dev", "moto_server.py"), "-p", str(args.moto_port)])
    proxy = None
    try:
        wait_port(moto_url)
        management, mgmt, ids = build_org(moto_url, args.accounts, args.users)
        rules = json.dumps([{"delay": args.latency_ms / 1000}])
        proxy = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "tools", "fault_proxy.py"),
                                  moto_url, rules], stdout=subprocess.PIPE, text=True)
        port = proxy.stdout.readline().split()[1]
        # Drain the proxy's one line per request so it never blocks.
        concurrent.futures.ThreadPoolExecutor(1).submit(lambda: [None for _ in proxy.stdout])
        print(f"{args.accounts + 1} accounts ({args.users} IAM users each), "
              f"{args.latency_ms:.0f} ms per AWS call")
        print("| concurrency | pass (s) | accounts/s | accounts in 840 s | peak RSS (MB) |")
        print("|---|---|---|---|---|")
        for c in [int(x) for x in args.concurrency.split(",")]:
            with tempfile.TemporaryDirectory() as d:
                env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_REGION="us-east-1",
                           AWS_ACCESS_KEY_ID=mgmt["aws_access_key_id"],
                           AWS_SECRET_ACCESS_KEY=mgmt["aws_secret_access_key"],
                           AWS_SESSION_TOKEN=mgmt["aws_session_token"],
                           AWS_IAM_ACCOUNTS=f"org:{ROLE}", MFA_STATE_FILE=os.path.join(d, "state.json"),
                           MFA_TARGET_CONCURRENCY=str(c), MFA_PASS_BUDGET_SECONDS="900", RUST_LOG="error")
                wall, rss, done = timed([args.binary, "run", "--json"], env=env)
                summary = json.loads(done.stdout)
                read = sum(1 for t in summary["targets"] if t["result"] == "baseline")
                if read != args.accounts + 1:
                    sys.exit(f"only {read} of {args.accounts + 1} accounts read: {done.stdout[:2000]}")
                rate = read / wall
                print(f"| {c} | {wall:.1f} | {rate:.2f} | {int(rate * READ_SECONDS)} | {rss:.0f} |", flush=True)
    finally:
        if proxy:
            proxy.kill()
        moto.kill()


if __name__ == "__main__":
    main()
