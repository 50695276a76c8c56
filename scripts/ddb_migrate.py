#!/usr/bin/env python3
"""Copies a kv store an older kumo wrote to DynamoDB into the layout of
today's driver (src/sdk/stores/dynamodb.c), in the same table.

  scripts/ddb_migrate.py TABLE STORE [--region R] [--endpoint URL] [--dry-run]

Older kumo kept every item of a store under pk = STORE with the value as
binary `v`; today's driver spreads them over 16 partition keys
"STORE#NN" (NN = FNV-1a of the key's bytes mod 16) and keeps text as text:
`key` (S) beside the binary sort key `sk`, `value` (S) for UTF-8 values,
`value_b` (B) for the others. Each item is written in the new layout, then
the old one is deleted, so the script can be run again after an
interruption. Stop the writers first: a write landing in the old layout
after its item was copied would be lost. Credentials and region come from
boto3's usual sources (AWS_ACCESS_KEY_ID, profiles, ...).
"""
import argparse
import sys

import boto3

SHARDS = 16


def shard(key):
    h = 2166136261
    for b in key:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % SHARDS


def text(data):
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def new_item(store, old):
    key = bytes(old["sk"]["B"])
    value = bytes(old.get("v", {}).get("B", b""))
    item = {"pk": {"S": "%s#%02d" % (store, shard(key))}, "sk": {"B": key}}
    if text(key) is not None:
        item["key"] = {"S": text(key)}
    if text(value) is not None:
        item["value"] = {"S": text(value)}
    else:
        item["value_b"] = {"B": value}
    for name in ("ver", "ttl", "exp"):
        if name in old:
            item[name] = old[name]
    return item


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table")
    ap.add_argument("store")
    ap.add_argument("--region")
    ap.add_argument("--endpoint")
    ap.add_argument("--dry-run", action="store_true", help="count the items, change nothing")
    a = ap.parse_args()
    if "#" in a.store:
        sys.exit("ddb_migrate.py: '%s' is a store's name, without '#NN'" % a.store)
    ddb = boto3.client("dynamodb", region_name=a.region, endpoint_url=a.endpoint)
    moved = 0
    start = None
    while True:
        q = {"TableName": a.table, "KeyConditionExpression": "pk = :pk",
             "ExpressionAttributeValues": {":pk": {"S": a.store}}, "ConsistentRead": True}
        if start:
            q["ExclusiveStartKey"] = start
        page = ddb.query(**q)
        for old in page["Items"]:
            if not a.dry_run:
                ddb.put_item(TableName=a.table, Item=new_item(a.store, old))
                ddb.delete_item(TableName=a.table, Key={"pk": old["pk"], "sk": old["sk"]})
            moved += 1
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    print("%s %d items of store '%s' in table '%s'" % ("would move" if a.dry_run else "moved", moved, a.store,
                                                        a.table))


if __name__ == "__main__":
    main()
