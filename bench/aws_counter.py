#!/usr/bin/env python3
"""A counting proxy in front of moto for the scale benchmark: requests per
AWS operation, DynamoDB items written, and DynamoDB capacity consumed
(and the seconds moto took per service; it asks moto for `ReturnConsumedCapacity: TOTAL` on every DynamoDB call;
moto does not check signatures) plus the bytes each read returned.

    aws_counter.py UPSTREAM_URL      prints `listening PORT`
    GET /_stats, POST /_reset
"""

import http.client
import json
import math
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
LOCK = threading.Lock()
STATS = {}


def add(key, n=1):
    with LOCK:
        STATS[key] = STATS.get(key, 0) + n


def items_written(op, body):
    if op in ("PutItem", "DeleteItem", "UpdateItem"):
        return 1
    if op == "BatchWriteItem":
        return sum(len(v) for v in body.get("RequestItems", {}).values())
    if op == "TransactWriteItems":
        return len(body.get("TransactItems", []))
    return 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # see bench/standins.py

    def log_message(self, *args):
        pass

    def reply(self, status, data, headers):
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/_stats":
            with LOCK:
                data = json.dumps(STATS).encode()
            self.reply(200, data, {"Content-Type": "application/json"})
            return
        self.forward()

    def do_POST(self):
        if self.path == "/_reset":
            with LOCK:
                STATS.clear()
            self.reply(200, b"{}", {})
            return
        self.forward()

    # S3 (the fan-out's plan bucket) puts, deletes and heads objects.
    def do_PUT(self):
        self.forward()

    do_DELETE = do_HEAD = do_PUT

    def forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        op, service, doc = None, None, None
        if target.startswith("DynamoDB_"):
            service, op = "dynamodb", target.split(".")[-1]
            doc = json.loads(body or b"{}")
            if op != "DescribeTable":
                doc["ReturnConsumedCapacity"] = "TOTAL"
                body = json.dumps(doc).encode()
            written = items_written(op, doc)
            if written:
                add("dynamodb items written", written)
        elif target:
            service, op = target.split(".")[0].lower(), target.split(".")[-1]
        else:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            op = form.get("Action", ["?"])[0]
            auth = self.headers.get("Authorization", "")
            service = auth.split("/")[3] if auth.count("/") >= 3 else "?"
        add(f"{service} {op}")
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Host"] = UPSTREAM.netloc
        started = time.monotonic()
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        # Summed over concurrent calls: how long the service kept us waiting.
        add(f"{service} seconds upstream", time.monotonic() - started)
        if service == "dynamodb" and resp.status == 200:
            out = json.loads(data or b"{}")
            cc = out.get("ConsumedCapacity")
            for c in cc if isinstance(cc, list) else ([cc] if cc else []):
                add(f"dynamodb capacity units ({'read' if op in ('Query', 'GetItem', 'BatchGetItem', 'Scan') else 'write'})",
                    c.get("CapacityUnits", 0))
            if op in ("Query", "Scan", "GetItem", "BatchGetItem"):
                # Strongly consistent reads cost 1 unit per 4 KB read, per call.
                add("dynamodb read units (4 KB rule)", math.ceil(len(data) / 4096))
        self.reply(resp.status, data, dict(resp.getheaders()))


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
