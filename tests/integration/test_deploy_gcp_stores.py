"""kumo deploy --target gcp provisions the stores the environment places
nowhere (issue 18): for examples/todo, the Firestore database with its TTL
policy, the bucket, the Pub/Sub topics and pull subscription with its
dead-letter topic, a service account of the service's own with only the
roles on those, and the stores' URLs as plain env; deploy.sh passes
`bash -n` and runs against a stand-in gcloud that records every argv; a
store URL with a password stays a Secret Manager reference and is in no
file; a store listed as embedded is left embedded; kumo destroy asks before
deleting the provisioned stores, deletes them with --yes and keeps them
with --keep-data."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import yaml

from kumo_harness import KUMO, copy_project

PROJECT = "demo-project"
PASSWORD = "pw-5be1-never-in-a-file"

FAKE_GCLOUD = """#!/usr/bin/env python3
import json, os, sys
a = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + a) + "\\n")
if a[:3] == ["run", "services", "describe"]:
    print("https://todo-todos.example.test")
elif a[:2] == ["projects", "describe"]:
    print("123456789")
elif "describe" in a[:4]:
    sys.exit(1)  # nothing exists yet: every describe-or-create creates
"""

ENVIRONMENTS = """
environments:
  prod:
    stores: {notifications: "redis://:%s@cache.internal:6379/0"}
  lean: {embedded: [attachments]}
