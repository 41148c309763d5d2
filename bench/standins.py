#!/usr/bin/env python3
"""Local stand-ins for GitHub's REST API and Snowflake's SQL API v2 at any
size, for the scale benchmark: real payload shapes (simple-user arrays in
pages of `per_page` with `Link` headers; `resultSetMetaData.rowType`,
`partitionInfo` and partitions of rows as strings), a fixed latency per
request, and request counters.

    standins.py --github-members N [--github-orgs K] --snowflake-users M
                [--latency-ms 20] [--partition-rows 10000]

prints `github PORT` and `snowflake PORT`, then serves until killed.
GET /_stats on either answers {"requests": {kind: count}}; POST /_reset
clears the counters; POST /_mutate?percent=1 flips the MFA status of that
share of principals (a deterministic choice), for a "1% changed" pass.
"""

import argparse
import json
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")


class Population:
    """Principal i lacks MFA when i % 10 == 3 (10%), uses SMS when
    i % 50 == 7 (2%); a mutation flips principals with i % step == 11."""

    def __init__(self, n):
        self.n = n
        self.flipped = set()
        self.lock = threading.Lock()
        self.filtered = {}

    def mutate(self, percent):
        step = max(1, round(100 / percent))
        with self.lock:
            self.flipped ^= {i for i in range(self.n) if i % step == 11 % step}
            self.filtered.clear()

    def ids(self, name, keep):
        """The ids passing a filter, computed once per mutation: filtering
        68k members in Python on every page request made the stand-in, not
        the monitor, the bottleneck."""
        with self.lock:
            if name not in self.filtered:
                self.filtered[name] = [i for i in range(self.n) if keep(i)]
            return self.filtered[name]

    def without_mfa(self, i):
        return (i % 10 == 3) != (i in self.flipped)


