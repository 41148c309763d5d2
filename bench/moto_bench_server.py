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

if __name__ == "__main__":
    moto_server.main()
