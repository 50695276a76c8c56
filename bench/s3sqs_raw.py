#!/usr/bin/env python3
"""The vendor's side of bench/stores_blobq.sh for S3 and SQS: boto3 doing
what bench/stores_blobq.c does through kumo's s3:// and sqs:// drivers, on
the same moto server, with 1 KiB objects and messages.

  s3sqs_raw.py OP CALLERS SECONDS KEYS ENDPOINT NAME
    OP: blob-put | blob-get (S3, bucket NAME) | queue-send | queue-recv (SQS, queue NAME)

blob-put: PutObject of "vendor/obj/N"; blob-get: GetObject of it, body read
whole (the KEYS objects are written first); queue-send: SendMessage of 1 KiB
of text; queue-recv: ReceiveMessage of one message (30 s visibility, no
wait) and DeleteMessage. The bucket is made first, and the queue for queue-send
(queue-recv takes an existing one: bench/stores_blobq.sh gives it kumo's). CALLERS
processes, each with its own client, as kumo's callers are, for SECONDS. A
receiver that finds the queue empty ten times running stops. Prints
"OP CALLERS OPS_PER_S" (the count over the longest caller's time), with
" (drained)" when a receiver ran out of messages.
"""
import multiprocessing
import random
import sys
import time

import boto3

BODY = b"x" * 1024
EMPTY_RECEIVES_MAX = 10


def client(kind, endpoint):
    return boto3.client(kind, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def caller(args):
    op, seconds, keys, endpoint, name, seed = args
    rnd = random.Random(seed)
    if op.startswith("blob"):
        c = client("s3", endpoint)
    else:
        c = client("sqs", endpoint)
        url = c.get_queue_url(QueueName=name)["QueueUrl"]
    body = BODY.decode()
    n = empty = 0
    drained = False
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end and not drained:
        key = "vendor/obj/%d" % rnd.randrange(keys)
        if op == "blob-put":
            c.put_object(Bucket=name, Key=key, Body=BODY, ContentType="application/octet-stream")
        elif op == "blob-get":
            if len(c.get_object(Bucket=name, Key=key)["Body"].read()) != len(BODY):
                raise RuntimeError(key + ": not 1 KiB")
        elif op == "queue-send":
            c.send_message(QueueUrl=url, MessageBody=body)
        else:
            got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=30,
                                    WaitTimeSeconds=0).get("Messages", [])
            if not got:
                empty += 1
                drained = empty >= EMPTY_RECEIVES_MAX
                continue
            c.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
        empty = 0
        n += 1
    return n, drained, time.monotonic() - start


def main():
    op, callers, seconds, keys, endpoint, name = sys.argv[1:7]
    callers, seconds, keys = int(callers), float(seconds), int(keys)
    if op.startswith("blob"):
        s3 = client("s3", endpoint)
        try:
            s3.create_bucket(Bucket=name)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        if op == "blob-get":
            for k in range(keys):
                s3.put_object(Bucket=name, Key="vendor/obj/%d" % k, Body=BODY,
                              ContentType="application/octet-stream")
    elif op == "queue-send":
        client("sqs", endpoint).create_queue(QueueName=name)
    with multiprocessing.Pool(callers) as pool:
        results = pool.map(caller, [(op, seconds, keys, endpoint, name, i) for i in range(callers)])
    total = sum(r[0] for r in results)
    longest = max(r[2] for r in results)
    print("%s %d %.0f%s" % (op, callers, total / longest, " (drained)" if any(r[1] for r in results) else ""))


if __name__ == "__main__":
    main()
