#!/usr/bin/env python3
"""Checks that the templates' alarms can reach the operators.

    check_alarm_topics.py [--runbook infra/RUNBOOK.md] TEMPLATE...

Fails (exit 1) when, in any template:

- an SNS topic that a CloudWatch alarm publishes to (AlarmActions, OKActions,
  InsufficientDataActions, through Ref, Fn::GetAtt or Fn::Sub) is encrypted
  with an AWS managed key (alias/aws/...) or with a key this template does
  not define, or the topic is not defined here at all: CloudWatch publishes
  as the service principal cloudwatch.amazonaws.com, which no AWS managed key
  admits, so every notification would fail (template.yaml, AlarmTopicKey);
- the customer managed key such a topic uses has no key policy statement
  allowing cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey, or
  one denying them;
- an alarm watches a metric the function does not publish (namespace
  MfaMonitor, see METRICS), or a namespace other than MfaMonitor, AWS/Lambda,
  AWS/SQS and AWS/States (the fan-out's state machines, see STATES_METRICS);
- a function's ApplicationLogLevel is above INFO (or is a parameter that
  allows that): Lambda would drop the Embedded Metric Format lines, which
  carry no "level" and count as INFO, and with them every MfaMonitor metric;
- with --runbook: an alarm of the template has no row in the runbook's
  alarm table.

The templates are read with cfn-lint's decoder, which understands the
CloudFormation short tags (!Ref, !GetAtt, !Sub, ...).
"""

import argparse
import fnmatch
import re
import sys

from cfnlint.decode import decode

# What src/metrics.rs publishes (namespace MfaMonitor).
METRICS = {
    "Principals",
    "NonCompliant",
    "Changes",
    "SourceFailures",
    "DurationMs",
    "ChannelFailures",
    "PendingAlerts",
    "PendingAlertAgeMinutes",
}
AWS_NAMESPACES = {"AWS/Lambda", "AWS/SQS", "AWS/States"}
# The execution metrics Step Functions publishes per state machine
# (dimension StateMachineArn) that an alarm here may watch.
STATES_METRICS = {
    "ExecutionsFailed",
    "ExecutionsTimedOut",
    "ExecutionsAborted",
    "ExecutionThrottled",
    "ExecutionsStarted",
    "ExecutionsSucceeded",
}
ACTION_KEYS = ("AlarmActions", "OKActions", "InsufficientDataActions")
CLOUDWATCH = "cloudwatch.amazonaws.com"
# What SNS asks KMS for on the publisher's behalf.
KMS_CALLS = ("kms:Decrypt", "kms:GenerateDataKey")
# Lambda's levels, most detailed first; EMF lines count as INFO.
LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
SAFE_LEVELS = set(LEVELS[: LEVELS.index("INFO") + 1])


def as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def referenced_resource(value):
    """The logical id an alarm action points at, or None for a literal."""
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        if fn == "Ref" and isinstance(arg, str):
            return arg
        if fn == "Fn::GetAtt":
            if isinstance(arg, list) and arg:
                return arg[0]
            if isinstance(arg, str):
                return arg.split(".", 1)[0]
        if fn == "Fn::Sub":
            # Only a Sub that is exactly one reference: "${Topic}".
            text = arg[0] if isinstance(arg, list) else arg
            m = re.fullmatch(r"\s*\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}\s*", str(text))
            if m:
                return m.group(1)
    return None


def describe(value):
    return value if isinstance(value, str) else repr(dict(value) if isinstance(value, dict) else value)


def principal_services(principal):
    if principal == "*":
        return {"*"}
    if isinstance(principal, dict):
        out = set()
        for kind, ids in principal.items():
            for i in as_list(ids):
                out.add(i if kind == "Service" else ("*" if i == "*" else None))
        out.discard(None)
        return out
    return set()


def actions_cover(actions, call):
    return any(isinstance(a, str) and fnmatch.fnmatchcase(call.lower(), a.lower()) for a in as_list(actions))


def key_policy_problems(key_id, key):
    policy = key.get("Properties", {}).get("KeyPolicy")
    if not isinstance(policy, dict):
        return [f"key {key_id} has no inline KeyPolicy to check"]
    allowed, denied = set(), set()
    for st in as_list(policy.get("Statement")):
        if not isinstance(st, dict):
            continue
        services = principal_services(st.get("Principal"))
        if CLOUDWATCH not in services and "*" not in services:
            continue
        for call in KMS_CALLS:
            if "Action" in st and actions_cover(st["Action"], call):
                if st.get("Effect") == "Allow" and CLOUDWATCH in services:
                    allowed.add(call)
                elif st.get("Effect") == "Deny" and "Condition" not in st:
                    denied.add(call)
    problems = []
    for call in KMS_CALLS:
        if call in denied:
            problems.append(f"key {key_id}'s policy denies {CLOUDWATCH} {call}")
        elif call not in allowed:
            problems.append(f"key {key_id}'s policy does not allow {CLOUDWATCH} {call}")
    return problems


def resolve_key(resources, value):
    """(key logical id, key resource) behind a KmsMasterKeyId, or a reason."""
    if isinstance(value, str):
        if value.startswith("alias/aws/") or re.search(r":alias/aws/", value):
            return None, f"AWS managed key {value}: its policy cannot admit {CLOUDWATCH}"
        return None, f"key {value} is not defined in this template, so its policy cannot be checked"
    ref = referenced_resource(value)
    if ref is None or ref not in resources:
        return None, f"key {describe(value)} does not resolve to a key defined in this template"
    res = resources[ref]
    if res.get("Type") == "AWS::KMS::Alias":
        target = res.get("Properties", {}).get("TargetKeyId")
        return resolve_key(resources, target)
    if res.get("Type") == "AWS::KMS::Key":
        return ref, res
    return None, f"{ref} is a {res.get('Type')}, not a KMS key"


