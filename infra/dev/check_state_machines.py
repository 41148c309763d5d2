#!/usr/bin/env python3
"""Checks the state machine definitions a template deploys from files.

    check_state_machines.py TEMPLATE...

For each AWS::Serverless::StateMachine with a local DefinitionUri, fails
(exit 1) when:

- the definition names a ${Placeholder} that DefinitionSubstitutions does
  not fill, or a substitution the definition never uses (a renamed
  placeholder would reach Step Functions as literal text);
- with every substitution filled (a Number parameter's default, a
  well-formed ARN for a reference to a function or state machine), the
  file is not JSON;
- a StartAt, Next or Default names no state of its States (nor, inside a
  Map's ItemProcessor, of that processor's States);
- cfn-lint, given the filled-in definition inline in an
  AWS::StepFunctions::StateMachine, finds an error (it validates the
  Amazon States Language: field names, types, required fields).

sam validate and cfn-lint see only the DefinitionUri string, not the file.
"""

import json
import os
import re
import sys

from cfnlint.api import ManualArgs, lint
from cfnlint.decode import decode

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
ARNS = {
    "AWS::Serverless::Function": "arn:aws:lambda:us-east-1:123456789012:function:{}",
    "AWS::Lambda::Function": "arn:aws:lambda:us-east-1:123456789012:function:{}",
    "AWS::Serverless::StateMachine": "arn:aws:states:us-east-1:123456789012:stateMachine:{}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:us-east-1:123456789012:stateMachine:{}",
}


def filled(value, template):
    """A stand-in of what CloudFormation substitutes for `value`."""
    params = template.get("Parameters") or {}
    resources = template.get("Resources") or {}
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        (fn, arg), = value.items()
        target = arg[0] if fn == "Fn::GetAtt" and isinstance(arg, list) else str(arg).split(".")[0]
        if fn == "Ref" and target in params:
            return str(params[target].get("Default", "1"))
        if fn in ("Ref", "Fn::GetAtt") and target in resources:
            pattern = ARNS.get(resources[target].get("Type"), "arn:aws:iam::123456789012:role/{}")
            return pattern.format(target)
    return "substituted"


def dangling_names(states_owner, where):
    problems = []
    states = states_owner.get("States") or {}
    names = set(states)
    if states_owner.get("StartAt") not in names:
        problems.append(f"{where}: StartAt {states_owner.get('StartAt')!r} is no state")
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Choices", [])]
        targets += [c.get("Next") for c in state.get("Catch", [])]
        for t in targets:
            if t is not None and t not in names:
                problems.append(f"{where}: {name} goes to {t!r}, which is no state")
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                problems += dangling_names(state[key], f"{where} {name}.{key}")
        for i, branch in enumerate(state.get("Branches", [])):
            problems += dangling_names(branch, f"{where} {name}.Branches[{i}]")
    return problems


def check(path):
    template, errors = decode(path)
    if errors or template is None:
        return [f"{path}: cannot read: {e}" for e in errors] or [f"{path}: cannot read"]
    problems, inline = [], {}
    base = os.path.dirname(os.path.abspath(path))
    for name, res in (template.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Serverless::StateMachine":
            continue
        props = res.get("Properties") or {}
        uri = props.get("DefinitionUri")
        if not isinstance(uri, str) or uri.startswith("s3://"):
            continue
        where = f"{path}: {name} ({uri})"
        with open(os.path.join(base, uri)) as f:
            text = f.read()
        subs = props.get("DefinitionSubstitutions") or {}
        used = set(PLACEHOLDER.findall(text))
        for missing in sorted(used - set(subs)):
            problems.append(f"{where}: ${{{missing}}} has no DefinitionSubstitutions entry")
        for unused in sorted(set(subs) - used):
            problems.append(f"{where}: substitution {unused} is used nowhere in the definition")
        text = PLACEHOLDER.sub(lambda m: filled(subs.get(m.group(1), "x"), template), text)
        try:
            definition = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: not JSON once substituted: {e}")
            continue
        problems += dangling_names(definition, where)
        inline[name] = {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/check", "Definition": definition},
        }
    if inline:
        doc = json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": inline})
        matches = lint(doc, config=ManualArgs(regions=["us-east-1"]))
        for m in matches:
            problems.append(f"{path}: cfn-lint on the inlined definitions: {m.rule.id} {m.message} ({m.path_string})")
        if not matches and not problems:
            print(f"ok: {path}: {', '.join(sorted(inline))} (substitutions, JSON, state names, cfn-lint)")
    return problems


def main():
    problems = []
    for path in sys.argv[1:]:
        problems += check(path)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print("FAILED: a state machine definition does not match its template (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
