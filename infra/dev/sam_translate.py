#!/usr/bin/env python3
"""Expands template.yaml into plain CloudFormation with the SAM translator,
offline, so checkov can also check what SAM generates (the function's role
and its policies, the schedules' roles).

    sam_translate.py TEMPLATE OUT_JSON   (run with the SAM CLI's python)
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class ManagedPolicies:
    """The only managed policy SAM attaches to this template's roles."""

    def load(self):
        return {
            "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        }


def main():
    template = yaml_parse(open(sys.argv[1]).read())
    # `sam build` replaces the local CodeUri with the built artifact's S3
    # URI, and `sam deploy` a state machine's local DefinitionUri with the
    # uploaded file's (the translator takes S3 locations only).
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://sam-build-artifacts/mfa-monitor.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            uri = resource["Properties"]["DefinitionUri"]
            if isinstance(uri, str) and not uri.startswith("s3://"):
                resource["Properties"]["DefinitionUri"] = "s3://sam-build-artifacts/" + uri.rsplit("/", 1)[-1]
    with open(sys.argv[2], "w") as out:
        json.dump(transform(template, {}, ManagedPolicies()), out, indent=1)


if __name__ == "__main__":
    main()
