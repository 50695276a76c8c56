#!/usr/bin/env python3
"""The direct side of bench/stores.sh for DynamoDB: boto3 doing what kumo's
dynamodb driver does per operation, on the same table and keys.

  ddb_raw.py get|put CALLERS SECONDS KEYS TABLE STORE ENDPOINT

get: GetItem, consistent read, of {"pk": "STORE#NN", "sk": b"key:N"} (NN
the key's shard, FNV-1a mod 16, as the driver computes it); put: UpdateItem
setting the value (1 KiB of text, so `value` S) and the key's text copy and
bumping the version, as kumo's put does. CALLERS processes, each with its own client, for SECONDS;
prints "OP CALLERS OPS_PER_S" like bench/stores.c.
"""
import multiprocessing
import random
import sys
import time

import boto3


def shard(key):
    h = 2166136261
    for b in key:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % 16


def caller(args):
    op, seconds, keys, table, store, endpoint, seed = args
    c = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing")
    rnd = random.Random(seed)
    value = "x" * 1024
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        k = b"key:%d" % rnd.randrange(keys)
        key = {"pk": {"S": "%s#%02d" % (store, shard(k))}, "sk": {"B": k}}
        if op == "get":
            c.get_item(TableName=table, Key=key, ConsistentRead=True)
        else:
            c.update_item(TableName=table, Key=key,
                          UpdateExpression="SET #val = :val, #ver = if_not_exists(#ver, :base) + :one, "
                                           "#key = :key REMOVE #other, #ttl, #exp",
                          ExpressionAttributeNames={"#val": "value", "#other": "value_b", "#key": "key",
                                                    "#ver": "ver", "#ttl": "ttl", "#exp": "exp"},
                          ExpressionAttributeValues={":val": {"S": value}, ":key": {"S": k.decode()},
                                                     ":base": {"N": "0"}, ":one": {"N": "1"}},
                          ReturnValues="UPDATED_NEW")
        n += 1
    return n


def main():
    op, callers, seconds, keys, table, store, endpoint = sys.argv[1:8]
    callers, seconds, keys = int(callers), float(seconds), int(keys)
    with multiprocessing.Pool(callers) as pool:
        total = sum(pool.map(caller, [(op, seconds, keys, table, store, endpoint, i) for i in range(callers)]))
    print("%s %d %.0f" % (op, callers, total / seconds))


if __name__ == "__main__":
    main()