""" % PASSWORD


class GcpStoresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("todo")
        with open(os.path.join(cls.dir, "kumo.yaml"), "a") as f:
            f.write(ENVIRONMENTS)
        cls.env = dict(os.environ, GOOGLE_CLOUD_PROJECT=PROJECT, ASAN_OPTIONS="detect_leaks=0")
        cls.out = os.path.join(cls.dir, ".kumo", "deploy", "gcp")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def kumo(self, *args, env=None):
        return subprocess.run([KUMO, *args, self.dir], capture_output=True, text=True, env=env or self.env,
                              timeout=300, stdin=subprocess.DEVNULL)

    def deploy(self, *args, env=None):
        r = self.kumo("deploy", "--target", "gcp", *args, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def read(self, name):
        with open(os.path.join(self.out, name)) as f:
            return f.read()

    def service(self):
        return yaml.safe_load(self.read("service-todos.yaml"))

    def sa(self):
        return self.service()["spec"]["template"]["spec"]["serviceAccountName"]

    def env_of(self):
        c = self.service()["spec"]["template"]["spec"]["containers"][0]
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}

    def test_provisioning_roles_and_urls(self):
        r = self.deploy("--dry-run")
        sh = self.read("deploy.sh")
        self.assertEqual(subprocess.run(["bash", "-n", os.path.join(self.out, "deploy.sh")]).returncode, 0)
        self.assertNotIn("embedded", r.stdout + r.stderr)
        # the store URLs, plain values (configuration, not secrets)
        self.assertEqual(self.env_of(), {
            "KUMO_STORE_TODOS": "firestore://todos?project=%s&database=kumo-todo" % PROJECT,
            "KUMO_STORE_ATTACHMENTS": "gs://kumo-todo-attachments",
            "KUMO_STORE_NOTIFICATIONS": "pubsub://kumo-todo-notifications?project=%s&max_receives=5" % PROJECT})
        # its own service account, not the compute default
        sa = self.sa()
        self.assertRegex(sa, r"^k-todo-todos-[0-9a-f]{4}@demo-project\.iam\.gserviceaccount\.com$")
        sa_sh = sa.replace(PROJECT, "$PROJECT")
        self.assertIn("gcloud iam service-accounts create %s " % sa.split("@")[0], sh)
        # what the stores need
        for want in [
            "gcloud firestore databases create --database=kumo-todo --location=\"$REGION\" --type=firestore-native",
            "gcloud firestore fields ttls update expires --collection-group=todos --enable-ttl --database=kumo-todo",
            "gcloud storage buckets create gs://kumo-todo-attachments --location=\"$REGION\"",
            "gcloud pubsub topics create kumo-todo-notifications --project",
            "gcloud pubsub topics create kumo-todo-notifications-dead --project",
            "gcloud pubsub topics create kumo-todo-notifications-delay --project",
            "gcloud pubsub subscriptions create kumo-todo-notifications --topic=kumo-todo-notifications "
            "--ack-deadline=30 --dead-letter-topic=kumo-todo-notifications-dead --max-delivery-attempts=100",
        ]:
            self.assertIn(want, sh)
        # only these roles, each for the service's account, each on its resource
        grants = [l for l in sh.splitlines() if "add-iam-policy-binding" in l and sa_sh in l]
        roles = sorted({l.split("--role=")[1].split()[0] for l in grants})
        self.assertEqual(roles, ["roles/datastore.user", "roles/pubsub.publisher", "roles/pubsub.subscriber",
                                 "roles/storage.objectUser"])
        ds = [l for l in grants if "roles/datastore.user" in l]
        self.assertEqual(len(ds), 1)
        self.assertIn("resource.name=='projects/$PROJECT/databases/kumo-todo'", ds[0])
        self.assertIn("gcloud storage buckets add-iam-policy-binding gs://kumo-todo-attachments", sh)
        self.assertIn('gcloud pubsub subscriptions add-iam-policy-binding kumo-todo-notifications '
                      '--member="serviceAccount:%s" --role=roles/pubsub.subscriber' % sa_sh, sh)
        self.assertNotRegex(sh, r"roles/(editor|owner|pubsub\.editor|pubsub\.admin|storage\.admin|datastore\.owner)")
        # the account exists before anything is granted to it or runs as it
        self.assertLess(sh.index("service-accounts create"), sh.index("roles/datastore.user"))
        self.assertLess(sh.index("roles/datastore.user"), sh.index("gcloud run services replace"))

    def test_deploy_sh_runs_against_a_recording_gcloud(self):
        self.deploy("--dry-run")  # builds the image once
        bin_dir = tempfile.mkdtemp(prefix="kumo-fake-gcloud-")
        try:
            with open(os.path.join(bin_dir, "gcloud"), "w") as f:
                f.write(FAKE_GCLOUD)
            with open(os.path.join(bin_dir, "skopeo"), "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            for tool in ("gcloud", "skopeo"):
                os.chmod(os.path.join(bin_dir, tool), 0o755)
            log = os.path.join(bin_dir, "log")
            env = dict(self.env, PATH=bin_dir + os.pathsep + os.environ["PATH"], FAKE_LOG=log)
            r = self.deploy(env=env)
            with open(log) as f:
                calls = [json.loads(l) for l in f]
            def index(prefix):
                for i, c in enumerate(calls):
                    if c[:len(prefix)] == prefix:
                        return i
                self.fail("no call %s in:\n%s" % (prefix, "\n".join(map(str, calls))))
            email = self.sa()
            # the condition reached gcloud as one argument, the project filled in
            cond = [c for c in calls if c[:2] == ["gcloud", "projects"] and "roles/datastore.user" in " ".join(c)]
            self.assertEqual(len(cond), 1, calls)
            self.assertIn("--condition=expression=resource.name=='projects/%s/databases/kumo-todo',title=kumo-todo"
                          % PROJECT, cond[0])
            self.assertIn("--member=serviceAccount:%s" % email, cond[0])
            self.assertLess(index(["gcloud", "iam", "service-accounts", "create"]), index(["gcloud", "projects",
                                                                                          "add-iam-policy-binding"]))
            self.assertLess(index(["gcloud", "firestore", "databases", "create"]),
                            index(["gcloud", "run", "services", "replace"]))
            self.assertLess(index(["gcloud", "pubsub", "subscriptions", "create", "kumo-todo-notifications"]),
                            index(["gcloud", "run", "services", "replace"]))
            self.assertIn("API: https://", r.stdout)
        finally:
            shutil.rmtree(bin_dir, ignore_errors=True)

    def test_a_secret_store_is_referenced_not_provisioned(self):
        env = dict(self.env, KUMO_STORE_NOTIFICATIONS="redis://:%s@cache.internal:6379/0" % PASSWORD)
        r = self.deploy("--dry-run", "--env", "prod", env=env)
        e = self.env_of()
        self.assertEqual(e["KUMO_STORE_NOTIFICATIONS"],
                         {"secretKeyRef": {"name": "kumo-todo-stores-notifications", "key": "latest"}})
        self.assertTrue(e["KUMO_STORE_TODOS"].startswith("firestore://todos?"))
        sh = self.read("deploy.sh")
        self.assertNotIn("pubsub topics create kumo-todo-notifications", sh)
        # the secret is readable by the service's own account
        self.assertIn("gcloud secrets add-iam-policy-binding kumo-todo-stores-notifications "
                      "--member=\"serviceAccount:%s\"" % self.sa().replace(PROJECT, "$PROJECT"), sh)
        for name in os.listdir(self.out):
            with open(os.path.join(self.out, name), errors="replace") as f:
                self.assertNotIn(PASSWORD, f.read(), name)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)

    def test_a_store_listed_embedded_stays_embedded(self):
        r = self.deploy("--dry-run", "--env", "lean")
        self.assertIn("store 'attachments' keeps its embedded default", r.stdout)
        self.assertNotIn("KUMO_STORE_ATTACHMENTS", self.env_of())
        sh = self.read("deploy.sh")
        self.assertNotIn("gs://kumo-todo-attachments", sh)
        self.assertIn("gcloud firestore databases create --database=kumo-todo", sh)

    def test_destroy_asks_then_deletes_or_keeps(self):
        r = self.kumo("destroy", "--target", "gcp")
        self.assertNotEqual(r.returncode, 0)
        for want in ["kv store 'todos': the collection todos of the Firestore database kumo-todo",
                     "blob store 'attachments': the bucket kumo-todo-attachments and every object in it",
                     "queue store 'notifications': the Pub/Sub topic kumo-todo-notifications",
                     "--yes", "--keep-data"]:
            self.assertIn(want, r.stderr)
        r = self.kumo("destroy", "--target", "gcp", "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        sh = self.read("destroy.sh")
        self.assertEqual(subprocess.run(["bash", "-n", os.path.join(self.out, "destroy.sh")]).returncode, 0)
        for want in ["gcloud firestore databases delete --database=kumo-todo",
                     "gcloud storage rm --recursive gs://kumo-todo-attachments",
                     "gcloud pubsub subscriptions delete kumo-todo-notifications ",
                     "gcloud pubsub topics delete kumo-todo-notifications-dead ",
                     "gcloud iam service-accounts delete", "--role=roles/datastore.user --all"]:
            self.assertIn(want, sh)
        r = self.kumo("destroy", "--target", "gcp", "--dry-run", "--keep-data")
        self.assertEqual(r.returncode, 0, r.stderr)
        sh = self.read("destroy.sh")
        self.assertNotIn("firestore databases delete", sh)
        self.assertNotIn("gcloud storage rm", sh)
        self.assertNotIn("pubsub topics delete kumo-todo-notifications", sh)
        self.assertIn("# kept (--keep-data): blob store attachments, the bucket kumo-todo-attachments", sh)
        self.assertIn("gcloud iam service-accounts delete", sh)


if __name__ == "__main__":
    unittest.main()
