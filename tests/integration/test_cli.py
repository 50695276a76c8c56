"""kumo's help, its agreement with the parsers and docs/cli.md, and the
bash completion.

Everything here runs the binary: the commands and options are read from
`kumo help`, never from the C sources. Every option a command's help lists
must be accepted by that command: each probe ends with two options no
command knows, so it parses and fails with a usage error naming the first
of them (it never starts a server or calls anything); a listed option the
parser refuses is named instead. The other direction (an option a parser
accepts that its help omits) needs hundreds of probes: tests/unit/cli/
test_help.c runs them in-process against the same table.
"""
import os
import re
import subprocess
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor

from kumo_harness import KUMO, SOURCE

BOGUS = ["--zz-not-an-option", "--zz-neither"]
# What an option's placeholder gets in a probe: a value each parser takes.
SAMPLES = {
    "N": "1", "N|-1": "1", "S": "1", "MB": "256", "ADDR": "127.0.0.1", "NAME": "prod",
    "FILE": "/nonexistent/kumo-probe", "FILE|-": "/nonexistent/kumo-probe", "DIR": "/nonexistent/kumo-probe",
    "URL": "http://127.0.0.1:9/", "HEADER": "X-Secret", "K:V": "X-A:b", "K=V": "id=1", "P": "/a",
    "TIME": "2026-03-28T12:00:00Z", "F": "f", "O": "op", "ID": "abc", "R": "eu-west-1",
    "30s|5m|2h|RFC3339": "5m",
}
# Positional arguments a probe needs before its options parse.
POSITIONAL = {"events redrive": ["ev"], "invoke": ["op"]}
UNKNOWN = re.compile(r"unknown (?:option|argument) '([^']*)'|unknown option or missing value: (\S+)")


# LeakSanitizer's exit scan (sanitizer builds) costs more than these
# short parses; the unit test and the other suites check for leaks.
QUICK = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")


def kumo(*args, stdin=subprocess.DEVNULL, env=QUICK, timeout=30):
    return subprocess.run([KUMO, *args], capture_output=True, text=True, stdin=stdin, env=env, timeout=timeout)


def parse_help(text):
    """(usage, subcommands, [([name, alias...], arg)]) from one `kumo help X` text."""
    head, _, rest = text.partition("\n\n")
    usage = " ".join(l.strip() for l in head.splitlines())
    subs, opts, section = [], [], None
    for line in rest.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            section = line[:-1]
        elif section == "subcommands" and line.startswith("  "):
            subs.append(line.split()[0])
        elif section == "options" and line.startswith("  -"):
            left = line.strip().split("  ")[0]
            names, _, arg = left.rpartition(", ")[2].partition(" ")
            aliases = left.split(", ")[:-1]
            opts.append(([names, *aliases], arg or None))
    return usage, subs, opts


def entries():
    """{"events redrive": (usage, subs, options, text)} for every command
    and subcommand, text being what `kumo help events redrive` printed."""
    r = kumo("help")
    assert r.returncode == 0, r.stderr
    names = [l.split()[0] for l in r.stdout.split("commands:\n")[1].splitlines() if l.startswith("  ")]
    out = {}
    with ThreadPoolExecutor(4) as ex:
        for n, h in zip(names, ex.map(lambda n: kumo("help", n), names)):
            assert h.returncode == 0, (n, h.stderr)
            out[n] = (*parse_help(h.stdout), h.stdout)
        subs = [n + " " + s for n in names for s in out[n][1]]
        for n, h in zip(subs, ex.map(lambda n: kumo("help", *n.split()), subs)):
            assert h.returncode == 0, (n, h.stderr)
            out[n] = (*parse_help(h.stdout), h.stdout)
    return out


