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

Also (matters only with moto's Step Functions interpreter on, see
tests/common/sfn.rs): moto 5.2.1 dropped the request and response
normalisation of the optimized Step Functions integration
(arn:aws:states:::states:startExecution): the definition's
StateMachineArn/Name/Input reach botocore unconverted and the task fails with
States.Runtime "'StateMachineArn'", and the result keeps botocore's
executionArn where AWS returns ExecutionArn. The service converts both ways;
restore_sfn_integration_casing does the same with botocore's own model. And
StartExecution deep-copies the state machine, which holds its backend: with
an execution of the same account and Region running (a launcher starting a
pass), the copy meets the running worker's locks and the request fails with
"cannot pickle '_thread.RLock' object"; the copy now shares the backend and
the executions list instead of cloning them. Last, moto's request recorder
appends each request to its file in two writes without a lock, so two
requests served at once can interleave into lines that are not JSON (a
test reading the recording back would miss an invocation): one at a time.

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


def restore_sfn_integration_casing():
    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    model = botocore.session.get_session().get_service_model("stepfunctions")
    normalise_parameters = StateTaskServiceSfn._normalise_parameters

    def operation(task):
        name = task.resource.api_action  # startExecution
        return model.operation_model(name[0].upper() + name[1:])

    def parameters(self, params, boto_service_name=None, service_action_name=None):
        normalise_parameters(self, params, boto_service_name, service_action_name)
        if service_action_name is None:
            self._to_boto_request(params, operation(self).input_shape)

    def response(self, value, boto_service_name=None, service_action_name=None):
        if service_action_name is None:
            self._from_boto_response(value, operation(self).output_shape)

    StateTaskServiceSfn._normalise_parameters = parameters
    StateTaskServiceSfn._normalise_response = response

    import copy

    from moto.stepfunctions.models import StateMachine

    def deepcopy_sharing_backend(self, memo):
        clone = self.__class__.__new__(self.__class__)
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            shared = key in ("backend", "executions")
            setattr(clone, key, value if shared else copy.deepcopy(value, memo))
        return clone

    StateMachine.__deepcopy__ = deepcopy_sharing_backend

    from moto.moto_api._internal.recorder.models import Recorder

    record_request = Recorder._record_request
    recording = threading.Lock()

    def record_whole_lines(self, request, body=None):
        with recording:
            record_request(self, request, body)

    Recorder._record_request = record_whole_lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    # moto builds some URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    restore_sfn_integration_casing()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialize_dynamodb(app), threaded=True)


if __name__ == "__main__":
    main()
