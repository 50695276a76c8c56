#!/usr/bin/env python3
"""The direct side of bench/stores.sh for DynamoDB: boto3 doing what kumo's
dynamodb driver does per operation, on the same table and keys.

  ddb_raw.py get|put CALLERS SECONDS KEYS TABLE STORE ENDPOINT

get: GetItem, consistent read, of {"pk": STORE, "sk": b"key:N"}; put:
UpdateItem setting the value (1 KiB) and bumping the version, as kumo's
put does. CALLERS processes, each with its own client, for SECONDS;
prints "OP CALLERS OPS_PER_S" like bench/stores.c.
"""
import multiprocessing
import random
import sys
import time

import boto3


def caller(args):
    op, seconds, keys, table, store, endpoint, seed = args
    c = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing")
    rnd = random.Random(seed)
    value = b"x" * 1024
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        key = {"pk": {"S": store}, "sk": {"B": b"key:%d" % rnd.randrange(keys)}}
        if op == "get":
            c.get_item(TableName=table, Key=key, ConsistentRead=True)
        else:
            c.update_item(TableName=table, Key=key,
                          UpdateExpression="SET #val = :val, #ver = if_not_exists(#ver, :base) + :one "
                                           "REMOVE #ttl, #exp",
                          ExpressionAttributeNames={"#val": "v", "#ver": "ver", "#ttl": "ttl", "#exp": "exp"},
                          ExpressionAttributeValues={":val": {"B": value}, ":base": {"N": "0"},
                                                     ":one": {"N": "1"}},
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
