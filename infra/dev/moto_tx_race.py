#!/usr/bin/env python3
"""Shows why infra/dev/moto_server.py serializes DynamoDB requests.

Pairs of TransactWriteItems race for one item under `attribute_not_exists`,
six tables at a time; after each pair, the item of the transaction that
succeeded must be there. On stock moto (threaded) it sometimes is not: the
loser's rollback restores a copy of the table taken before the winner
wrote. Run by hand against a server on each side:

    python3 -m moto.server -p 5210 &  python3 infra/dev/moto_server.py -p 5211 &
    python3 infra/dev/moto_tx_race.py http://127.0.0.1:5210 http://127.0.0.1:5211
"""

import sys
import threading
import uuid

import boto3
import botocore.config

TABLES = 6
ROUNDS = 20
CHUNKS = 20  # outbox-like items in each transaction: a longer window


def client(url):
    return boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=botocore.config.Config(max_pool_connections=50))


def race(c, table, rnd):
    key = f"meta{rnd}"

    def commit(who):
        items = [{"Put": {"TableName": table, "Item": {"pk": {"S": key}},
                          "ConditionExpression": "attribute_not_exists(pk)"}}]
        items += [{"Put": {"TableName": table, "Item": {
            "pk": {"S": f"out-{who}-{rnd}-{j}"}, "v": {"S": "x" * 2000}}}}
            for j in range(CHUNKS)]
        try:
            c.transact_write_items(TransactItems=items)
            return True
        except c.exceptions.TransactionCanceledException:
            return False

    won = {}
    threads = [threading.Thread(target=lambda w=w: won.__setitem__(w, commit(w)))
               for w in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    there = "Item" in c.get_item(TableName=table, Key={"pk": {"S": key}},
                                 ConsistentRead=True)
    return any(won.values()) and not there


def main(url):
    c = client(url)
    lost = []

    def one_table():
        table = f"race-{uuid.uuid4().hex[:8]}"
        c.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        lost.extend(r for r in range(ROUNDS) if race(c, table, r))

    threads = [threading.Thread(target=one_table) for _ in range(TABLES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{url}: a committed item vanished in {len(lost)} of {TABLES * ROUNDS} races")


if __name__ == "__main__":
    for url in sys.argv[1:]:
        main(url)
