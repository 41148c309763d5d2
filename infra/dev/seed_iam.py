#!/usr/bin/env python3
"""Seeds and changes IAM users in a moto account for the local demo.

  seed_iam.py seed        prints shell exports for a fresh demo account
  seed_iam.py remove-mfa USER   removes USER's virtual MFA device
Credentials for the account come from the environment (see `seed`).
"""
import os
import random
import sys

import boto3

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
REGION = "us-east-1"


def client(service, **creds):
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION, **creds)


def seed():
    account = str(random.randint(100_000_000_000, 999_999_999_999))
    sts = client("sts", aws_access_key_id="demo", aws_secret_access_key="demo")
    c = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/demo", RoleSessionName="mfa-monitor-demo"
    )["Credentials"]
    creds = dict(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )
    iam = client("iam", **creds)
    for name, console, mfa in [
        ("alice", True, True),
        ("bob", True, True),
        ("carol", True, False),
        ("ci-deployer", False, False),
    ]:
        iam.create_user(UserName=name)
        if console:
            iam.create_login_profile(UserName=name, Password="Demo-Passw0rd!")
        if mfa:
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)[
                "VirtualMFADevice"
            ]["SerialNumber"]
            iam.enable_mfa_device(
                UserName=name,
                SerialNumber=serial,
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
    iam.attach_user_policy(
        UserName="alice", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )
    print(f"export DEMO_ACCOUNT={account}")
    print(f"export AWS_ACCESS_KEY_ID={creds['aws_access_key_id']}")
    print(f"export AWS_SECRET_ACCESS_KEY={creds['aws_secret_access_key']}")
    print(f"export AWS_SESSION_TOKEN={creds['aws_session_token']}")


def remove_mfa(user):
    iam = client("iam")
    account = client("sts").get_caller_identity()["Account"]
    serial = f"arn:aws:iam::{account}:mfa/{user}"
    iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        seed()
    elif sys.argv[1:2] == ["remove-mfa"] and len(sys.argv) == 3:
        remove_mfa(sys.argv[2])
    else:
        sys.exit(__doc__)
