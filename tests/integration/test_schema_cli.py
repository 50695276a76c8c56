"""`kumo schema validate`: exit statuses and output, run as a user would.

Schemas live in schema_cli/ (an OpenAPI 3.0 file whose Todo refers to a
second file); instances are written to a temporary folder per test.
"""
import json
import os
import subprocess
import tempfile
import unittest

from kumo_harness import KUMO

HERE = os.path.dirname(os.path.abspath(__file__))
API = os.path.join(HERE, "schema_cli", "api.yaml")


class SchemaCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kumo-schema-")

    def write(self, name, value, raw=False):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(value if raw else json.dumps(value))
        return path

    def kumo(self, *args):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        p = subprocess.run([KUMO, "schema", "validate", *args], capture_output=True, text=True, env=env,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_valid_instance(self):
        good = self.write("good.json", {"title": "abc", "owner": {"name": "x"}, "tags": ["a"]})
        rc, out, err = self.kumo("--schema", API, "--pointer", "/components/schemas/Todo", good)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, good + ": valid\n")

    def test_invalid_instance_lists_every_violation(self):
        good = self.write("good.json", {"title": "abc"})
        bad = self.write("bad.json", {"title": "abcdefgh", "owner": {"friend": {}}, "tags": ["A"]})
        rc, out, err = self.kumo("--schema", API, "--pointer", "/components/schemas/Todo", good, bad)
        self.assertEqual(rc, 1, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], good + ": valid")
        self.assertIn(bad + ": /title: must be at most 5 characters long (is 8) "
                      "(schema: /components/schemas/Todo/properties/title/maxLength)", lines)
        self.assertIn(bad + ": /owner: missing required property 'name' (schema: people.yaml#/Person/required)",
                      lines)
        self.assertIn(bad + ": /owner/friend: missing required property 'name' "
                      "(schema: people.yaml#/Person/required)", lines)
        self.assertIn(bad + ": /tags/0: must match the pattern '^[a-z]+$' (schema: /components/schemas/Tag/pattern)",
                      lines)
        self.assertEqual(len(lines), 5)
        self.assertIn("1 of 2 instances are invalid", err)

    def test_root_violation_and_dialect_flag(self):
        schema = self.write("s.json", {"type": ["string", "null"]})
        one = self.write("one.json", "1", raw=True)
        null = self.write("null.json", "null", raw=True)
        rc, out, _ = self.kumo("--schema", schema, "--dialect", "2020-12", one, null)
        self.assertEqual(rc, 1)
        self.assertEqual(out, one + ": (root): must be a string or null, not an integer (schema: /type)\n"
                         + null + ": valid\n")
        # a type list is not OpenAPI 3.0: the default dialect refuses the schema
        rc, _, err = self.kumo("--schema", schema, null)
        self.assertEqual(rc, 2)
        self.assertIn("/type: must be one of", err)

    def test_dialect_from_schema_keyword(self):
        schema = self.write("s.json", {"$schema": "https://json-schema.org/draft/2020-12/schema", "const": 3})
        rc, out, _ = self.kumo("--schema", schema, self.write("i.json", 4))
        self.assertEqual(rc, 1)
        self.assertIn("must be exactly 3", out)

    def test_compile_error_names_file_line_column(self):
        good = self.write("good.json", "x")
        rc, _, err = self.kumo("--schema", API, "--pointer", "/components/schemas/Bad", good)
        self.assertEqual(rc, 2)
        self.assertIn("api.yaml:14:", err)
        self.assertIn("/components/schemas/Bad/maxLength: must be a non-negative integer", err)

    # issue 12: the 2020-12 gaps, seen from the command line
    def test_2020_patterns_formats_and_modes(self):
        schema = os.path.join(HERE, "schema_cli", "dialect2020.yaml")
        good = self.write("good.json", {"name": "\u00c9mile", "born": "2024-01-02", "tags": ["\U0001F44D"]})
        bad = self.write("bad.json", {"name": "\u00e9mile", "born": "2024-13-40", "tags": ["\U0001F44D", "ab"]})
        args = ("--schema", schema, "--pointer", "/Person", "--dialect", "2020-12")
        rc, out, err = self.kumo(*args, good, bad)
        self.assertEqual(rc, 1, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], good + ": valid")
        self.assertIn(bad + ": /name: must match the pattern '^\\p{Lu}\\p{Ll}+$' "
                      "(schema: /Person/properties/name/pattern)", lines)
        self.assertIn(bad + ": /born: must be an RFC 3339 date, e.g. 2024-05-01 (format 'date') "
                      "(schema: /Person/properties/born/format)", lines)
        self.assertIn(bad + ": /tags/1: must match the pattern '^.$' (schema: /Person/$defs/tags/items/pattern)",
                      lines)
        self.assertEqual(len(lines), 4)
        # format only annotates when asked
        rc, out, err = self.kumo(*args, "--formats", "annotate", bad)
        self.assertEqual(rc, 1, err)
        self.assertNotIn("format", out)
        self.assertEqual(len(out.splitlines()), 2)
        rc, out, err = self.kumo(*args, "--formats", "assert", bad)
        self.assertIn("(format 'date')", out)
        rc, _, err = self.kumo(*args, "--formats", "loose", good)
        self.assertEqual(rc, 2)
        self.assertIn("--formats is assert or annotate, not 'loose'", err)

    def test_2020_refused_at_load_with_file_line_column(self):
        schema = os.path.join(HERE, "schema_cli", "dialect2020.yaml")
        x = self.write("x.json", "x")
        rc, _, err = self.kumo("--schema", schema, "--pointer", "/BadDefs", "--dialect", "2020-12", x)
        self.assertEqual(rc, 2)
        self.assertIn("dialect2020.yaml:15:13: /BadDefs/$defs/broken/type: must be one or a list of", err)
        rc, _, err = self.kumo("--schema", schema, "--pointer", "/BadPattern", "--dialect", "2020-12", x)
        self.assertEqual(rc, 2)
        self.assertIn("dialect2020.yaml:18:12: /BadPattern/pattern: invalid regular expression", err)
        self.assertIn("for a script write \\p{Script=Greek}", err)

    def test_2020_dynamic_ref_across_components(self):
        schema = os.path.join(HERE, "schema_cli", "lists31.yaml")
        good = self.write("good.json", {"tags": ["a"], "any": [1, None]})
        bad = self.write("bad.json", {"tags": ["a", 2], "any": [1]})
        rc, out, err = self.kumo("--schema", schema, "--pointer", "/components/schemas/Body", good, bad)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out, good + ": valid\n" + bad + ": /tags/1: must be a string, not an integer "
                         "(schema: /components/schemas/StringList/$defs/items/type)\n")

    def test_usage_and_unreadable_files(self):
        rc, _, err = self.kumo(self.write("x.json", 1))
        self.assertEqual(rc, 2)
        self.assertIn("--schema FILE is required", err)
        rc, _, err = self.kumo("--schema", API, "--pointer", "/nope", self.write("x.json", 1))
        self.assertEqual(rc, 2)
        self.assertIn("has nothing at '/nope'", err)
        broken = self.write("broken.json", '{"title": ', raw=True)
        rc, out, _ = self.kumo("--schema", API, "--pointer", "/components/schemas/Todo", broken)
        self.assertEqual(rc, 2)
        self.assertRegex(out, "^" + broken + r":\d+:\d+: cannot read JSON")
        rc, _, err = self.kumo("--schema", os.path.join(self.tmp, "missing.yaml"), self.write("x.json", 1))
        self.assertEqual(rc, 2)

    def test_direction(self):
        schema = self.write("s.json", {"type": "object", "required": ["id"],
                                       "properties": {"id": {"type": "integer", "readOnly": True}}})
        inst = self.write("i.json", {})
        rc, _, _ = self.kumo("--schema", schema, "--direction", "request", inst)
        self.assertEqual(rc, 0)
        rc, out, _ = self.kumo("--schema", schema, "--direction", "response", inst)
        self.assertEqual(rc, 1)
        self.assertIn("missing required property 'id'", out)


if __name__ == "__main__":
    unittest.main()
