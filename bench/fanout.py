#!/usr/bin/env python3
"""One pass as the Step Functions fan-out runs it, by simulation (run by
hand; not part of the tests).

Builds an AWS organization in a fresh moto server (bench/moto_bench_server.py:
moto with cheap transactions; N member accounts of M
IAM users each, a tenth of them without MFA, seeded in-process) and K
GitHub orgs on bench/standins.py, then runs the release binary as Lambda
(through the Runtime API of infra/dev/lambda_smoke.py) step by step, as
the state machine would: the plan invocation, every batch's collect
invocation as its own process, at most --max-concurrency at once (the
template's FanoutMaxConcurrency), then deliver. Every AWS call goes
through tests/tools/fault_proxy.py (a delay per request: --latency-ms,
--dynamodb-latency-ms for DynamoDB) and then bench/aws_counter.py (requests
per operation); GitHub requests are counted by the stand-in.

Two passes: a baseline (every principal written) and a pass with no
change. Per pass: wall time of plan, map, deliver and in all; peak RSS of
each collect invocation (VmHWM from /proc, read once it has answered):
max and median; requests per target. Beside it, the single-invocation
ceiling computed as the README's rule of thumb does ("How many AWS accounts
one invocation reads"): accounts ~ 840 s x MFA_TARGET_CONCURRENCY / seconds
per account, the seconds per account from the deliver step's run summary
(collect_ms of the AWS targets) and from the batches' wall times.

    cargo build --release
    python3 bench/fanout.py --accounts 100 --github-orgs 5          # minutes
    python3 bench/fanout.py [--accounts 5000 --users 20 --github-orgs 50
                             --latency-ms 40 --max-concurrency 10
                             --batch-targets 50 --target-concurrency 16]
                            [--json FILE]

The organization is seeded inside the moto process (MFA_BENCH_SEED of
bench/moto_bench_server.py): 100,000 users in a minute or two, where four
IAM requests per user over HTTP took hours.
Installs moto[server] and boto3 (pip) and GNU time (apt) when missing.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from measure import ensure_tools
from scale import spawn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "infra", "dev"))
from lambda_smoke import RuntimeApi, lambda_env  # noqa: E402

ROLE = "MfaMonitorAudit"
READ_SECONDS = 840
TABLE = "mfa-bench-fanout"
PLAN_BUCKET = "mfa-bench-plans"
SENDER = "mfa-monitor@example.com"
MANAGEMENT = "100000000001"
DYNAMODB_OPS = ["Query", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                "BatchGetItem", "TransactWriteItems", "TransactGetItems", "Scan", "DescribeTable"]


def http(method, url):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def creds(sts, account):
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/bench", RoleSessionName="bench")["Credentials"]
    return dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                aws_session_token=c["SessionToken"])


def progress(what, done, total, started):
    took = time.monotonic() - started
    eta = took / done * (total - done) if done else 0
    print(f"  {what}: {done}/{total} in {took:.0f} s (about {eta:.0f} s left)", flush=True)


def build_world(moto):
    """In the management account (its organization and members were seeded
    in-process by bench/moto_bench_server.py, MFA_BENCH_SEED): the state
    table, the plan bucket and a verified SES sender. Returns the
    management account's credentials."""
    import boto3

    kw = dict(endpoint_url=moto, region_name="us-east-1")
    sts = boto3.client("sts", **kw, aws_access_key_id="testing", aws_secret_access_key="testing")
    mgmt = creds(sts, MANAGEMENT)
    boto3.client("dynamodb", **kw, **mgmt).create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "target", "AttributeType": "S"},
                              {"AttributeName": "principal", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "target", "KeyType": "HASH"},
                   {"AttributeName": "principal", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST")
    boto3.client("s3", **kw, **mgmt).create_bucket(Bucket=PLAN_BUCKET)
    boto3.client("ses", **kw, **mgmt).verify_email_identity(EmailAddress=SENDER)
    listed = 0
    for page in boto3.client("organizations", **kw, **mgmt).get_paginator("list_accounts").paginate():
        listed += len(page["Accounts"])
    print(f"  world: {listed} accounts in the organization", flush=True)
    return mgmt


def wait_seeded(url):
    for _ in range(3600):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2)
            return
        except Exception:
            time.sleep(1)
    sys.exit(f"{url} never answered")