class Counters:
    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()

    def add(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def reset(self):
        with self.lock:
            self.counts.clear()


def base_handler(latency, counters, populations, minimum=lambda: None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as two writes: with Nagle on, each
        # keep-alive response waited for the client's delayed ACK, and the
        # stand-in, not the latency, set the pace.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, body, headers=None):
            data = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def control(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/_stats":
                self.reply(200, {"requests": counters.snapshot(), "minimum": minimum()})
            elif url.path == "/_reset":
                counters.reset()
                self.reply(200, {})
            elif url.path == "/_mutate":
                percent = float(urllib.parse.parse_qs(url.query).get("percent", ["1"])[0])
                for p in populations:
                    p.mutate(percent)
                self.reply(200, {})
            else:
                return False
            return True

        def pause(self):
            if latency:
                time.sleep(latency)

    return Handler


def github_server(args, counters):
    orgs = [f"bench{k}" for k in range(args.github_orgs)]
    per_org = args.github_members // args.github_orgs
    populations = {org: Population(per_org) for org in orgs}
    collaborators = {org: Population(max(1, per_org // 100)) for org in orgs}
    org_info = json.load(open(os.path.join(FIXTURES, "github-org.json")))
    def pages(n):
        return max(1, -(-n // 100))

    def minimum():
        """Requests the paging allows at least: the org, and every page of
        each listing (members: all, 2fa_disabled, 2fa_insecure, owners;
        outside collaborators: all, 2fa_disabled, 2fa_insecure)."""
        total = 0
        for org in orgs:
            total += 1
            for pop in (populations[org], collaborators[org]):
                total += pages(pop.n)
                total += pages(sum(1 for i in range(pop.n) if pop.without_mfa(i)))
                total += pages(sum(1 for i in range(pop.n) if i % 50 == 7 and not pop.without_mfa(i)))
            total += 1  # owners
        return total

    Base = base_handler(args.latency_ms / 1000, counters,
                        list(populations.values()) + list(collaborators.values()), minimum)

    def user(prefix, i):
        login = f"{prefix}{i:06d}"
        uid = 10_000_000 + i if prefix == "user" else 20_000_000 + i
        return {"login": login, "id": uid, "node_id": "MDQ6VXNlcjE=",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "",
                "url": f"https://api.github.com/users/{login}", "html_url": f"https://github.com/{login}",
                "type": "User", "site_admin": False, "user_view_type": "public"}

    class Handler(Base):
        def do_POST(self):
            if self.control():
                return
            # The body is read even when not answered: left unread on a
            # keep-alive connection, it was parsed as the next request's
            # line, and a GraphQL 404 turned that request into a 400.
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.reply(404, {"message": "Not Found"})

        def do_GET(self):
            if self.control():
                return
            self.pause()
            url = urllib.parse.urlsplit(self.path)
            q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            parts = url.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "orgs" and parts[1] in populations:
                counters.add("github /orgs/{org}")
                info = dict(org_info, login=parts[1], two_factor_requirement_enabled=True)
                self.reply(200, info)
                return
            # /orgs/{org}/{kind} or the Link form /organizations/{org}/{kind}
            if len(parts) != 3 or parts[0] not in ("orgs", "organizations") or parts[1] not in populations:
                self.reply(404, {"message": "Not Found"})
                return
            org, kind = parts[1], parts[2]
            if kind == "members":
                pop, prefix = populations[org], "user"
            elif kind == "outside_collaborators":
                pop, prefix = collaborators[org], "collab"
            else:
                self.reply(404, {"message": "Not Found"})
                return
            flt, role = q.get("filter", "all"), q.get("role", "all")
            counters.add(f"github {kind} filter={flt} role={role}")
            if role == "admin":
                ids = list(range(min(5, pop.n)))
            elif flt == "2fa_disabled":
                ids = pop.ids(flt, pop.without_mfa)
            elif flt == "2fa_insecure":
                ids = pop.ids(flt, lambda i: i % 50 == 7 and not pop.without_mfa(i))
            else:
                ids = range(pop.n)
            per_page = min(100, int(q.get("per_page", "30")))
            page = int(q.get("page", "1"))
            last = max(1, -(-len(ids) // per_page))
            chunk = ids[(page - 1) * per_page: page * per_page]
            host = self.headers.get("Host")
            keep = {k: v for k, v in q.items() if k != "page"}

            def link(n):
                return f"http://{host}/organizations/{org}/{kind}?{urllib.parse.urlencode(dict(keep, page=n))}"

            rels = []
            if page < last:
                rels += [f'<{link(page + 1)}>; rel="next"', f'<{link(last)}>; rel="last"']
            if page > 1:
                rels += [f'<{link(page - 1)}>; rel="prev"', f'<{link(1)}>; rel="first"']
            headers = {"Link": ", ".join(rels)} if rels else {}
            headers["X-RateLimit-Remaining"] = "4999"
            self.reply(200, [user(prefix, i) for i in chunk], headers)

    return Handler, orgs


def snowflake_server(args, counters):
    pop = Population(args.snowflake_users)
    meta = json.load(open(os.path.join(FIXTURES, "snowflake-show-users-200.json")))
    row_type = meta["resultSetMetaData"]["rowType"]
    cols = [c["name"] for c in row_type]
    template = meta["data"][0]
    # SHOW USERS, each further partition, and SHOW GRANTS OF ROLE for the
    # two admin roles (their grantees here are users only).
    Base = base_handler(args.latency_ms / 1000, counters, [pop],
                        lambda: 1 + (max(1, -(-pop.n // args.partition_rows)) - 1) + 2)
    handle = "01b8a3c4-0000-1234-0000-00000bench00"

    def row(i):
        r = list(template)
        name = f"USER{i:06d}"
        values = {"name": name, "login_name": name, "email": f"user{i}@example.com",
                  "has_mfa": "false" if pop.without_mfa(i) else "true", "type": "PERSON",
                  "disabled": "false", "mins_to_bypass_mfa": "null", "ext_authn_duo": "false",
                  "has_password": "true"}
        for k, v in values.items():
            r[cols.index(k)] = v
        return r

    def partitions():
        size = args.partition_rows
        return [range(s, min(s + size, pop.n)) for s in range(0, max(pop.n, 1), size)] or [range(0)]

    def grants(users):
        names = ["created_on", "role", "granted_to", "grantee_name", "granted_by"]
        data = [["1699999999.0", "R", "USER", u, "SECURITYADMIN"] for u in users]
        return {"resultSetMetaData": {"numRows": len(data), "format": "jsonv2",
                                      "partitionInfo": [{"rowCount": len(data), "uncompressedSize": 100}],
                                      "rowType": [{"name": n, "database": "", "schema": "", "table": "",
                                                   "nullable": True, "type": "text"} for n in names]},
                "data": data, "code": "090001", "statementStatusUrl": "/api/v2/statements/g",
                "requestId": "r", "sqlState": "00000", "statementHandle": "g",
                "message": "Statement executed successfully.", "createdOn": 1763840000000}

    class Handler(Base):
        def do_POST(self):
            if self.control():
                return
            self.pause()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            statement = body.get("statement", "")
            counters.add(f"snowflake POST statements {statement.split(' OF ')[0]}")
            if statement == "SHOW USERS":
                parts = partitions()
                self.reply(200, {
                    "resultSetMetaData": {"numRows": pop.n, "format": "jsonv2", "rowType": row_type,
                                          "partitionInfo": [{"rowCount": len(p), "uncompressedSize": 400 * len(p)} for p in parts]},
                    "data": [row(i) for i in parts[0]], "code": "090001",
                    "statementStatusUrl": f"/api/v2/statements/{handle}", "requestId": body.get("requestId", "r"),
                    "sqlState": "00000", "statementHandle": handle,
                    "message": "Statement executed successfully.", "createdOn": 1763840000000})
            elif statement.startswith("SHOW GRANTS OF ROLE"):
                role = statement.split()[-1].strip('"')
                users = {"ACCOUNTADMIN": ["USER000000", "USER000001"], "SECURITYADMIN": ["USER000002"]}.get(role, [])
                self.reply(200, grants(users))
            else:
                self.reply(422, {"code": "000900", "message": "unsupported statement in the bench stand-in"})

        def do_GET(self):
            if self.control():
                return
            self.pause()
            url = urllib.parse.urlsplit(self.path)
            q = urllib.parse.parse_qs(url.query)
            counters.add("snowflake GET partition")
            n = int(q.get("partition", ["0"])[0])
            parts = partitions()
            if n >= len(parts):
                self.reply(404, {"code": "000709", "message": "no such partition"})
                return
            self.reply(200, {"data": [row(i) for i in parts[n]]})

    return Handler


class Server(ThreadingHTTPServer):
    """Benches open hundreds of connections at once. The backlog is set
    when the socket listens, in the constructor: the default of 5 dropped
    SYNs, and each retry cost the caller a second."""
    daemon_threads = True
    request_queue_size = 256


def serve(handler):
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--github-members", type=int, default=600)
    parser.add_argument("--github-orgs", type=int, default=1)
    parser.add_argument("--snowflake-users", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--partition-rows", type=int, default=10000)
    args = parser.parse_args()
    gh_counters, sf_counters = Counters(), Counters()
    gh_handler, orgs = github_server(args, gh_counters)
    print(f"github {serve(gh_handler)} {','.join(orgs)}", flush=True)
    print(f"snowflake {serve(snowflake_server(args, sf_counters))}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
