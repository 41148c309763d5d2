#!/usr/bin/env python3
"""infra/dev/moto_server.py (DynamoDB requests one at a time) with moto's
TransactWriteItems made cheap, for benches that fill a table with
100,000 principals.

moto keeps a deep copy of every table a transaction names, taken before it
applies (once per item of the transaction), to restore if it fails. With a
bench's table of 2,000 principals a commit already cost ~0.5 s of moto's
time, and the cost grows with the table: a baseline over thousands of
accounts measured moto's copying, not the monitor. Here the transaction
keeps only the items it touches and puts those back if it fails, which is
the same state (DynamoDB requests are serialized; the bench tables have no
index or stream).

It can also seed the organization in-process before it serves
(MFA_BENCH_SEED="MANAGEMENT,ACCOUNTS,USERS"): the management account's
organization, ACCOUNTS member accounts, and in each USERS IAM users with a
console password, every tenth one (index 3, 13, ...) without an MFA device,
through moto's own backends, the objects its HTTP handlers call. Over HTTP
that is four requests per user, hours for 100,000 users; in-process it
takes a minute, and the monitor still reads every user over HTTP.

And moto finds the account of each request's access key with an index
instead of its scan: moto.iam.models.get_account_id_from looks the key up
in every account's IAM backend, every partition (creating the backends it
lacks), on every request. At 5,000 accounts that scan was 44% of moto's
time and grew with each account the pass had touched (py-spy), so the
bench measured it rather than the monitor; AWS resolves a key without
regard to how many accounts exist. Keys are indexed as IAM creates them
(temporary ones for AssumeRole included); a key not in the index falls
back to moto's scan. Werkzeug's line per request is not logged either.

And a Query on the table (not an index) reads only its partition: moto
sorts every item of the table on each Query (Table.all_items), which at
100,000 principals was 96% of moto's time and grew with each target the
pass committed, where DynamoDB reads one partition. The items are the same
(those of the queried hash key, in range-key order), so are the pages.

    moto_bench_server.py [-H HOST] [-p PORT]
"""

import copy
import os
import sys

import moto.dynamodb.models as models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "infra", "dev"))
import moto_server  # noqa: E402


class TablesNotCopied:
    """The `copy` module as models/__init__.py sees it: a Table is not
    copied (its rollback becomes a no-op), anything else is."""

    def deepcopy(self, obj, memo=None):
        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def key_of(table, op_type, op):
    attrs = op.get("Item", {}) if op_type == "Put" else op.get("Key", {})
    if table.hash_key_attr not in attrs:
        return None
    h = DynamoType(attrs[table.hash_key_attr])
    r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr and table.range_key_attr in attrs else None
    return h, r


def current(table, h, r):
    if table.range_key_attr:
        return table.items.get(h, {}).get(r)
    return table.items.get(h)


def restore(table, h, r, old):
    if table.range_key_attr:
        if old is not None:
            table.items[h][r] = old
        elif h in table.items:
            table.items[h].pop(r, None)
            if not table.items[h]:
                del table.items[h]
    elif old is not None:
        table.items[h] = old
    else:
        table.items.pop(h, None)


ORIGINAL = models.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    saved = []
    for item in transact_items:
        for op_type, op in item.items():
            table = self.tables.get(op.get("TableName"))
            key = table and key_of(table, op_type, op)
            if key:
                old = current(table, *key)
                saved.append((table, *key, copy.deepcopy(old) if old is not None else None))
    try:
        return ORIGINAL(self, transact_items)
    except Exception:
        for table, h, r, old in reversed(saved):
            restore(table, h, r, old)
        raise


models.copy = TablesNotCopied()
models.DynamoDBBackend.transact_write_items = transact_write_items

ACCOUNT_OF_KEY = {}
# (table, hash key) of the base-table Query under way; DynamoDB requests
# are served one at a time (moto_server.py), so one slot is enough.
QUERIED = [None]


def query_one_partition():
    scan_all, query = Table.all_items, Table.query

    def all_items(self):
        if QUERIED[0] is None or QUERIED[0][0] is not self:
            return scan_all(self)
        hash_set = self.items.get(QUERIED[0][1])
        if hash_set is None:
            return []
        items = list(hash_set.values()) if self.range_key_attr else [hash_set]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    def one_partition(self, hash_key, *args, **kwargs):
        on_index = kwargs.get("index_name") or (len(args) > 6 and args[6])
        if on_index or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        QUERIED[0] = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            QUERIED[0] = None

    Table.all_items = all_items
    Table.query = one_partition


def index_access_keys():
    import moto.iam.models as iam

    scan = iam.get_account_id_from
    create_temp, create = iam.IAMBackend.create_temp_access_key, iam.IAMBackend.create_access_key

    def temp(self):
        key = create_temp(self)
        ACCOUNT_OF_KEY[key.physical_resource_id] = self.account_id
        return key

    def user_key(self, *args, **kwargs):
        key = create(self, *args, **kwargs)
        ACCOUNT_OF_KEY[key.physical_resource_id] = self.account_id
        return key

    iam.IAMBackend.create_temp_access_key = temp
    iam.IAMBackend.create_access_key = user_key
    iam.get_account_id_from = lambda access_key: ACCOUNT_OF_KEY.get(access_key) or scan(access_key)


def seed(spec):
    from moto.iam.models import iam_backends
    from moto.organizations.models import organizations_backends

    management, accounts, users = spec.split(",")
    org = organizations_backends[management]["aws"]
    org.create_organization("us-east-1", FeatureSet="ALL")
    for i in range(int(accounts)):
        status = org.create_account(Email=f"a{i}@example.com", AccountName=f"a{i}")
        iam = iam_backends[status["CreateAccountStatus"]["AccountId"]]["aws"]
        for u in range(int(users)):
            name = f"user{u:04d}"
            iam.create_user("us-east-1", name)
            iam.create_login_profile(name, "Passw0rd!Passw0rd!")
            if u % 10 != 3:
                serial = iam.create_virtual_mfa_device(name, "/").serial_number
                iam.enable_mfa_device(name, serial, "123456", "654321")
    print(f"seeded {accounts} accounts of {users} users", file=sys.stderr, flush=True)


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    index_access_keys()
    query_one_partition()
    if os.environ.get("MFA_BENCH_SEED"):
        seed(os.environ["MFA_BENCH_SEED"])
    moto_server.main()
