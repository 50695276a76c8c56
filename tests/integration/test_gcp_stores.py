"""The todo example with its kv store on the Firestore emulator, through the
default sandbox: a worker whose store is firestore:// gets the emulator's
address in its egress rules and the Google variables in its environment
(src/sandbox/egress.c, src/project/env.c), and the data lands in the
emulator as readable documents (docs/stores-gcp.md)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import requests

from kumo_harness import Gateway, copy_project, free_port

GCLOUD = shutil.which("gcloud")
PROJECT = "demo-kumo"


@unittest.skipUnless(GCLOUD, "SKIPPED: gcloud (the Google Cloud SDK, with its Firestore emulator) is not installed")
class FirestoreStoreTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.log = tempfile.TemporaryFile()
        # its own process group: gcloud's launcher leaves a Java child
        cls.emu = subprocess.Popen([GCLOUD, "emulators", "firestore", "start",
                                    "--host-port=127.0.0.1:%d" % cls.port],
                                   stdout=cls.log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(os.environ, CLOUDSDK_CORE_DISABLE_PROMPTS="1"))
        cls.base = "http://127.0.0.1:%d" % cls.port
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                requests.get(cls.base + "/", timeout=1)
                return
            except requests.RequestException:
                if cls.emu.poll() is not None:
                    break
                time.sleep(0.1)
        cls.tearDownClass()
        raise RuntimeError("the Firestore emulator did not start")

    @classmethod
    def tearDownClass(cls):
        try:
            os.killpg(cls.emu.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        cls.emu.wait(30)
        cls.log.close()

    def documents(self, collection):
        r = requests.get("%s/v1/projects/%s/databases/(default)/documents/%s" % (self.base, PROJECT, collection),
                         timeout=10)
        r.raise_for_status()
        return r.json().get("documents", [])

    def roundtrip(self, env, collection):
        project = copy_project("todo")
        gw = Gateway(project, threads=1, env=env)
        try:
            r = requests.post(gw.base + "/todos", json={"title": "stored in firestore"})
            self.assertEqual(r.status_code, 201, r.text + gw.stderr())
            todo = r.json()
            got = requests.get(gw.base + "/todos/" + todo["id"])
            self.assertEqual(got.status_code, 200, got.text)
            self.assertEqual(got.json()["title"], "stored in firestore")
            listed = requests.get(gw.base + "/todos")
            self.assertEqual(listed.status_code, 200, listed.text)
            self.assertIn(todo["id"], listed.text)
            self.assertIn("egress rules (connect only to the stores' servers", gw.stderr())
        finally:
            gw.stop()
        docs = self.documents(collection)
        names = [d["name"].rsplit("/", 1)[1] for d in docs]
        self.assertIn(todo["id"], names)  # the key as the document id, readable
        doc = docs[names.index(todo["id"])]
        self.assertIn("stored in firestore", doc["fields"]["value"]["stringValue"])  # JSON text: a string

    def test_endpoint_in_the_url(self):
        url = "firestore://todos1?project=%s&endpoint=%s" % (PROJECT, self.base)
        self.roundtrip({"KUMO_STORE_TODOS": url}, "todos1")

    def test_emulator_variable(self):
        # no endpoint=: the worker must get FIRESTORE_EMULATOR_HOST and
        # GOOGLE_CLOUD_PROJECT, and its egress rules the emulator's address
        env = {"KUMO_STORE_TODOS": "firestore://todos2", "FIRESTORE_EMULATOR_HOST": "127.0.0.1:%d" % self.port,
               "GOOGLE_CLOUD_PROJECT": PROJECT}
        self.roundtrip(env, "todos2")


if __name__ == "__main__":
    unittest.main()
