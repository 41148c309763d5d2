#!/usr/bin/env python3
"""Runs the release Lambda binary (`bootstrap`) as Lambda would: against a
local Runtime API, with the environment the SAM template gives it, and moto
for AWS. Stdlib and boto3 (moto's dependency) only.

    lambda_smoke.py invoke BOOTSTRAP [--runner "qemu-aarch64 -L /usr/aarch64-linux-gnu"]
        one scheduled pass over seeded IAM users; checks the run summary the
        function returns and its JSON logs (run_id, "run summary", EMF).
    lambda_smoke.py cold-start BOOTSTRAP [-n 20] [--runner ...]
        process start to the first GET /runtime/invocation/next, n times.

MOTO_URL (default http://127.0.0.1:5000) must be a running moto server.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEXT = "/2018-06-01/runtime/invocation/next"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mfa-monitor"


class QuietServer(ThreadingHTTPServer):
    """The binary is killed while it waits on /next: that is expected."""

    def handle_error(self, request, client_address):
        pass


class RuntimeApi:
    """One invocation of `event`; later polls wait until the server stops."""

    def __init__(self, event, deadline_s):
        self.event = json.dumps(event).encode()
        self.deadline_s = deadline_s
        self.request_id = str(uuid.uuid4())
        self.first_poll = None
        self.answer = None  # (path, body)
        self.done = threading.Event()
        self.stop = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != NEXT:
                    self.send_error(404)
                    return
                if api.first_poll is None:
                    api.first_poll = time.monotonic()
                    deadline = int((time.time() + api.deadline_s) * 1000)
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Lambda-Runtime-Aws-Request-Id", api.request_id)
                    self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                    self.send_header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                    self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700")
                    self.send_header("Content-Length", str(len(api.event)))
                    self.end_headers()
                    self.wfile.write(api.event)
                    return
                api.stop.wait(600)  # the next invocation never comes

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                api.answer = (self.path, body)
                api.done.set()

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.stop.set()
        self.server.shutdown()


def lambda_env(api, extra):
    """What Lambda sets for a provided.al2023 function, plus the template's
    variables (empty strings for parameters left empty, as SAM passes them)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": "mfa-monitor",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/mfa-monitor",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/23/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": "bootstrap",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "GITHUB_ORGS": "",
        "GITHUB_API_URL": "",
        "GITHUB_TOKEN_SECRET_ID": "",
        "SNOWFLAKE_ACCOUNT": "",
        "SNOWFLAKE_USER": "",
        "SNOWFLAKE_ROLE": "",
        "SNOWFLAKE_WAREHOUSE": "",
        "SNOWFLAKE_API_URL": "",
        "SNOWFLAKE_PRIVATE_KEY_SECRET_ID": "",
        "SLACK_WEBHOOK_URL_SECRET_ID": "",
        "MFA_EXEMPT": "",
        "MFA_TARGET_TIMEOUT_SECONDS": "120",
        "MFA_SOURCE_FAILURE_THRESHOLD": "3",
        "MFA_DELAYED_AFTER_MINUTES": "30",
    }
    env.update(extra)
    return env


def seed(moto):
    """A fresh account's worth of moto state: a table, a verified sender,
    one IAM user with MFA and one without."""
    import boto3

    suffix = uuid.uuid4().hex[:8]
    kw = dict(endpoint_url=moto, region_name="us-east-1",
              aws_access_key_id="testing", aws_secret_access_key="testing")
    table = f"mfa-monitor-smoke-{suffix}"
    boto3.client("dynamodb", **kw).create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "target", "AttributeType": "S"},
                              {"AttributeName": "principal", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "target", "KeyType": "HASH"},
                   {"AttributeName": "principal", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST")
    sender = f"mfa-monitor-{suffix}@example.com"
    boto3.client("ses", **kw).verify_email_identity(EmailAddress=sender)
    iam = boto3.client("iam", **kw)
    for name, with_mfa in [(f"smoke-alice-{suffix}", True), (f"smoke-bob-{suffix}", False)]:
        iam.create_user(UserName=name)
        iam.create_login_profile(UserName=name, Password="Passw0rd!Passw0rd!")
        if with_mfa:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=name, SerialNumber=serial,
                                  AuthenticationCode1="123456", AuthenticationCode2="654321")
    return {"MFA_STATE_TABLE": table, "AWS_IAM_ACCOUNTS": "self",
            "ALERT_EMAIL_FROM": sender, "ALERT_EMAIL_TO": f"security-{suffix}@example.com",
            "AWS_ENDPOINT_URL": moto}, suffix


