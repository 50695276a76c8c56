"""kumo up run by an ordinary user, as most developers run it: the
sandbox builds its namespaces inside a user namespace (no CAP_SYS_ADMIN),
skips what needs privilege (the pid namespace, a memory cgroup it cannot
write) and says so, and the functions serve. The hostile project checks
that the layers still hold. Needs root to switch to the user `nobody`
(runuser); skipped elsewhere."""
import os
import pwd
import shutil
import stat
import subprocess
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")


def open_to_all(path):
    """Lets another user into a test copy: its folders (and the temporary
    one it is in) traversable, its files writable, as a user's own
    project is to them."""
    os.chmod(os.path.dirname(path), 0o755)
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o777)
        for f in files:
            p = os.path.join(root, f)
            os.chmod(p, os.stat(p).st_mode | stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP |
                     stat.S_IROTH | stat.S_IWOTH)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("runuser"), "SKIPPED: needs root and runuser")
class UnprivilegedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            raise unittest.SkipTest("SKIPPED: no user 'nobody' here")
        if subprocess.run(["runuser", "-u", "nobody", "--", "test", "-x", KUMO]).returncode != 0:
            raise unittest.SkipTest("SKIPPED: the user 'nobody' cannot run %s (a folder on its path is closed)" % KUMO)
        cls.project_dir = copy_project("hostile", PROJECTS)
        open_to_all(cls.project_dir)
        cls.gw = Gateway(cls.project_dir, threads=1, prefix=("runuser", "-u", "nobody", "--"))

    @classmethod
    def tearDownClass(cls):
        cls.gw.stop()

    def get(self, route, **params):
        r = requests.get(self.gw.base + route, params=params, timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        return r

    def test_functions_serve(self):
        self.assertEqual(self.get("/ok").text, "fine")

    def test_report_says_what_ran_and_what_was_skipped(self):
        self.get("/ok")
        reports = [l["msg"] for l in self.gw.log_lines() if l.get("msg", "").startswith("sandbox: ")]
        self.assertTrue(reports, self.gw.stderr()[-2000:])
        self.assertIn("namespaces (user, mount, ipc, net)", reports[-1])
        self.assertIn("pid namespace (no privilege to create one)", reports[-1])
        self.assertIn("seccomp", reports[-1])

    def test_project_is_read_only_and_tmp_private(self):
        path = os.path.join(self.project_dir, "kumo.yaml")
        a = self.get("/write", path=path).json()
        self.assertFalse(a["ok"])
        self.assertIn(a["errno"], ("EROFS", "EACCES", "EPERM"))
        self.assertTrue(self.get("/tmp").json()["ok"])

    def test_seccomp_still_refuses_a_listening_socket(self):
        a = self.get("/listen").json()
        self.assertFalse(a["ok"])
        self.assertEqual(a["errno"], "EPERM")


if __name__ == "__main__":
    unittest.main()
