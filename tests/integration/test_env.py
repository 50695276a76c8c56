"""kumo.yaml's env: under kumo up (issue 17): workers get exactly the
declared variables (project < function < environment), secrets expanded
from kumo's environment and files, plus what kumo itself needs; the shell's
other variables never reach them, and a secret's value is never logged.
A unit's cflags: and pkg_config: reach its build (zlib, a real library).
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.request
import zlib

from kumo_harness import KUMO, Gateway, copy_project

PROJECTS = os.path.join(os.path.dirname(__file__), "projects")
TOKEN = "tok-3f9a1c77e2-not-for-logs"
SHELL_ONLY = "shell-only-value-2b81"


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, json.loads(r.read())


class EnvUnderKumoUp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.project_dir = copy_project("envvars", PROJECTS)
        cls.gw = Gateway(cls.project_dir, env={"ENVTEST_TOKEN": TOKEN, "ENVTEST_SHELL_ONLY": SHELL_ONLY,
                                               "PGPASSWORD": "not-a-postgres-project"})

    @classmethod
    def tearDownClass(cls):
        rc = cls.gw.stop()
        err = cls.gw.stderr()
        if rc != 0:
            raise AssertionError("kumo up exited with %d:\n%s" % (rc, err[-4000:]))
        if "ERROR: AddressSanitizer" in err or "runtime error:" in err:
            raise AssertionError("sanitizer report:\n" + err[-6000:])
        shutil.rmtree(os.path.dirname(cls.project_dir), ignore_errors=True)

    def test_declared_variables_reach_the_worker(self):
        status, env = get_json(self.gw.base + "/alpha")
        self.assertEqual(status, 200)
        self.assertEqual(env["GREETING"], "dev-hello")  # environments.dev.env wins
        self.assertEqual(env["SHARED"], "alpha")  # functions.alpha.env over env:
        self.assertEqual(env["ONLY_ALPHA"], "yes")
        self.assertEqual(env["COUNT"], "3")
        self.assertEqual(env["API_TOKEN"], TOKEN)  # ${env:ENVTEST_TOKEN}
        self.assertEqual(env["MULTI"], "line one\nline two")  # ${file:secret.txt}, its newline dropped
        self.assertTrue(env["KUMO_STORE_NOTES"].startswith("sqlite:"))

    def test_each_unit_gets_its_own(self):
        _, env = get_json(self.gw.base + "/beta")
        self.assertEqual(env["SHARED"], "project")
        self.assertNotIn("ONLY_ALPHA", env)
        self.assertEqual(env["GREETING"], "dev-hello")

    def test_nothing_else_of_the_shell(self):
        for path in ("/alpha", "/beta"):
            _, env = get_json(self.gw.base + path)
            allowed = {"GREETING", "SHARED", "ONLY_ALPHA", "COUNT", "API_TOKEN", "MULTI", "KUMO_STORE_NOTES",
                       # kumo's own needs (sanitizer builds, the library path)
                       "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS", "LD_LIBRARY_PATH",
                       "TZDIR"}
            self.assertLessEqual(set(env), allowed, path)
            for name in ("ENVTEST_SHELL_ONLY", "ENVTEST_TOKEN", "PATH", "HOME", "PGPASSWORD"):
                self.assertNotIn(name, env, path)
            self.assertFalse([k for k in env if k.startswith("KUMO__UNIT")], path)
            self.assertNotIn(SHELL_ONLY, json.dumps(env))

    def test_secret_never_logged(self):
        get_json(self.gw.base + "/alpha")
        # the start-up summary names each function's variables, never a value
        self.assertIn("env: GREETING, SHARED, COUNT, API_TOKEN (secret), MULTI (secret), ONLY_ALPHA\n",
                      self.gw.stdout())
        self.assertNotIn(TOKEN, self.gw.stderr())
        self.assertNotIn(TOKEN, self.gw.stdout())
        build = os.path.join(self.project_dir, ".kumo")
        for root, _, files in os.walk(build):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    self.assertNotIn(TOKEN.encode(), fh.read(), os.path.join(root, f))

    def test_zz_reload_takes_new_values(self):
        """A reload builds a new generation: its workers get kumo.yaml's new
        values (and a secret expanded again); then back as it was."""
        path = os.path.join(self.project_dir, "kumo.yaml")
        with open(path) as f:
            text = f.read()
        try:
            with open(path, "w") as f:
                f.write(text.replace("GREETING: dev-hello", "GREETING: reloaded"))
            r = subprocess.run([KUMO, "reload", "--admin-port", str(self.gw.admin_port)], capture_output=True,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            _, env = get_json(self.gw.base + "/alpha")
            self.assertEqual(env["GREETING"], "reloaded")
            self.assertEqual(env["API_TOKEN"], TOKEN)
        finally:
            with open(path, "w") as f:
                f.write(text)

    def test_pkg_config_library(self):
        status, body = get_json(self.gw.base + "/crc?s=hello")
        self.assertEqual(status, 200)
        self.assertEqual(body["crc32"], zlib.crc32(b"hello"))
        self.assertTrue(body["zlib"])
        self.assertTrue(body["expat"].startswith("expat_"))


class EnvRefusals(unittest.TestCase):
    """kumo.yaml mistakes about env: stop kumo up at their line, never start it."""

    def run_up(self, kumo_yaml, env=None, files=None):
        d = tempfile.mkdtemp(prefix="kumo-env-")
        try:
            src = os.path.join(PROJECTS, "envvars")
            shutil.copytree(os.path.join(src, "functions"), os.path.join(d, "functions"))
            shutil.copy(os.path.join(src, "openapi.yaml"), d)
            with open(os.path.join(d, "kumo.yaml"), "w") as f:
                f.write(kumo_yaml)
            e = {k: v for k, v in os.environ.items() if not k.startswith("ENVTEST_")}
            e.update(env or {})
            p = subprocess.run([KUMO, "up", d, "--port", "0", "--admin-port", "0"], env=e,
                               capture_output=True, text=True, timeout=60)
            return p.returncode, p.stderr
        finally:
            shutil.rmtree(d, ignore_errors=True)

    BASE = ("name: bad\napi: openapi.yaml\nfunctions:\n  alpha: {sources: [functions/dump.c], "
            "cflags: [-DDUMP=dump_alpha]}\n")

    def test_literal_credential(self):
        rc, err = self.run_up(self.BASE + "env:\n  DB_PASSWORD: hunter2\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("kumo.yaml:6:", err)
        self.assertIn("${env:DB_PASSWORD}", err)
        self.assertNotIn("hunter2", err)

    def test_unset_reference(self):
        rc, err = self.run_up(self.BASE + "env:\n  API_TOKEN: \"${env:ENVTEST_MISSING}\"\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("kumo.yaml:6:", err)
        self.assertIn("ENVTEST_MISSING", err)

    def test_reserved_and_bad_names(self):
        rc, err = self.run_up(self.BASE + "env:\n  KUMO_STORE_X: a\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("kumo.yaml:6:3", err)
        rc, err = self.run_up(self.BASE + "env:\n  1BAD: a\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("not a variable name", err)

    def test_unknown_package(self):
        rc, err = self.run_up("name: bad\napi: openapi.yaml\nfunctions:\n  crc: {sources: [functions/crc.c], "
                              "pkg_config: [no-such-library-kumo]}\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("kumo.yaml:4:", err)
        self.assertIn("pkg_config", err)

    def test_bad_flag(self):
        rc, err = self.run_up("name: bad\napi: openapi.yaml\nfunctions:\n  crc: {sources: [functions/crc.c], "
                              "cflags: [-o, /tmp/x]}\n")
        self.assertNotEqual(rc, 0)
        self.assertIn("kumo.yaml:4:", err)


if __name__ == "__main__":
    unittest.main()