class Help(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.entries = entries()

    def test_every_command_answers_help(self):
        self.assertIn("up", self.entries)
        self.assertIn("events redrive", self.entries)
        jobs = [(name, "--help") for name in self.entries] + [(n, "-h") for n in self.entries if " " not in n]
        with ThreadPoolExecutor(4) as ex:
            results = list(ex.map(lambda j: kumo(*j[0].split(), j[1]), jobs))
        for (name, flag), r in zip(jobs, results):
            usage, subs, opts, text = self.entries[name]
            self.assertEqual(r.returncode, 0, (name, flag, r.stderr))
            self.assertEqual(r.stderr, "")
            self.assertTrue(r.stdout.startswith("usage: kumo " + name), (name, r.stdout[:80]))
            self.assertRegex(r.stdout, r"\nexample:\n  .*kumo ", name)
            self.assertEqual(r.stdout, text, name)
            for names, arg in opts:
                self.assertIn(names[0] + (" " + arg if arg else ""), usage, (name, names))

    def test_top_level(self):
        for args in ([], ["--help"], ["-h"]):
            r = kumo("help", *args) if not args else kumo(*args)
            self.assertEqual(r.returncode, 0)
            self.assertIn("commands:", r.stdout)
        r = kumo()
        self.assertEqual(r.returncode, 2)
        self.assertIn("commands:", r.stderr)
        self.assertRegex(kumo("version").stdout, r"^kumo \d+\.\d+")

    def test_help_unknown_is_an_error(self):
        for args in (["nosuch"], ["events", "nosuch"], ["up", "more", "words"]):
            r = kumo("help", *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(r.stdout, "")
            self.assertIn("kumo help", r.stderr)

    def test_usage_error_prints_the_tables_usage(self):
        r = kumo("events", "redrive", "ev", "--nope")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown argument '--nope'", r.stderr)
        self.assertIn(self.entries["events redrive"][0].split(" [")[0], r.stderr)
        self.assertIn("usage: kumo events redrive EVENT", r.stderr)

    def probe(self, name, opt, value):
        """The option a parser called unknown in `kumo NAME opt [value] BOGUS`."""
        args = [*name.split(), *POSITIONAL.get(name, []), opt, *([value] if value is not None else []), *BOGUS]
        r = kumo(*args)
        self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
        m = UNKNOWN.search(r.stderr)
        return (m.group(1) or m.group(2)) if m else None

    def runnable(self):
        # commands that parse options (not those that only pick a subcommand)
        return {n: e for n, e in self.entries.items() if e[2]}

    def test_every_listed_option_is_accepted(self):
        jobs = []
        for name, (_, _, opts, _) in self.runnable().items():
            for names, arg in opts:
                value = None
                if arg:
                    value = SAMPLES.get(arg) or arg.split("|")[0]
                for n in names:
                    jobs.append((name, n, value))
        self.assertGreater(len(jobs), 60)
        with ThreadPoolExecutor(4) as ex:
            results = list(ex.map(lambda j: (j, self.probe(*j)), jobs))
        for (name, opt, value), unknown in results:
            self.assertEqual(unknown, BOGUS[0], "kumo %s refuses %s, which its help lists" % (name, opt))

    def test_docs_cli_md_matches_the_help(self):
        with open(os.path.join(SOURCE, "docs", "cli.md")) as f:
            doc = f.read()
        for name, (_, _, _, text) in self.entries.items():
            self.assertTrue(text in doc, "docs/cli.md's %s section is stale: python3 scripts/cli_doc.py" % name)


BASH_DRIVER = r"""
source "$SCRIPT" || exit 3
complete -p kumo || exit 4
cd "$WORK"
read -r -a COMP_WORDS <<< "$LINE"
[[ $LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE=$LINE
COMP_POINT=${#LINE}
_kumo kumo "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


class Completion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="kumo-compl-")
        os.mkdir(os.path.join(cls.work, "proj"))
        os.mkdir(os.path.join(cls.work, "pkgs"))
        with open(os.path.join(cls.work, "pkg.zip"), "w") as f:
            f.write("x")
        cls.script = os.path.join(cls.work, "kumo.bash")
        with open(cls.script, "w") as f:
            r = kumo("completion", "bash")
            assert r.returncode == 0, r.stderr
            f.write(r.stdout)

    def complete(self, line):
        env = dict(os.environ, SCRIPT=self.script, WORK=self.work, LINE=line)
        r = subprocess.run(["bash", "--norc", "--noprofile", "-c", BASH_DRIVER], capture_output=True, text=True,
                           env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("complete -F _kumo kumo", r.stdout)
        return [l for l in r.stdout.splitlines() if l and not l.startswith("complete ")]

    def test_script_is_valid_bash(self):
        r = kumo("completion", "bash")
        self.assertEqual(r.returncode, 0)
        check = subprocess.run(["bash", "-n"], input=r.stdout, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertEqual(kumo("completion", "zsh").returncode, 2)
        self.assertEqual(kumo("completion").returncode, 2)

    def test_commands(self):
        got = self.complete("kumo ")
        for c in ("up", "mock", "deploy", "emulate", "completion", "help"):
            self.assertIn(c, got)
        self.assertEqual(self.complete("kumo de"), ["dev", "deploy", "destroy"])

    def test_options_and_values(self):
        self.assertEqual(self.complete("kumo up --adm"), ["--admin-port", "--admin-token-file"])
        self.assertEqual(self.complete("kumo build --target k"), ["knative", "kubernetes"])
        self.assertEqual(self.complete("kumo build -t o"), ["openfaas"])
        self.assertEqual(self.complete("kumo logs --level w"), ["warn"])
        self.assertEqual(self.complete("kumo up --port "), [])
        self.assertIn("--max", self.complete("kumo events redrive --"))
        self.assertNotIn("--count", self.complete("kumo events redrive --"))
        self.assertIn("--count", self.complete("kumo events --"))
        self.assertIn("--function-name", self.complete("kumo emulate lambda --"))
        # --opt=value, as one word (no '=' in COMP_WORDBREAKS)
        self.assertEqual(self.complete("kumo build --target=k"), ["--target=knative", "--target=kubernetes"])

    def test_option_equals_value_is_taken(self):
        # --name=value means --name value for an option that takes a value
        r = kumo("build", "--target=heroku", self.work)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unknown target 'heroku'", r.stderr)
        r = kumo("up", "--dev=yes", self.work)  # a flag takes no value
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--dev=yes", r.stderr)

    def test_paths(self):
        self.assertEqual(self.complete("kumo up pr"), ["proj"])
        self.assertEqual(self.complete("kumo up p"), ["pkgs", "proj"])  # directories only
        self.assertEqual(sorted(self.complete("kumo emulate lambda --zip pk")), ["pkg.zip", "pkgs"])

    def test_subcommands(self):
        self.assertEqual(self.complete("kumo schema "), ["validate"])
        self.assertIn("redrive", self.complete("kumo events "))
        self.assertIn("proj", self.complete("kumo events "))
        self.assertEqual(self.complete("kumo help ev"), ["events"])
        self.assertEqual(self.complete("kumo help events r"), ["redrive"])
        self.assertEqual(self.complete("kumo completion "), ["bash"])


if __name__ == "__main__":
    unittest.main()
