"""The todo example with its kv store on a real redis-server, through the
default sandbox: workers of a project with a remote store keep the network
(and only client sockets); the data lands in Redis."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import requests

from kumo_harness import Gateway, copy_project, free_port

REDIS = shutil.which("redis-server")


@unittest.skipUnless(REDIS, "SKIPPED: redis-server is not installed (scripts/install-deps.sh installs it)")
class RemoteStoreTest(unittest.TestCase):
    def setUp(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="kumo-redis-")
        self.redis = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--dir", self.dir],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.cli("PING").strip() == "PONG":
                break
            time.sleep(0.05)
        else:
            self.fail("redis-server did not start")

    def tearDown(self):
        self.redis.terminate()
        self.redis.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return p.stdout

    def test_todo_on_redis_with_the_sandbox_on(self):
        project = copy_project("todo")
        url = "redis://127.0.0.1:%d/0" % self.port
        gw = Gateway(project, threads=1, env={"KUMO_STORE_TODOS": url})
        try:
            r = requests.post(gw.base + "/todos", json={"title": "stored in redis"})
            self.assertEqual(r.status_code, 201, r.text)
            todo = r.json()
            got = requests.get(gw.base + "/todos/" + todo["id"])
            self.assertEqual(got.status_code, 200, got.text)
            self.assertEqual(got.json()["title"], "stored in redis")
            keys = self.cli("--scan", "--pattern", "*todos*")
            self.assertIn(todo["id"], keys)
            # an empty net namespace all the same, and the egress rules let
            # the worker reach its store only (pid: as root, see test_sandbox)
            self.assertRegex(gw.stderr(), r"namespaces \(mount, (pid, )?ipc, net\)")
            self.assertIn("egress rules (connect only to the stores' servers", gw.stderr())
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
