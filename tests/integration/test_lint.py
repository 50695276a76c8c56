"""`kumo lint`: the todo example is clean; a fixture project with one of
each finding (tests/integration/projects/lint) gets exactly those, with
positions, in --json and in the human format; a project that does not load
is an error with its position; exit status 1 only with errors. A schema
kumo up refuses (a $ref to nothing, a pattern that is no regex, a minimum
that is a string) lint refuses too, at the keyword, with kumo up's words
(tests/integration/projects/lint_schemas)."""
import json
import os
import re
import shutil
import subprocess
import unittest

from kumo_harness import KUMO, copy_project

HERE = os.path.dirname(os.path.abspath(__file__))


def lint(project_dir, *args):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return subprocess.run([KUMO, "lint", *args], cwd=project_dir, env=env, capture_output=True, text=True,
                          timeout=120)


class LintTodoTest(unittest.TestCase):
    def setUp(self):
        self.dir = copy_project("todo")
        self.addCleanup(shutil.rmtree, os.path.dirname(self.dir), True)

    def test_clean(self):
        r = lint(self.dir, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        findings = json.loads(r.stdout)
        self.assertEqual([f for f in findings if f["severity"] == "error"], [])
        self.assertEqual(findings, [], "the todo example is meant to lint clean")
        h = lint(self.dir)
        self.assertEqual(h.returncode, 0, h.stderr)
        self.assertEqual(h.stdout, "0 errors, 0 warnings\n")

    def test_directory_argument(self):
        r = lint(os.path.dirname(self.dir), os.path.basename(self.dir))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 errors, 0 warnings", r.stdout)


# (file, line, column, severity, operation, a piece of the message)
EXPECTED = [
    ("kumo.yaml", 5, 3, "warning", None, "unit 'items' exports 'unused_helper', which no operation uses"),
    ("openapi.yaml", 10, 11, "warning", "GET /items", "no example for the 200 response; add one"),
    ("openapi.yaml", 17, 9, "warning", "POST /items", "no example for the request body"),
    ("openapi.yaml", 30, 7, "warning", "GET /items/{id}", "no operationId; add one"),
    ("openapi.yaml", 30, 7, "warning", "GET /items/{id}", "no handler: no operationId or x-kumo-handler, so it answers 501"),
    ("openapi.yaml", 32, 11, "warning", "GET /items/{id}", "the 200 response has no description; add one"),
    ("openapi.yaml", 37, 23, "error", "DELETE /items/{id}",
     "x-kumo-handler names 'missing_fn' in unit 'items', which does not define it"),
    ("openapi.yaml", 42, 23, "error", "PUT /items/{id}",
     "x-kumo-handler names unit 'ghost', which kumo.yaml does not define; add it under functions:"),
    ("openapi.yaml", 46, 20, "error", "PATCH /items/{id}",
     "handler 'shared_name' is defined in units 'items' and 'extra'; say which with x-kumo-handler"),
    ("openapi.yaml", 51, 20, "warning", "GET /health",
     "handler 'notThere' is not defined in any function unit, so it answers 501"),
]


class LintFixtureTest(unittest.TestCase):
    def setUp(self):
        self.dir = copy_project("lint", os.path.join(HERE, "projects"))
        self.addCleanup(shutil.rmtree, os.path.dirname(self.dir), True)

    def test_json(self):
        r = lint(self.dir, "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        findings = json.loads(r.stdout)
        for f in findings:
            self.assertEqual(sorted(f), ["column", "file", "line", "message", "operation", "severity"])
        got = [(f["file"], f["line"], f["column"], f["severity"], f["operation"]) for f in findings]
        self.assertEqual(got, [e[:5] for e in EXPECTED], json.dumps(findings, indent=1))
        for f, e in zip(findings, EXPECTED):
            self.assertIn(e[5], f["message"])
        # the ambiguous handler is an error, not also an unused export of 'extra'
        self.assertFalse([f for f in findings if "exports 'shared_name'" in f["message"]])
        self.assertFalse([f for f in findings if "kumo_lint_fixture_ignored" in f["message"]])
        self.assertIn("3 errors", r.stderr)

    def test_human(self):
        r = lint(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[-1], "3 errors, 7 warnings")
        self.assertIn("openapi.yaml:10:11: warning: GET /items: no example for the 200 response; add one", lines)
        self.assertIn("kumo.yaml:5:3: warning: unit 'items' exports 'unused_helper', which no operation uses; "
                      "make it static, or bind it with an operationId or x-kumo-handler", lines)
        self.assertEqual(len(lines), len(EXPECTED) + 1)
        errors = [l for l in lines if ": error: " in l]
        self.assertEqual(len(errors), 3)

    def test_warnings_only_exit_zero(self):
        # without the three broken handlers only warnings remain: exit 0
        path = os.path.join(self.dir, "openapi.yaml")
        with open(path) as f:
            text = f.read()
        text = text.replace("x-kumo-handler: items.missing_fn", "x-kumo-handler: items.getItems")
        text = text.replace("x-kumo-handler: ghost.put_item", "x-kumo-handler: items.createItem")
        text = text.replace("operationId: shared_name", "operationId: shared_name\n      x-kumo-handler: extra.shared_name")
        with open(path, "w") as f:
            f.write(text)
        r = lint(self.dir, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        findings = json.loads(r.stdout)
        self.assertTrue(findings)
        self.assertEqual({f["severity"] for f in findings}, {"warning"})
        # items.shared_name is now unused
        self.assertTrue([f for f in findings if "exports 'shared_name'" in f["message"]])

    def test_spec_that_does_not_load(self):
        with open(os.path.join(self.dir, "openapi.yaml"), "w") as f:
            f.write("openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get: [\n")
        r = lint(self.dir, "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        findings = json.loads(r.stdout)
        self.assertEqual(len(findings), 1, findings)
        f = findings[0]
        self.assertEqual(f["severity"], "error")
        self.assertTrue(f["file"].endswith("openapi.yaml"), f)
        self.assertGreater(f["line"], 0)

    def test_project_that_does_not_load(self):
        with open(os.path.join(self.dir, "kumo.yaml"), "a") as f:
            f.write("unknown_key: 1\n")
        r = lint(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stdout, r"kumo\.yaml:\d+:\d+: error: ")
        self.assertTrue(r.stdout.endswith("1 error, 0 warnings\n"), r.stdout)

    def test_usage(self):
        r = lint(self.dir, "--nope")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: kumo lint", r.stderr)


def up(project_dir):
    """kumo up as a user runs it; these projects never get to serve."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return subprocess.run([KUMO, "up", project_dir, "--port", "0", "--admin-port", "-1"], env=env,
                          capture_output=True, text=True, timeout=120)


# (what the fixture says, what breaks it, the line and column in
# openapi.yaml of the broken keyword's value (its first character), the
# compiler's words)
BROKEN = {
    "ref": ("schema: {$ref: '#/components/schemas/Thing'}", "schema: {$ref: '#/components/schemas/Nope'}",
            19, 28, "/components has no schema 'Nope'"),
    "pattern": ("pattern: '^[a-z]+$'", "pattern: '[a-'", 30, 43, "invalid regular expression '[a-'"),
    "minimum": ("minimum: 1}", "minimum: \"1\"}", 11, 44, "/minimum: must be a number"),
}


class LintRefusesWhatUpRefusesTest(unittest.TestCase):
    """lint runs what kumo up runs at start (router, schema compilation,
    binding), so the two never disagree about whether a project starts."""

    def setUp(self):
        self.dir = copy_project("lint_schemas", os.path.join(HERE, "projects"))
        self.addCleanup(shutil.rmtree, os.path.dirname(self.dir), True)

    def break_spec(self, *cases):
        path = os.path.join(self.dir, "openapi.yaml")
        with open(path) as f:
            text = f.read()
        for case in cases:
            good, bad = BROKEN[case][:2]
            self.assertEqual(text.count(good), 1, good)
            text = text.replace(good, bad)
        with open(path, "w") as f:
            f.write(text)

    def test_fixture_is_clean(self):
        r = lint(self.dir)
        self.assertEqual((r.returncode, r.stdout), (0, "0 errors, 0 warnings\n"), r.stderr)

    def check_refused(self, case):
        line, col, words = BROKEN[case][2:]
        self.break_spec(case)
        r = lint(self.dir, "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        findings = json.loads(r.stdout)
        self.assertEqual([(f["file"], f["line"], f["column"], f["severity"]) for f in findings],
                         [("openapi.yaml", line, col, "error")], r.stdout)
        self.assertIn(words, findings[0]["message"])
        h = lint(self.dir)
        self.assertIn("openapi.yaml:%d:%d: error: " % (line, col), h.stdout)
        u = up(self.dir)
        self.assertEqual(u.returncode, 1, u.stderr)
        self.assertRegex(u.stderr, re.escape("openapi.yaml:%d:%d: " % (line, col)))
        self.assertIn(findings[0]["message"], u.stderr, "kumo up and kumo lint say it in the same words")

    def test_ref_to_nothing(self):
        self.check_refused("ref")

    def test_invalid_pattern(self):
        self.check_refused("pattern")

    def test_minimum_that_is_a_string(self):
        self.check_refused("minimum")

    def test_every_problem_is_reported(self):
        # kumo up stops at the first; lint goes on and names all three
        self.break_spec("ref", "pattern", "minimum")
        r = lint(self.dir, "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        findings = json.loads(r.stdout)
        self.assertEqual([(f["line"], f["column"]) for f in findings],
                         sorted((BROKEN[c][2], BROKEN[c][3]) for c in BROKEN), r.stdout)
        self.assertIn("3 errors", r.stderr)
        self.assertEqual(up(self.dir).returncode, 1)


def alias_bomb(outer):
    """A 64 KiB string aliased 100 times in a list, the list `outer` times:
    66 KB of YAML, 660 MB written out when outer is 100."""
    return ("x-big: &s \"%s\"\nx-list: &l [%s]\nx-many: [%s]\n"
            % ("x" * 65536, ", ".join(["*s"] * 100), ", ".join(["*l"] * outer)))


# what breaks the lint_schemas fixture (the text it replaces, the text put
# instead), and a piece of the message kumo up and kumo lint both give
PARITY = {
    "etc_passwd": ("{$ref: '#/components/schemas/Thing'}", "{$ref: '/etc/passwd'}",
                   "a schema must be an object, not a string"),
    "file_url": ("{$ref: '#/components/schemas/Thing'}", "{$ref: 'file:///etc/passwd'}",
                 "$ref 'file:///etc/passwd' is not a relative file path; kumo loads only local files"),
    "http_url": ("{$ref: '#/components/schemas/Thing'}", "{$ref: 'http://example.com/thing.yaml'}",
                 "$ref 'http://example.com/thing.yaml' is remote; kumo loads only local files"),
    "pattern": ("pattern: '^[a-z]+$'", "pattern: '(?<'", "invalid regular expression '(?<'"),
    "mistyped_type": ("{type: integer, minimum: 1}", "{type: integr, minimum: 1}",
                      "/type: must be one of null, boolean, object, array, number, string, integer"),
    "mistyped_required": ("{type: integer, minimum: 1}", "{type: integer, minimum: 1, required: true}",
                          "/required: must be an array of property names"),
    "alias_bomb": ("components:\n", alias_bomb(100) + "components:\n",
                   "alias *l repeats 6554002 bytes, and the aliases before it 13107802; aliases may add at "
                   "most 16 MiB to a document"),
}


class LintVerdictIsUpsTest(unittest.TestCase):
    """Issue 12: whatever kumo up refuses at start, kumo lint refuses, with
    a non-zero exit and kumo up's words (the same library calls: project,
    store plan, document and its $refs, router, live contract, schemas,
    binding)."""

    def setUp(self):
        self.dir = copy_project("lint_schemas", os.path.join(HERE, "projects"))
        self.addCleanup(shutil.rmtree, os.path.dirname(self.dir), True)

    def replace(self, good, bad, name="openapi.yaml"):
        path = os.path.join(self.dir, name)
        with open(path) as f:
            text = f.read()
        self.assertEqual(text.count(good), 1, good)
        with open(path, "w") as f:
            f.write(text.replace(good, bad))

    def check_same_verdict(self, case):
        good, bad, words = PARITY[case]
        self.replace(good, bad)
        r = lint(self.dir, "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        errors = [f for f in json.loads(r.stdout) if f["severity"] == "error"]
        self.assertEqual(len(errors), 1, r.stdout)
        self.assertIn(words, errors[0]["message"])
        self.assertGreater(errors[0]["line"], 0, "the finding has a position")
        u = up(self.dir)
        self.assertEqual(u.returncode, 1, u.stderr)
        self.assertIn(errors[0]["message"], u.stderr, "kumo up and kumo lint say it in the same words")
        self.assertRegex(u.stderr, re.escape("%s:%d:%d: " % (errors[0]["file"], errors[0]["line"],
                                                              errors[0]["column"])))

    def test_ref_to_etc_passwd(self):
        self.check_same_verdict("etc_passwd")

    def test_ref_to_file_url(self):
        self.check_same_verdict("file_url")

    def test_ref_to_http_url(self):
        self.check_same_verdict("http_url")

    def test_invalid_pattern(self):
        self.check_same_verdict("pattern")

    def test_mistyped_keywords(self):
        self.check_same_verdict("mistyped_type")

    def test_mistyped_required(self):
        self.check_same_verdict("mistyped_required")

    def test_alias_bomb(self):
        # 66 KB that kumo up used to expand to a 662 MB /openapi.json
        self.check_same_verdict("alias_bomb")
        self.assertLess(os.path.getsize(os.path.join(self.dir, "openapi.yaml")), 70000)

    def test_aliases_within_the_ceiling(self):
        self.replace("components:\n", alias_bomb(1) + "components:\n")
        r = lint(self.dir)
        self.assertEqual((r.returncode, r.stdout), (0, "0 errors, 0 warnings\n"), r.stderr)

    def test_unknown_environment(self):
        r = lint(self.dir, "--env", "nope")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("environment 'nope' is not defined", r.stdout)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        u = subprocess.run([KUMO, "up", self.dir, "--env", "nope", "--port", "0", "--admin-port", "-1"], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(u.returncode, 1, u.stderr)
        self.assertIn("environment 'nope' is not defined", u.stderr)

    def test_json_document_with_surrogate_pairs(self):
        # a JSON spec as large public APIs publish it: escaped surrogate
        # pairs (valid JSON) in a description and in a key
        with open(os.path.join(self.dir, "openapi.yaml")) as f:
            import yaml
            spec = yaml.safe_load(f)
        spec["info"]["description"] = "\U0001F44D thumbs up"
        spec["components"]["schemas"]["Thing"]["properties"]["\U0001F600"] = {"type": "string"}
        with open(os.path.join(self.dir, "openapi.json"), "w") as f:
            json.dump(spec, f, ensure_ascii=True, indent=1)
        with open(os.path.join(self.dir, "openapi.json")) as f:
            self.assertIn("\\ud83d\\udc4d", f.read())
        self.replace("api: openapi.yaml", "api: openapi.json", "kumo.yaml")
        r = lint(self.dir)
        self.assertEqual((r.returncode, r.stdout), (0, "0 errors, 0 warnings\n"), r.stderr)
        # a lone surrogate is refused at its line and column
        with open(os.path.join(self.dir, "openapi.json")) as f:
            text = f.read()
        with open(os.path.join(self.dir, "openapi.json"), "w") as f:
            f.write(text.replace("\\ud83d\\udc4d", "\\ud83d"))
        r = lint(self.dir)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"openapi\.json:\d+:\d+: error: lone surrogate \\uD83D")


if __name__ == "__main__":
    unittest.main()
