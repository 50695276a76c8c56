"""Where stores live (kumo.yaml environments:, KUMO_STORE_<NAME>, --env).

examples/todo is copied with a kumo.yaml whose environments put the kv
store "todos" in SQLite files outside the project: `kumo up --env prod`
must write there, KUMO_STORE_TODOS must beat the environment, plain
`kumo up` takes "dev", an unknown --env and a store that cannot be opened
stop kumo up with exit status 1 and say why (the store's name, its URL
with the password hidden, and where to fix it in kumo.yaml).

The copies turn the sandbox off: a sandboxed worker gets a private /tmp
and sees only the project's .kumo/data of the host's files, so the store
files elsewhere (in this test's temporary directory) would not be the
ones it writes. See docs/sandbox.md.
"""
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import unittest

import requests

from kumo_harness import KUMO, SOURCE, Gateway, copy_project

YAML = """\
name: todo
api: openapi.yaml
defaults: {sandbox: false}
functions:
  todos: {sources: [functions/todos.c]}
# The queue stays at its default place: createTodo sends its notification
# before it writes (examples/todo), so it needs one.
stores: {kv: [todos], queue: [notifications]}
environments:
  dev:
    stores: {todos: "sqlite:%(dev)s"}
  prod:
    target: aws
    region: eu-west-1
    stores:
      todos: "sqlite:%(prod)s"
  broken:
    stores:
      todos: "%(broken)s"
"""


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def todos_in(db):
    """Every value of the SQLite kv file `db`, as text, from every table."""
    con = sqlite3.connect(db)
    try:
        found = []
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for t in tables:
            for row in con.execute('SELECT * FROM "%s"' % t.replace('"', '""')):
                found += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row]
        return "\n".join(found)
    finally:
        con.close()


