"""The todo example with its three stores on Azure Storage (Azurite, from
npm, in memory on free loopback ports), through the default sandbox: the
workers get the Azure credentials and may reach the three endpoints (egress
rules), a todo lands in Table storage, its attachment in Blob storage and
its notification in Queue storage; without credentials `kumo up` refuses
to start, naming the variables to set. Azurite is installed with `npm ci`
into tests/emulators/azure when missing (tests/conformance/azure.sh)."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import requests

from kumo_harness import KUMO, SOURCE, Gateway, copy_project, free_port

AZ_DIR = os.path.join(SOURCE, "tests", "emulators", "azure")
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def install():
    """npm ci through azure.sh's locked installer; '' or why it failed."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are not installed"
    p = subprocess.run(["sh", "-c", 'here="$1/tests/conformance"; . "$here/azure.sh"; azurite_install', "sh", SOURCE],
                       capture_output=True, text=True, timeout=900)
    return "" if p.returncode == 0 else p.stderr.strip() or "npm ci failed"


class AzureStoresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        why = install()
        if why:
            raise unittest.SkipTest("SKIPPED: Azurite cannot be installed: " + why)
        cls.dir = tempfile.mkdtemp(prefix="kumo-azurite-")
        cls.ports = [free_port(), free_port(), free_port()]
        cls.log = open(os.path.join(cls.dir, "azurite.log"), "w")
        cls.azurite = subprocess.Popen(
            [os.path.join(AZ_DIR, "node_modules", ".bin", "azurite"), "--silent", "--inMemoryPersistence",
             "--skipApiVersionCheck", "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost",
             "127.0.0.1", "--blobPort", str(cls.ports[0]), "--queuePort", str(cls.ports[1]), "--tablePort",
             str(cls.ports[2])],
            stdout=subprocess.DEVNULL, stderr=cls.log)
        deadline = time.time() + 60
        up = 0
        while time.time() < deadline and up < 3:
            up = 0
            for p in cls.ports:
                try:
                    requests.get("http://127.0.0.1:%d/" % p, timeout=1)
                    up += 1
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        if up < 3:
            cls.tearDownClass()
            raise AssertionError("Azurite did not start")
        ep = ["http://127.0.0.1:%d" % p for p in cls.ports]
        cls.urls = {
            "KUMO_STORE_TODOS": "aztable://devstoreaccount1/todos?endpoint=" + ep[2],
            "KUMO_STORE_ATTACHMENTS": "azblob://devstoreaccount1/attachments?endpoint=" + ep[0],
            "KUMO_STORE_NOTIFICATIONS": "azqueue://devstoreaccount1/notifications?endpoint=" + ep[1],
        }

    @classmethod
    def tearDownClass(cls):
        cls.azurite.kill()  # in memory: nothing to flush
        cls.azurite.wait(10)
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_todo_on_azure_with_the_sandbox_on(self):
        project = copy_project("todo")
        gw = Gateway(project, threads=1, env=dict(self.urls, AZURE_STORAGE_KEY=KEY))
        try:
            r = requests.post(gw.base + "/todos", json={"title": "stored in azure"})
            self.assertEqual(r.status_code, 201, r.text)
            todo = r.json()
            got = requests.get(gw.base + "/todos/" + todo["id"])
            self.assertEqual(got.status_code, 200, got.text)
            self.assertEqual(got.json()["title"], "stored in azure")
            listed = requests.get(gw.base + "/todos").json()
            self.assertEqual([t["id"] for t in listed["items"]], [todo["id"]])
            n = requests.get(gw.base + "/notifications").json()
            self.assertEqual([i["event"] for i in n["items"]], ["created"], n)
            self.assertIn("kv 'todos' -> aztable://devstoreaccount1/todos", gw.stdout())
            self.assertIn("egress rules (connect only to the stores' servers", gw.stderr())
        finally:
            self.assertEqual(gw.stop(), 0, gw.stderr()[-3000:])
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)

    def test_no_credentials_refused_at_start(self):
        project = copy_project("todo")
        env = {k: v for k, v in os.environ.items()
               if k not in ("AZURE_STORAGE_KEY", "AZURE_STORAGE_CONNECTION_STRING", "IDENTITY_ENDPOINT")}
        env.update(self.urls)
        try:
            p = subprocess.run([KUMO, "up", project, "--port", str(free_port()), "--admin-port", str(free_port())],
                               capture_output=True, text=True, timeout=120, env=env)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("AZURE_STORAGE_KEY", p.stderr + p.stdout)
            self.assertIn("todos", p.stderr + p.stdout)
        finally:
            shutil.rmtree(os.path.dirname(project), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
