"""kumo test: a project's C test files (tests/NAME.c) built against
<kumo_test.h> and run in process against its handlers. Passing tests pass;
a failing assertion makes kumo test exit 1 and names the test file's line;
a crash, a hang (--timeout), a response that breaks the document and a test
file that does not compile each fail with what happened; every test gets
fresh stores; --filter picks tests. The project is the crud template of
kumo init (itself tested in test_init.py)."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from kumo_harness import KUMO, copy_project


def run(*args):
    env = dict(os.environ)
    # a test crashes on purpose: let SIGSEGV kill its process as it would
    # without sanitizers, so kumo test (not ASan) reports it
    env["ASAN_OPTIONS"] = "detect_leaks=1:handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0"
    return subprocess.run([KUMO, *args], capture_output=True, text=True, timeout=300, env=env)


TESTS = r"""#include <kumo_test.h>

KUMO_TEST(first_creates)
{
    kumo_test_response *r = kumo_test_post_json(t, "/items", "{\"name\":\"a\"}");
    KUMO_ASSERT_STATUS(r, 201);
}

KUMO_TEST(second_sees_empty_stores)
{
    kumo_test_response *r = kumo_test_get(t, "/items");
    KUMO_ASSERT_INT_EQ(json_array_size(kumo_test_json_at(r, "/items")), 0);
}

KUMO_TEST(wrong_status)
{
    printf("printed by the test\n");
    kumo_test_response *r = kumo_test_get(t, "/items/0123456789abcdef");
    KUMO_ASSERT_STATUS(r, 200); /* line 19: it is 404 */
}

KUMO_TEST(crashes)
{
    kumo_test_get(t, "/items");
    *(volatile int *)0 = 1;
}

KUMO_TEST(validation_first)
{
    kumo_test_request *rq = kumo_test_new(t, "GET", "/items");
    kumo_test_query(rq, "limit", "1000");
    KUMO_ASSERT_STATUS(kumo_test_send(rq), 400);
}
"""


class TestKumoTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kumo-ktest-")
        cls.dir = os.path.join(cls.tmp, "p")
        r = run("init", cls.dir, "--template", "crud")
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(cls.dir, "tests", "more_test.c"), "w") as f:
            f.write(TESTS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def line_of(self, out, name):
        m = re.search(r"^(ok  |FAIL) tests/\S+:\d+ %s \(\d+ ms\)$" % name, out, re.M)
        self.assertIsNotNone(m, "no line for %s in:\n%s" % (name, out))
        return m.group(1).strip()

    def test_a_run(self):
        r = run("test", self.dir)
        out = r.stdout
        self.assertEqual(r.returncode, 1, out + r.stderr)
        self.assertIn("kumo test: 2 of 8 tests failed", r.stderr)
        self.assertRegex(out, r"(?m)^6 passed, 2 failed \(")
        for name in ("starts_empty", "create_read_delete", "refuses_a_bad_item", "first_creates",
                     "second_sees_empty_stores", "validation_first"):
            self.assertEqual(self.line_of(out, name), "ok", out)
        for name in ("wrong_status", "crashes"):
            self.assertEqual(self.line_of(out, name), "FAIL", out)
        # the failure names the assertion's file:line, the answer, and what the test printed
        self.assertIn("tests/more_test.c:19: expected status 200, got 404", out)
        self.assertIn("printed by the test", out)
        self.assertRegex(out, r"tests/more_test.c:22: crashed: signal 11")
        self.assertIn("after the last request, tests/more_test.c:24: GET /items", out)

    def test_filter(self):
        r = run("test", self.dir, "--filter", "empty")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^2 passed, 0 failed \(")
        r = run("test", self.dir, "--filter", "no-such-test")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no test to run", r.stderr)

    def test_usage(self):
        self.assertEqual(run("test", self.dir, "--timeout", "0").returncode, 2)
        self.assertEqual(run("test", self.dir, "--nope").returncode, 2)
        r = run("test", self.dir, "--env", "nope")  # kumo.yaml has no environments
        self.assertEqual(r.returncode, 1)
        self.assertIn("environment 'nope' is not defined", r.stderr)


class TestTodoExample(unittest.TestCase):
    def test_todo_tests_pass(self):
        # examples/todo's own tests: kv, blob and queue stores, pages, headers
        d = copy_project("todo")
        self.addCleanup(shutil.rmtree, os.path.dirname(d), ignore_errors=True)
        r = run("test", d)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^5 passed, 0 failed \(")
        self.assertFalse(os.path.exists(os.path.join(d, ".kumo", "data")))  # the tests' stores were elsewhere


class TestKumoTestProjects(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kumo-ktest-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.dir = os.path.join(self.tmp, "p")
        r = run("init", self.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def write(self, rel, text):
        with open(os.path.join(self.dir, rel), "w") as f:
            f.write(text)

    def test_response_breaking_the_document(self):
        # the handler answers a status openapi.yaml does not declare
        path = os.path.join(self.dir, "functions", "hello.c")
        with open(path) as f:
            src = f.read()
        self.write("functions/hello.c", src.replace("kumo_response_json(res, 200,", "kumo_response_json(res, 203,"))
        r = run("test", self.dir)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("tests/hello_test.c:11: the response of hello (status 203) breaks the API's contract", r.stdout)
        self.assertIn("203 is not a declared response", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^1 passed, 2 failed \(")

    def test_hang(self):
        self.write("tests/hang_test.c", "#include <kumo_test.h>\nKUMO_TEST(hangs)\n{\n"
                   "    kumo_test_get(t, \"/hello\");\n    for (;;)\n        ;\n}\n")
        r = run("test", self.dir, "--filter", "hangs", "--timeout", "2")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("tests/hang_test.c:2: did not finish in 2 s (killed", r.stdout)
        # (during it only on a machine too slow to answer in 2 s)
        self.assertRegex(r.stdout, r"(after the last request,|during the request) tests/hang_test.c:4: GET /hello")
        self.assertRegex(r.stdout, r"(?m)^0 passed, 1 failed \(")

    def test_compile_error(self):
        self.write("tests/broken_test.c", "#include <kumo_test.h>\nKUMO_TEST(x) { this is not C }\n")
        r = run("test", self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("tests/broken_test.c:2:", r.stderr)  # the compiler's message
        self.assertIn("tests/broken_test.c did not compile", r.stderr)

    def test_no_tests(self):
        shutil.rmtree(os.path.join(self.dir, "tests"))
        r = run("test", self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("has no test file", r.stderr)

    def test_unknown_event(self):
        self.write("tests/ev_test.c", "#include <kumo_test.h>\nKUMO_TEST(ev)\n{\n"
                   "    kumo_test_event(t, \"nope\", NULL, 0, NULL);\n}\n")
        r = run("test", self.dir, "--filter", "ev")
        self.assertEqual(r.returncode, 1)
        self.assertIn("tests/ev_test.c:4: kumo_test_event: kumo.yaml has no event 'nope' (its events: none)", r.stdout)


class TestMockedService(unittest.TestCase):
    """A service with no URL in the environment is served by a kumo mock
    child under kumo test, as under kumo up: the handler's kumo_http call
    reaches it with no change, and the answer is made from the service's
    document."""

    def test_service_mocked(self):
        d = copy_project("outbound", os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects"))
        self.addCleanup(shutil.rmtree, os.path.dirname(d), ignore_errors=True)
        with open(os.path.join(d, "kumo.yaml")) as f:
            text = f.read()
        with open(os.path.join(d, "kumo.yaml"), "w") as f:
            f.write(text.replace("    url: http://127.0.0.1:9/never-used\n", ""))
        os.makedirs(os.path.join(d, "tests"), exist_ok=True)
        with open(os.path.join(d, "tests", "calls_test.c"), "w") as f:
            f.write(r"""#include <kumo_test.h>