class StoresConfigTest(unittest.TestCase):
    def setUp(self):
        self.project = copy_project("todo")
        self.tmp = os.path.dirname(self.project)
        self.elsewhere = tempfile.mkdtemp(prefix="kumo-stores-elsewhere-")
        self.paths = {
            "dev": os.path.join(self.elsewhere, "dev", "kv.db"),
            "prod": os.path.join(self.elsewhere, "prod", "kv.db"),
            "broken": "sqlite:/proc/nope/kv.db",
        }
        self.write_yaml()
        self.gw = None

    def tearDown(self):
        if self.gw is not None:
            rc = self.gw.stop()
            err = self.gw.stderr()
            self.assertEqual(rc, 0, err[-4000:])
            self.assertNotIn("ERROR: AddressSanitizer", err)
            self.assertNotIn("runtime error:", err)
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.elsewhere, ignore_errors=True)

    def write_yaml(self):
        with open(os.path.join(self.project, "kumo.yaml"), "w") as f:
            f.write(YAML % self.paths)

    def yaml_position(self, env):
        """line:column of environments.ENV.stores.todos's URL in the copy."""
        with open(os.path.join(self.project, "kumo.yaml")) as f:
            lines = f.read().splitlines()
        inside = False
        for i, line in enumerate(lines, 1):
            if line == "  %s:" % env:
                inside = True
            elif inside and "todos:" in line:
                col = line.index('"') + 1
                return "%d:%d" % (i, col)
        raise AssertionError("no todos URL for %s" % env)

    def run_up(self, *args, env=None, timeout=60):
        e = dict(os.environ)
        e.pop("KUMO_STORE_TODOS", None)
        e.update(env or {})
        return subprocess.run([KUMO, "up", self.project, "--port", "0", "--admin-port", "-1", *args],
                              capture_output=True, text=True, env=e, timeout=timeout)

    def create(self, title):
        r = requests.post(self.gw.base + "/todos", json={"title": title})
        self.assertEqual(r.status_code, 201, r.text)
        return r.json()

    def test_env_prod_writes_to_its_url(self):
        self.gw = Gateway(self.project, threads=1, extra_args=("--env", "prod"),
                          env={"KUMO_STORE_TODOS": ""})
        todo = self.create("stored in prod")
        self.assertIn("store    kv 'todos' -> sqlite:%s" % self.paths["prod"], self.gw.stdout())
        self.assertTrue(os.path.exists(self.paths["prod"]))
        self.assertIn(todo["id"], todos_in(self.paths["prod"]))
        self.assertFalse(os.path.exists(self.paths["dev"]), "dev's file was created too")
        self.assertFalse(os.path.exists(os.path.join(self.project, ".kumo", "data", "kv.db")),
                         "the embedded default was used too")

    def test_dev_is_the_default_environment(self):
        self.gw = Gateway(self.project, threads=1, env={"KUMO_STORE_TODOS": ""})
        todo = self.create("stored in dev")
        self.assertIn(todo["id"], todos_in(self.paths["dev"]))
        self.assertFalse(os.path.exists(self.paths["prod"]))

    def test_variable_beats_the_environment(self):
        other = os.path.join(self.elsewhere, "from-env", "kv.db")
        self.gw = Gateway(self.project, threads=1, extra_args=("--env", "prod"),
                          env={"KUMO_STORE_TODOS": "sqlite:" + other})
        todo = self.create("stored where the variable says")
        self.assertIn("store    kv 'todos' -> sqlite:%s" % other, self.gw.stdout())
        self.assertIn(todo["id"], todos_in(other))
        self.assertFalse(os.path.exists(self.paths["prod"]))

    def test_reload_keeps_the_environment(self):
        """A store added by a reload is placed by the same --env; the one in
        use stays where it is even when kumo.yaml moves it."""
        self.gw = Gateway(self.project, threads=1, extra_args=("--env", "prod"),
                          env={"KUMO_STORE_TODOS": ""})
        self.create("before the reload")
        extra = os.path.join(self.elsewhere, "prod", "extra.db")
        moved = os.path.join(self.elsewhere, "moved", "kv.db")
        with open(os.path.join(self.project, "kumo.yaml")) as f:
            text = f.read()
        text = text.replace("stores: {kv: [todos], queue", "stores: {kv: [todos, extra], queue")
        text = text.replace('      todos: "sqlite:%s"\n' % self.paths["prod"],
                            '      todos: "sqlite:%s"\n      extra: "sqlite:%s"\n' % (moved, extra))
        with open(os.path.join(self.project, "kumo.yaml"), "w") as f:
            f.write(text)
        r = requests.post(self.gw.admin + "/reload", timeout=120)
        self.assertEqual(r.status_code, 200, r.text)
        logs = self.gw.stderr()
        self.assertIn("new store kv 'extra' -> sqlite:%s" % extra, logs)
        self.assertIn("a reload does not move a store", logs)
        todo = self.create("after the reload")
        self.assertIn(todo["id"], todos_in(self.paths["prod"]))
        self.assertFalse(os.path.exists(moved))

    def test_unknown_env_lists_the_defined_ones(self):
        p = self.run_up("--env", "nope")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("environment 'nope' is not defined; defined: dev, prod, broken", p.stderr)
        self.assertNotIn("serving", p.stdout)

    def test_env_without_a_name_is_a_usage_error(self):
        p = self.run_up("--env")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--env takes the name of an environment", p.stderr)

    def test_store_that_cannot_be_opened_stops_kumo_up(self):
        p = self.run_up("--env", "broken")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("store 'todos' (sqlite:/proc/nope/kv.db) cannot be", p.stderr)
        self.assertIn("fix environments.broken.stores.todos in %s/kumo.yaml:%s"
                      % (self.project, self.yaml_position("broken")), p.stderr)
        self.assertNotIn("serving", p.stdout)

    def test_bad_variable_is_named(self):
        p = self.run_up(env={"KUMO_STORE_TODOS": "sqlite:/proc/nope/kv.db"})
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("store 'todos' (sqlite:/proc/nope/kv.db) cannot be", p.stderr)
        self.assertIn("fix KUMO_STORE_TODOS", p.stderr)

    def test_blob_and_queue_stores_are_placed_and_checked(self):
        with open(os.path.join(self.project, "kumo.yaml")) as f:
            text = f.read()
        with open(os.path.join(self.project, "kumo.yaml"), "w") as f:
            f.write(text.replace("stores: {kv: [todos], queue: [notifications]}",
                                 "stores: {kv: [todos], blob: [files], queue: [notifications, jobs]}"))
        clean = {"KUMO_STORE_TODOS": "", "KUMO_STORE_FILES": "", "KUMO_STORE_JOBS": ""}
        p = self.run_up("--env", "prod", env=dict(clean, KUMO_STORE_FILES="file:/proc/nope/blob"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("store 'files' (file:/proc/nope/blob) cannot be", p.stderr)
        self.assertIn("fix KUMO_STORE_FILES", p.stderr)
        p = self.run_up("--env", "prod", env=dict(clean, KUMO_STORE_JOBS="sqlite:/proc/nope/queue.db"))
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("store 'jobs' (sqlite:/proc/nope/queue.db) cannot be", p.stderr)
        self.gw = Gateway(self.project, threads=1, extra_args=("--env", "prod"), env=clean)
        out = self.gw.stdout()
        data = os.path.join(os.path.realpath(self.project), ".kumo", "data")
        self.assertIn("store    kv 'todos' -> sqlite:%s" % self.paths["prod"], out)
        self.assertIn("store    blob 'files' -> file:%s/blob" % data, out)
        self.assertIn("store    queue 'jobs' -> sqlite:%s/queue.db" % data, out)

    def test_unreachable_redis_names_the_store_and_hides_the_password(self):
        self.paths["broken"] = "redis://user:hunter2@127.0.0.1:%d/0" % closed_port()
        self.write_yaml()
        p = self.run_up("--env", "broken", timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"store 'todos' \(redis://user:\*\*\*\*@127\.0\.0\.1:\d+/0\) cannot be reached: ")
        self.assertIn("start the server or fix environments.broken.stores.todos in", p.stderr)
        self.assertNotIn("hunter2", p.stderr + p.stdout)


if __name__ == "__main__":
    unittest.main()
