"""The DynamoDB kv driver's layout as AWS's own tools see it (issue 18):
examples/todo on moto's server, read back with boto3. A text value is a
`value` S attribute and the key a `key` S beside the binary `sk`; a store's
items land under several partition keys "todos#NN"; the listing merged
from the shards is in key order across pages; a store an older kumo wrote
(one partition, binary `v`) is refused with a message naming
scripts/ddb_migrate.py, which then moves it into the new layout."""
import json
import os
import shutil
import subprocess
import sys
import unittest

import requests

from kumo_harness import Gateway, copy_project, wait_for
from queue_backends import Sqs

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATE = os.path.join(HERE, "..", "..", "scripts", "ddb_migrate.py")


@unittest.skipIf(Sqs.missing, "SKIPPED: " + (Sqs.missing or ""))
class DynamoLayoutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import boto3
        cls.moto = Sqs()
        cls.moto.start("unused")
        cls.ddb = boto3.client("dynamodb", endpoint_url=cls.moto.endpoint, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def gateway(self, table):
        project = copy_project("todo")
        env = dict(Sqs.ENV)
        env["KUMO_STORE_TODOS"] = "dynamodb://%s?region=us-east-1&endpoint=%s" % (table, self.moto.endpoint)
        gw = Gateway(project, threads=1, env=env)
        self.addCleanup(shutil.rmtree, os.path.dirname(project), True)
        return gw

    def stop(self, gw):
        rc = gw.stop()
        err = gw.stderr()
        self.assertEqual(rc, 0, err[-3000:])
        self.assertNotIn("ERROR: AddressSanitizer", err)
        self.assertNotIn("runtime error:", err)

    def scan(self, table):
        return self.ddb.scan(TableName=table, ConsistentRead=True)["Items"]

    def test_text_as_s_over_several_partitions_listed_in_order(self):
        gw = self.gateway("todos-layout")
        try:
            ids = []
            for i in range(24):
                r = requests.post(gw.base + "/todos", json={"title": "todo %d" % i}, timeout=30)
                self.assertEqual(r.status_code, 201, r.text)
                ids.append(r.json()["id"])
            items = self.scan("todos-layout")
            self.assertEqual(len(items), 24)
            for it in items:
                self.assertIn("S", it["value"], it)          # text, not binary
                self.assertNotIn("value_b", it)
                self.assertNotIn("v", it)
                self.assertEqual(it["key"]["S"].encode(), it["sk"]["B"])
                self.assertEqual(json.loads(it["value"]["S"])["id"], it["key"]["S"])
                self.assertRegex(it["pk"]["S"], r"^todos#[0-9]{2}$")
            # 24 keys over 16 shards: at least 5 distinct partitions for any hash
            self.assertGreaterEqual(len({it["pk"]["S"] for it in items}), 5)
            # the merged listing, 7 per page: every todo once, in key order
            seen, cursor = [], None
            for _ in range(10):
                params = {"limit": 7}
                if cursor:
                    params["cursor"] = cursor
                page = requests.get(gw.base + "/todos", params=params, timeout=30).json()
                seen += [t["id"] for t in page["items"]]
                cursor = page["next"]
                if cursor is None:
                    break
            self.assertEqual(seen, sorted(ids))
        finally:
            self.stop(gw)

    def test_an_older_layout_is_refused_then_migrated(self):
        table = "todos-old"
        self.ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                    {"AttributeName": "sk", "AttributeType": "B"}],
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}])
        todo = {"id": "018f3a2b4c5d00007a1b2c3d", "title": "from before", "done": False,
                "created_at": "2026-11-23T09:30:00.123Z"}
        self.ddb.put_item(TableName=table, Item={"pk": {"S": "todos"}, "sk": {"B": todo["id"].encode()},
                                                 "v": {"B": json.dumps(todo).encode()}, "ver": {"N": "7"}})
        gw = self.gateway(table)
        try:
            r = requests.get(gw.base + "/todos/" + todo["id"], timeout=30)
            self.assertEqual(r.status_code, 503, r.text)
            # the handler's log line reaches kumo's output a moment after the answer
            said = "scripts/ddb_migrate.py todos-old todos"
            self.assertTrue(wait_for(lambda: said in gw.stderr() + gw.stdout(), 10), gw.stderr() + gw.stdout())
            self.assertIn("older kumo's layout", gw.stderr() + gw.stdout())
            env = dict(os.environ, **Sqs.ENV)
            p = subprocess.run([sys.executable, MIGRATE, table, "todos", "--endpoint", self.moto.endpoint],
                               capture_output=True, text=True, env=env, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("moved 1 items", p.stdout)
            # taken up without a restart
            r = requests.get(gw.base + "/todos/" + todo["id"], timeout=30)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual(r.json()["title"], "from before")
            (item,) = self.scan(table)
            self.assertRegex(item["pk"]["S"], r"^todos#[0-9]{2}$")
            self.assertEqual(json.loads(item["value"]["S"]), todo)
        finally:
            self.stop(gw)


if __name__ == "__main__":
    unittest.main()