KUMO_TEST(pets_mocked)
{
    kumo_test_response *r = kumo_test_post_json(t, "/call", "{\"service\":\"pets\",\"path\":\"/pets/7\"}");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_INT_EQ(json_integer_value(kumo_test_json_at(r, "/rc")), 0);
    KUMO_ASSERT_INT_EQ(json_integer_value(kumo_test_json_at(r, "/status")), 200);
    KUMO_ASSERT_CONTAINS(json_string_value(kumo_test_json_at(r, "/body")), "\"name\"");
}
""")
        env = dict(os.environ, PETS_TOKEN="t0k")
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        r = subprocess.run([KUMO, "test", d], capture_output=True, text=True, timeout=300, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("note service pets: kumo mock of", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^1 passed, 0 failed \(")



class TestEnvUnderKumoTest(unittest.TestCase):
    """kumo.yaml's env: reaches the handlers under kumo test as under kumo
    up: each unit its own variables over the project's, the environment's
    (--env) over both, secrets expanded; a variable only another unit
    declares is not seen."""

    def test_env_per_unit(self):
        d = copy_project("envvars", os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects"))
        self.addCleanup(shutil.rmtree, os.path.dirname(d), ignore_errors=True)
        os.makedirs(os.path.join(d, "tests"), exist_ok=True)
        with open(os.path.join(d, "tests", "env_test.c"), "w") as f:
            f.write(r"""#include <kumo_test.h>

KUMO_TEST(alpha_then_beta)
{
    kumo_test_response *r = kumo_test_get(t, "/alpha");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(json_string_value(kumo_test_json_at(r, "/GREETING")), "staging-hello");
    KUMO_ASSERT_STR_EQ(json_string_value(kumo_test_json_at(r, "/SHARED")), "alpha");
    KUMO_ASSERT_STR_EQ(json_string_value(kumo_test_json_at(r, "/ONLY_ALPHA")), "yes");
    KUMO_ASSERT_STR_EQ(json_string_value(kumo_test_json_at(r, "/API_TOKEN")), "tok-77");
    r = kumo_test_get(t, "/beta");
    KUMO_ASSERT_STATUS(r, 200);
    KUMO_ASSERT_STR_EQ(json_string_value(kumo_test_json_at(r, "/SHARED")), "project");
    KUMO_ASSERT(kumo_test_json_at(r, "/ONLY_ALPHA") == NULL);
}
""")
        env = dict(os.environ, ENVTEST_TOKEN="tok-77")
        r = subprocess.run([KUMO, "test", d, "--env", "staging", "--filter", "alpha_then_beta"], capture_output=True,
                           text=True, timeout=300, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^1 passed, 0 failed \(")

if __name__ == "__main__":
    unittest.main()
