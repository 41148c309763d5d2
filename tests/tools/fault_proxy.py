#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a real AWS endpoint (moto).

Tests put it between mfa-monitor and moto to produce faults moto cannot:
throttling, server errors, denials, slow or malformed answers, truncated
listings, unprocessed batch items. Every request that matches no rule is
forwarded unchanged.

    fault_proxy.py UPSTREAM_URL RULES_JSON

prints `listening PORT` once ready, then one line per fault it injected.
RULES_JSON is a list of rules, tried in order; the first that matches and
has `times` left applies:

    {"action": "ListUsers",                  # query protocol: Action=...
     "target": "DynamoDB_20120810.Query",    # JSON protocol: X-Amz-Target
     "body_contains": "Marker=",             # optional extra condition
     "times": 2,                             # default: every time
     # then one of:
     "status": 500, "body": "...", "headers": {...},  # answer instead
     "delay": 10,                            # wait, then forward
     "delay_after": 10,                      # forward, then wait to answer
     "rewrite": [["from", "to"], ...],       # forward, edit the answer
     "unprocessed": true,                    # BatchWriteItem: write nothing,
                                             # return every item unprocessed
     "count_in_flight": true}                # print `in_flight WHAT N` each
                                             # time N requests of this rule
                                             # are in flight at once, a new most
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
RULES = json.loads(sys.argv[2])
LOCK = threading.Lock()
IN_FLIGHT = {}
MOST_IN_FLIGHT = {}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def matching_rule(headers, body):
    text = body.decode("utf-8", "replace")
    form = urllib.parse.parse_qs(text) if "Action=" in text else {}
    target = headers.get("X-Amz-Target", "")
    with LOCK:
        for rule in RULES:
            if "action" in rule and rule["action"] not in form.get("Action", []):
                continue
            if "target" in rule and rule["target"] != target:
                continue
            if "body_contains" in rule and rule["body_contains"] not in text:
                continue
            if rule.get("times", 1) <= 0:
                continue
            if "times" in rule:
                rule["times"] -= 1
            return rule
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers):
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Host"] = UPSTREAM.netloc
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data, dict(resp.getheaders())

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rule = matching_rule(self.headers, body)
        if rule is None:
            self.reply(*self.forward(body))
            return
        what = rule.get("action") or rule.get("target")
        print(f"fault {what}: {sorted(k for k in rule if k not in ('action', 'target'))}", flush=True)
        if not rule.get("count_in_flight"):
            self.apply(rule, what, body)
            return
        with LOCK:
            IN_FLIGHT[what] = IN_FLIGHT.get(what, 0) + 1
            if IN_FLIGHT[what] > MOST_IN_FLIGHT.get(what, 0):
                MOST_IN_FLIGHT[what] = IN_FLIGHT[what]
                print(f"in_flight {what} {IN_FLIGHT[what]}", flush=True)
        try:
            self.apply(rule, what, body)
        finally:
            with LOCK:
                IN_FLIGHT[what] -= 1

    def apply(self, rule, what, body):
        if "delay" in rule:
            time.sleep(rule["delay"])
        if "status" in rule:
            self.reply(rule["status"], rule.get("body", "").encode(), rule.get("headers", {}))
            return
        if rule.get("unprocessed"):
            items = json.loads(body).get("RequestItems", {})
            out = json.dumps({"UnprocessedItems": items}).encode()
            self.reply(200, out, {"Content-Type": "application/x-amz-json-1.0"})
            return
        status, data, headers = self.forward(body)
        if "delay_after" in rule:
            print(f"forwarded {what}", flush=True)
            time.sleep(rule["delay_after"])
        for old, new in rule.get("rewrite", []):
            data = data.replace(old.encode(), new.encode())
        self.reply(status, data, headers)

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    """Benches open hundreds of connections at once. The backlog is set
    when the socket listens, in the constructor: the default of 5 dropped
    SYNs, and each retry cost the caller a second."""
    daemon_threads = True
    request_queue_size = 256


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