def fail(message):
    print(f"lambda smoke: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def invoke(args):
    moto = os.environ.get("MOTO_URL", "http://127.0.0.1:5000")
    extra, suffix = seed(moto)
    event = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures",
                                        "eventbridge-scheduled-event.json")))
    api = RuntimeApi(event, deadline_s=300)
    started = time.monotonic()
    proc = subprocess.Popen(args.runner + [args.bootstrap], env=lambda_env(api, extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answered = api.done.wait(args.timeout)
    took = time.monotonic() - started
    proc.kill()
    stdout, stderr = proc.communicate()
    api.close()
    if not answered:
        fail(f"no answer within {args.timeout} s\n{stdout.decode()}\n{stderr.decode()}")
    path, body = api.answer
    if not path.endswith(f"/{api.request_id}/response"):
        fail(f"the function answered {path}: {body.decode()}\n{stderr.decode()}")
    summary = json.loads(body)
    target = summary["targets"][0]
    checks = [
        (summary.get("ok") is True, "ok is true"),
        (target["result"] == "baseline", "first pass is a baseline"),
        (target["principals"] >= 3, "both users and <root> read"),
        (summary["channels"][0]["result"] == "sent", "the baseline was mailed"),
    ]
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    run_lines = [line for line in lines if line.get("message") == "run summary"]
    emf = [line for line in lines if "_aws" in line]
    checks += [
        (len(run_lines) == 1 and run_lines[0]["run_id"] == summary["run_id"], "one run summary log with the run_id"),
        (any(e["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MfaMonitor" for e in emf), "an EMF record"),
        (not stderr.strip() or all(l.startswith(b"{") for l in stderr.splitlines()), "nothing but JSON on stderr"),
    ]
    for ok, what in checks:
        if not ok:
            fail(f"{what}: {json.dumps(summary)}\n{stdout.decode()}\n{stderr.decode()}")
    if args.print_logs:
        sys.stdout.write(stdout.decode())
    print(f"lambda smoke: ok in {took:.1f} s: {target['target']} {target['result']}, "
          f"{target['principals']} principals, {target['non_compliant']} without MFA, "
          f"channel {summary['channels'][0]['channel']} {summary['channels'][0]['result']}, "
          f"{len(lines)} JSON log lines")


def cold_start(args):
    times = []
    for _ in range(args.n):
        api = RuntimeApi({}, deadline_s=60)
        env = lambda_env(api, {"MFA_STATE_TABLE": "cold-start", "AWS_IAM_ACCOUNTS": "self",
                               "ALERT_EMAIL_FROM": "a@example.com", "ALERT_EMAIL_TO": "b@example.com",
                               "AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
        started = time.monotonic()
        proc = subprocess.Popen(args.runner + [args.bootstrap], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while api.first_poll is None and time.monotonic() - started < 30:
            time.sleep(0.0005)
        proc.kill()
        proc.wait()
        api.close()
        if api.first_poll is None:
            fail("the binary never polled the Runtime API")
        times.append((api.first_poll - started) * 1000)
    print(f"cold start (process start to first /next), n={args.n}: "
          f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["invoke", "cold-start"])
    parser.add_argument("bootstrap")
    parser.add_argument("--runner", default="", help='e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu"')
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=240)
    parser.add_argument("--print-logs", action="store_true", help="print what the function logged")
    args = parser.parse_args()
    args.runner = shlex.split(args.runner)
    invoke(args) if args.mode == "invoke" else cold_start(args)


if __name__ == "__main__":
    main()
