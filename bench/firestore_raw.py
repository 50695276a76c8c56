#!/usr/bin/env python3
"""The direct side of bench/stores.sh for Firestore: python's `requests`
doing the REST calls kumo's firestore driver makes per operation, on the
same emulator, collection and keys. (Google's python client,
google-cloud-firestore, is not installed on the machines this runs on: it
is not in Debian, and the bench installs nothing else.)

  firestore_raw.py get|put CALLERS SECONDS KEYS ENDPOINT PROJECT COLLECTION

get: a documents:batchGet of the one document; put: a documents:commit
replacing it (key as bytes, the 1 KiB value as a string, a fresh rev), as
kumo's get and put do. CALLERS processes, each with its own session (one
kept-alive connection), for SECONDS; prints "OP CALLERS OPS_PER_S" like
bench/stores.c.
"""
import os
import sys

# bench/queue.py would shadow the standard library's queue (which requests
# and multiprocessing import): this file's folder is not a module path
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import base64  # noqa: E402
import multiprocessing  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import requests  # noqa: E402


def caller(args):
    op, seconds, keys, endpoint, project, coll, seed = args
    s = requests.Session()
    docs = "projects/%s/databases/(default)/documents" % project
    base = "%s/v1/%s" % (endpoint, docs)
    rnd = random.Random(seed)
    value = "x" * 1024
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        key = "key:%d" % rnd.randrange(keys)
        name = "%s/%s/%s" % (docs, coll, key)
        if op == "get":
            r = s.post(base + ":batchGet", json={"documents": [name]})
        else:
            fields = {"key": {"bytesValue": base64.b64encode(key.encode()).decode()},
                      "value": {"stringValue": value},
                      "rev": {"integerValue": str(rnd.getrandbits(62))}}
            r = s.post(base + ":commit", json={"writes": [{"update": {"name": name, "fields": fields}}]})
        r.raise_for_status()
        n += 1
    return n


def main():
    op, callers, seconds, keys, endpoint, project, coll = sys.argv[1:8]
    callers, seconds, keys = int(callers), float(seconds), int(keys)
    with multiprocessing.Pool(callers) as pool:
        total = sum(pool.map(caller, [(op, seconds, keys, endpoint, project, coll, i) for i in range(callers)]))
    print("%s %d %.0f" % (op, callers, total / seconds))


if __name__ == "__main__":
    main()