def vm_hwm_mb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def invoke(binary, extra, event, logs, name, timeout=900):
    """One invocation of the binary as Lambda runs it: a fresh process (a
    cold start, as a Distributed Map's children mostly are) served `event`.
    Returns its wall time, peak RSS, whether it answered /response, and
    the answer."""
    api = RuntimeApi(event, deadline_s=timeout)
    out_path = os.path.join(logs, f"{name}.out")
    with open(out_path, "wb") as out, open(os.path.join(logs, f"{name}.err"), "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen([binary], env=lambda_env(api, extra), stdout=out, stderr=err)
        while not api.done.wait(0.05):
            if proc.poll() is not None or time.monotonic() - started > timeout + 30:
                break
        wall = time.monotonic() - started
        rss = vm_hwm_mb(proc.pid)  # the process now waits for its next event
        proc.kill()
        proc.wait()
    api.close()
    if api.answer is None:
        sys.exit(f"{name}: no answer (exit {proc.returncode}); see {logs}/{name}.err and .out")
    path, body = api.answer
    return {"wall_s": wall, "rss_mb": rss, "ok": path.endswith("/response"),
            "answer": json.loads(body or b"{}"), "log": out_path}


def run_summary_log(path):
    for line in open(path, errors="replace"):
        if line.startswith("{") and '"run summary"' in line:
            record = json.loads(line)
            if record.get("message") == "run summary":
                return record
    return None


class Counters:
    def __init__(self, aws, github):
        self.aws, self.github = aws, github

    def reset(self):
        http("POST", self.aws + "/_reset")
        http("POST", self.github + "/_reset")

    def take(self):
        """Requests since the last reset, by kind, then reset."""
        aws = http("GET", self.aws + "/_stats")
        gh = http("GET", self.github + "/_stats")["requests"]
        self.reset()
        out = {"moto_s": {}}
        for k, v in aws.items():
            service = k.split()[0]
            if service.startswith("awsorganizations"):
                service = "organizations"
            if k.endswith("seconds upstream"):
                # Summed over concurrent calls: how long moto kept callers waiting.
                out["moto_s"][service] = round(v, 1)
            elif not any(w in k for w in ("items", "units")):
                out[service] = out.get(service, 0) + v
        out["github"] = sum(gh.values())
        out["_ops"] = {k: v for k, v in aws.items() if not k.endswith("seconds upstream")}
        return out


def one_pass(label, run_id, args, extra, counters, logs, mgmt):
    print(f"{label}: {run_id}", flush=True)
    counters.reset()
    started = time.monotonic()
    plan = invoke(args.binary, extra, {"mode": "plan", "run_id": run_id}, logs, f"{run_id}-plan")
    if not plan["ok"]:
        sys.exit(f"the plan step failed: {json.dumps(plan['answer'])}")
    answer = plan["answer"]
    if answer.get("batches") is not None:
        batches = answer["batches"]
    else:
        import boto3
        s3 = boto3.client("s3", endpoint_url=args.moto_url, region_name="us-east-1", **mgmt)
        item = answer["items"]
        batches = json.loads(s3.get_object(Bucket=item["Bucket"], Key=item["Key"])["Body"].read())
    plan_requests = counters.take()
    print(f"  plan: {answer['targets']} targets in {len(batches)} batches in {plan['wall_s']:.1f} s"
          f"{' (plan in S3)' if answer.get('items') else ''}", flush=True)

    map_started = time.monotonic()
    done = []
    lock = threading.Lock()

    def collect(b):
        event = {"mode": "collect", "run_id": run_id, "batch": b["batch"], "targets": b["targets"]}
        r = invoke(args.binary, extra, event, logs, f"{run_id}-collect-{b['batch']}")
        r["batch"], r["n"] = b["batch"], len(b["targets"])
        with lock:
            done.append(r)
            if not r["ok"]:
                print(f"  batch {b['batch']} FAILED: {json.dumps(r['answer'])[:500]}", flush=True)
            if len(done) % max(1, len(batches) // 10) == 0 or len(done) == len(batches):
                progress("batches collected", len(done), len(batches), map_started)
        return r

    with concurrent.futures.ThreadPoolExecutor(args.max_concurrency) as pool:
        collects = list(pool.map(collect, batches))
    map_s = time.monotonic() - map_started
    map_requests = counters.take()

    deliver = invoke(args.binary, extra, {"mode": "deliver", "run_id": run_id}, logs, f"{run_id}-deliver")
    total_s = time.monotonic() - started
    deliver_requests = counters.take()
    d = deliver["answer"]
    if not deliver["ok"]:
        print(f"  deliver FAILED: {json.dumps(d)[:1000]}", flush=True)
    summary = run_summary_log(deliver["log"]) or {}
    targets = summary.get("targets", [])
    aws_ms = [t["collect_ms"] for t in targets if t.get("source") == "aws" and t.get("result") != "failed"]
    results = {}
    for t in targets:
        results[t.get("result")] = results.get(t.get("result"), 0) + 1

    n_aws = args.accounts + 1
    rss = [c["rss_mb"] for c in collects if c["rss_mb"] is not None]
    walls = [c["wall_s"] for c in collects]
    # Slot-seconds per target inside a collect invocation: its wall time
    # times the targets it reads at once, over its targets.
    per_target = [c["wall_s"] * min(args.target_concurrency, c["n"]) / c["n"] for c in collects if c["n"]]
    all_requests = {k: plan_requests.get(k, 0) + map_requests.get(k, 0) + deliver_requests.get(k, 0)
                    for k in ("iam", "sts", "organizations", "dynamodb", "s3", "ses", "github")}
    row = {
        "pass": label, "run_id": run_id,
        "targets": answer["targets"], "batches": len(batches),
        "plan_s": round(plan["wall_s"], 2), "map_s": round(map_s, 2),
        "deliver_s": round(deliver["wall_s"], 2), "total_s": round(total_s, 2),
        "collect_rss_mb_max": round(max(rss), 1) if rss else None,
        "collect_rss_mb_median": round(statistics.median(rss), 1) if rss else None,
        "plan_rss_mb": round(plan["rss_mb"] or 0, 1), "deliver_rss_mb": round(deliver["rss_mb"] or 0, 1),
        "collect_wall_s_max": round(max(walls), 2), "collect_wall_s_median": round(statistics.median(walls), 2),
        "collect_failed_invocations": sum(1 for c in collects if not c["ok"]),
        "collect_failed_targets": sum(c["answer"].get("failed", 0) for c in collects if c["ok"]),
        "changes": sum(c["answer"].get("changes", 0) for c in collects if c["ok"]),
        "deliver_ok": d.get("ok"), "deliver_failed_targets": d.get("failed_targets"),
        "deliver_channels": d.get("channels"), "deliver_error": d.get("error") or d.get("errorMessage"),
        "results": results,
        "moto_s_map": map_requests["moto_s"],
        "requests": {"plan": plan_requests, "map": map_requests, "deliver": deliver_requests},
        "requests_total": all_requests,
        "aws_read_requests_per_account": round((map_requests.get("iam", 0) + map_requests.get("sts", 0)) / n_aws, 1),
        "aws_requests_per_target": round(sum(v for k, v in all_requests.items() if k != "github")
                                         / max(1, answer["targets"]), 1),
        "dynamodb_requests_per_target": round(all_requests["dynamodb"] / max(1, answer["targets"]), 1),
        "github_requests_per_org": round(map_requests.get("github", 0) / max(1, args.github_orgs), 1),
        "seconds_per_account_collect_ms": round(statistics.mean(aws_ms) / 1000, 2) if aws_ms else None,
        "seconds_per_target_batches": round(statistics.median(per_target), 2) if per_target else None,
    }
    brief = {k: v for k, v in row.items() if k not in ("requests",)}
    print(f"  {json.dumps(brief)}", flush=True)
    return row


def ceiling(s_per_account, concurrency):
    return int(READ_SECONDS * concurrency / s_per_account) if s_per_account else None


def table(args, rows):
    out = [f"\n{args.accounts + 1} AWS accounts ({args.users} IAM users each), {args.github_orgs} GitHub orgs "
           f"({args.github_members} members each); {args.latency_ms:g} ms per AWS call "
           f"({args.dynamodb_latency_ms:g} ms DynamoDB), {args.github_latency_ms:g} ms per GitHub request; "
           f"{args.batch_targets} targets per batch, MFA_TARGET_CONCURRENCY {args.target_concurrency}, "
           f"at most {args.max_concurrency} collect invocations at once\n",
           "| pass | targets | batches | plan s | map s | deliver s | pass s | collect peak RSS MB (max / median) "
           "| collect s (max / median) | IAM+STS req / account | AWS req / target | DynamoDB req / target "
           "| GitHub req / org | changes | failed | moto busy in map s (IAM / STS / DynamoDB) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        failed = r["collect_failed_invocations"] + (r["deliver_failed_targets"] or 0)
        m = r["moto_s_map"]
        out.append(f"| {r['pass']} | {r['targets']} | {r['batches']} | {r['plan_s']} | {r['map_s']} | {r['deliver_s']} "
                   f"| {r['total_s']} | {r['collect_rss_mb_max']} / {r['collect_rss_mb_median']} "
                   f"| {r['collect_wall_s_max']} / {r['collect_wall_s_median']} "
                   f"| {r['aws_read_requests_per_account']} | {r['aws_requests_per_target']} "
                   f"| {r['dynamodb_requests_per_target']} | {r['github_requests_per_org']} | {r['changes']} "
                   f"| {failed} | {m.get('iam', 0)} / {m.get('sts', 0)} / {m.get('dynamodb', 0)} |")
    out += ["", "Single-invocation ceiling (README: accounts ~ 840 s x MFA_TARGET_CONCURRENCY / seconds per account):",
            "| pass | s / account (collect_ms) | ceiling | s / target (batch wall x concurrency / targets) | ceiling |",
            "|---|---|---|---|---|"]
    for r in rows:
        a, b = r["seconds_per_account_collect_ms"], r["seconds_per_target_batches"]
        out.append(f"| {r['pass']} | {a} | ~{ceiling(a, args.target_concurrency)} | {b} "
                   f"| ~{ceiling(b, args.target_concurrency)} |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=5000, help="member accounts (plus the management one)")
    parser.add_argument("--users", type=int, default=20, help="IAM users per member account")
    parser.add_argument("--github-orgs", type=int, default=50)
    parser.add_argument("--github-members", type=int, default=100, help="members per GitHub org")
    parser.add_argument("--latency-ms", type=float, default=40, help="per AWS call but DynamoDB")
    parser.add_argument("--dynamodb-latency-ms", type=float, default=10)
    parser.add_argument("--github-latency-ms", type=float, default=None, help="default: --latency-ms")
    parser.add_argument("--max-concurrency", type=int, default=10, help="collect invocations at once")
    parser.add_argument("--batch-targets", type=int, default=50, help="MFA_BATCH_TARGETS")
    parser.add_argument("--target-concurrency", type=int, default=16, help="MFA_TARGET_CONCURRENCY")
    parser.add_argument("--moto-port", type=int, default=5900)
    parser.add_argument("--logs", help="keep every invocation's stdout/stderr here (default: a temp dir)")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--binary", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "mfa-monitor"))
    args = parser.parse_args()
    if args.github_latency_ms is None:
        args.github_latency_ms = args.latency_ms
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} is missing: cargo build --release (or --binary)")
    ensure_tools()
    args.moto_url = f"http://127.0.0.1:{args.moto_port}"
    seed = f"{MANAGEMENT},{args.accounts},{args.users}"
    started = time.monotonic()
    procs = [spawn([sys.executable, os.path.join(HERE, "moto_bench_server.py"), "-p", str(args.moto_port)],
                   env={**os.environ, "MFA_BENCH_SEED": seed})]
    logs = args.logs or tempfile.mkdtemp(prefix="mfa-fanout-")
    os.makedirs(logs, exist_ok=True)
    try:
        print(f"seeding moto in-process: {args.accounts} accounts of {args.users} users", flush=True)
        wait_seeded(args.moto_url)
        print(f"  seeded in {time.monotonic() - started:.0f} s", flush=True)
        mgmt = build_world(args.moto_url)

        counter = spawn([sys.executable, os.path.join(HERE, "aws_counter.py"), args.moto_url])
        procs.append(counter)
        counter_url = f"http://127.0.0.1:{counter.stdout.readline().split()[1]}"
        rules = [{"target": f"DynamoDB_20120810.{op}", "delay": args.dynamodb_latency_ms / 1000}
                 for op in DYNAMODB_OPS] + [{"delay": args.latency_ms / 1000}]
        proxy = spawn([sys.executable, os.path.join(ROOT, "tests", "tools", "fault_proxy.py"), counter_url,
                       json.dumps(rules)])
        procs.append(proxy)
        proxy_port = proxy.stdout.readline().split()[1]
        # The proxy prints a line per request: drain it so it never blocks.
        threading.Thread(target=lambda: [None for _ in proxy.stdout], daemon=True).start()
        stand = spawn([sys.executable, os.path.join(HERE, "standins.py"),
                       "--github-members", str(args.github_members * args.github_orgs),
                       "--github-orgs", str(args.github_orgs), "--snowflake-users", "1",
                       "--latency-ms", str(args.github_latency_ms)])
        procs.append(stand)
        gh_port, orgs = stand.stdout.readline().split()[1:3]
        stand.stdout.readline()  # snowflake, unused
        github = f"http://127.0.0.1:{gh_port}"

        extra = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy_port}", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": mgmt["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": mgmt["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": mgmt["aws_session_token"],
            "AWS_IAM_ACCOUNTS": f"org:{ROLE}", "MFA_STATE_TABLE": TABLE, "MFA_PLAN_BUCKET": PLAN_BUCKET,
            "GITHUB_ORGS": orgs, "GITHUB_TOKEN": "ghp_bench", "GITHUB_API_URL": github,
            "ALERT_EMAIL_FROM": SENDER, "ALERT_EMAIL_TO": "security@example.com",
            "MFA_BATCH_TARGETS": str(args.batch_targets), "MFA_TARGET_CONCURRENCY": str(args.target_concurrency),
            "MFA_TARGET_TIMEOUT_SECONDS": "600",
        }
        counters = Counters(counter_url, github)
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
        rows = [one_pass(label, f"pass-bench-{stamp}-{n}", args, extra, counters, logs, mgmt)
                for n, label in enumerate(["baseline", "no change"])]
        print(table(args, rows))
        print(f"\nlogs of every invocation: {logs}")
        if args.json:
            json.dump({"args": {k: v for k, v in vars(args).items()}, "passes": rows}, open(args.json, "w"), indent=1)
    finally:
        for p in procs:
            p.kill()
            p.wait()


if __name__ == "__main__":
    main()
