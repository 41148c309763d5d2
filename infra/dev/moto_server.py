#!/usr/bin/env python3
"""moto's server (as `python3 -m moto.server`) with DynamoDB requests served
one at a time.

moto rolls a failed TransactWriteItems back by restoring a copy of the whole
table taken when the transaction began. With two requests in flight (the
server is threaded), a transaction that fails its condition erases what
another request wrote meanwhile: two overlapping passes could lose the
winner's meta item and leave its principals without a version. Real
DynamoDB transactions are serializable, so holding DynamoDB requests to one
at a time makes the emulator closer to the service, not further; the other
services keep their concurrency.

    moto_server.py [-H HOST] [-p PORT]
"""

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

DYNAMODB_TARGET = "DynamoDB_"


def serialize_dynamodb(app):
    lock = threading.Lock()

    def serve(environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_TARGET):
            return app(environ, start_response)
        with lock:
            # The body is produced inside the lock: the request's effects
            # are complete before the next DynamoDB request starts.
            return list(app(environ, start_response))

    return serve


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    # moto builds some URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True)


if __name__ == "__main__":
    main()