def check_topics(resources):
    problems, topics = [], {}
    for name, res in resources.items():
        if res.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = res.get("Properties", {})
        for key in ACTION_KEYS:
            for action in as_list(props.get(key)):
                if isinstance(action, str):
                    if ":sns:" in action:
                        problems.append(
                            f"{name}.{key}: topic {action} is not defined in this template; its key cannot be checked"
                        )
                    continue
                ref = referenced_resource(action)
                if ref is None or ref not in resources:
                    problems.append(f"{name}.{key}: {describe(action)} is not a topic defined in this template")
                    continue
                if resources[ref].get("Type") != "AWS::SNS::Topic":
                    continue  # not an SNS action
                topics.setdefault(ref, []).append(f"{name}.{key}")
    for topic, users in sorted(topics.items()):
        key = resources[topic].get("Properties", {}).get("KmsMasterKeyId")
        if key is None:
            print(f"note: {topic} (used by {len(users)} alarm actions) is not encrypted; CloudWatch can publish to it")
            continue
        key_id, found = resolve_key(resources, key)
        if key_id is None:
            problems.append(f"{topic} (alarm topic of {', '.join(sorted({u.split('.')[0] for u in users}))}): {found}")
            continue
        key_problems = key_policy_problems(key_id, found)
        problems += [f"{topic}: {p}" for p in key_problems]
        if not key_problems:
            print(f"ok: {topic} is encrypted with {key_id}, whose policy admits {CLOUDWATCH} ({len(users)} alarm actions)")
    return problems


def metric_names(props):
    """(namespace, metric name) pairs an alarm watches."""
    if "MetricName" in props:
        yield props.get("Namespace"), props["MetricName"]
    for query in as_list(props.get("Metrics")):
        metric = (query.get("MetricStat") or {}).get("Metric") if isinstance(query, dict) else None
        if isinstance(metric, dict):
            yield metric.get("Namespace"), metric.get("MetricName")


def check_metrics(resources):
    problems = []
    for name, res in resources.items():
        if res.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        for namespace, metric in metric_names(res.get("Properties", {})):
            if namespace == "MfaMonitor":
                if metric not in METRICS:
                    problems.append(f"{name}: MfaMonitor metric {metric} is not one the function publishes")
            elif namespace == "AWS/States":
                if metric not in STATES_METRICS:
                    problems.append(f"{name}: AWS/States metric {metric} is not an execution metric of a state machine")
            elif namespace not in AWS_NAMESPACES:
                problems.append(f"{name}: namespace {namespace} is neither MfaMonitor nor {sorted(AWS_NAMESPACES)}")
    return problems


def check_log_levels(template):
    problems = []
    params = template.get("Parameters", {}) or {}
    for name, res in (template.get("Resources") or {}).items():
        if res.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        logging = (res.get("Properties") or {}).get("LoggingConfig") or {}
        level = logging.get("ApplicationLogLevel")
        if level is None:
            continue  # Lambda's default with JSON logs is INFO
        ref = referenced_resource(level)
        if ref in params:
            allowed = params[ref].get("AllowedValues")
            if not allowed:
                problems.append(f"{name}: ApplicationLogLevel is parameter {ref} with no AllowedValues")
                continue
            levels = {str(v).upper() for v in allowed}
        elif isinstance(level, str):
            levels = {level.upper()}
        else:
            problems.append(f"{name}: ApplicationLogLevel {describe(level)} cannot be checked")
            continue
        above = sorted(levels - SAFE_LEVELS)
        if above:
            problems.append(
                f"{name}: ApplicationLogLevel may be {', '.join(above)}: Lambda would drop the EMF lines "
                f"(no \"level\", counted as INFO) and every MfaMonitor metric with them"
            )
    return problems


def check_runbook(resources, runbook, path):
    rows = set(re.findall(r"^\|\s*`([A-Za-z0-9]+)`\s*\|", runbook, re.M))
    return [
        f"{name} has no row in {path}'s alarm table"
        for name, res in resources.items()
        if res.get("Type") == "AWS::CloudWatch::Alarm" and name not in rows
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("templates", nargs="+")
    parser.add_argument("--runbook", help="fail if an alarm of the first template has no row in this file")
    args = parser.parse_args()
    failed = False
    for i, path in enumerate(args.templates):
        template, errors = decode(path)
        if errors or template is None:
            for e in errors:
                print(f"{path}: cannot read: {e}", file=sys.stderr)
            failed = True
            continue
        resources = template.get("Resources") or {}
        problems = check_topics(resources) + check_metrics(resources) + check_log_levels(template)
        if args.runbook and i == 0:
            with open(args.runbook) as f:
                problems += check_runbook(resources, f.read(), args.runbook)
        for p in problems:
            print(f"{path}: {p}", file=sys.stderr)
        failed |= bool(problems)
    if failed:
        print("FAILED: an alarm would not reach the operators, or watches what the function does not publish (see above)", file=sys.stderr)
        return 1
    print("alarm topics, metric names, log level and runbook rows: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
