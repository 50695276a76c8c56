"""`kumo events`: lists each event of kumo.yaml with its handler, schedule
and zone and its next fire times, on the zone's wall clock and in UTC,
computed offline (no kumo running). Zurich's 2026 daylight-saving days are
asked for with --from, so the expected times are fixed: a 02:30 job on the
spring-forward day fires at 03:00 CEST, once on the fall-back day; an
hourly job fires in both passes of the repeated hour. A bad schedule, an
unknown zone and a source that does not run yet are refused with the
position in kumo.yaml; bad options are usage errors.

With a kumo up of the same project answering on the admin port (LiveTest,
projects/queues: max_receives 3, a body starting with "fail" answered 500),
each queue event also shows its queue's depth, its dead letters and what
its consumer did since start; `kumo events redrive` moves dead letters back
(they fail again, and come back to the dead-letter queue); the figures
survive a reload. Waits are bounded; no assertion depends on speed."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import requests

from kumo_harness import KUMO, Gateway, copy_project, wait_for

KUMO_YAML = """name: ev
api: api.yaml
functions:
  todos: {sources: [src/todos.c]}
events:
  purge: {schedule: "30 2 * * *", timezone: Europe/Zurich, handler: todos.purge}
  hourly:
    schedule: "@hourly"
    timezone: Europe/Zurich
    handler: todos.hourly
    missed: once
    overlap: true
  tick: {schedule: every 30s, handler: todos.tick}
  never: {schedule: "0 0 30 2 *", handler: todos.never}
"""


def events(project_dir, *args, env_extra=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    env.update(env_extra or {})
    return subprocess.run([KUMO, "events", *args], cwd=project_dir, env=env, capture_output=True, text=True,
                          timeout=60)


class EventsCliTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kumo-events-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.mkdir(os.path.join(self.dir, "src"))
        for name in ("api.yaml", "src/todos.c"):
            open(os.path.join(self.dir, name), "w").close()
        self.write(KUMO_YAML)

    def write(self, text):
        with open(os.path.join(self.dir, "kumo.yaml"), "w") as f:
            f.write(text)

    def test_spring_forward_human(self):
        r = events(self.dir, "--from", "2026-03-28T12:00:00Z", "--count", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split("\n\n")[0],
                         'purge  todos.purge  schedule "30 2 * * *"  Europe/Zurich  missed: skip  overlap: false\n'
                         "  2026-03-29 03:00:00 +02:00  (2026-03-29T01:00:00Z)\n"
                         "  2026-03-30 02:30:00 +02:00  (2026-03-30T00:30:00Z)")
        self.assertIn('tick  todos.tick  schedule "every 30s"  UTC  missed: skip  overlap: false\n'
                      "  2026-03-28 12:00:30 +00:00  (2026-03-28T12:00:30Z)\n", r.stdout)
        self.assertIn('never  todos.never  schedule "0 0 30 2 *"  UTC  missed: skip  overlap: false\n'
                      "  never: no fire time in the next 5 years\n", r.stdout)

    def test_fall_back_json(self):
        r = events(self.dir, ".", "--json", "--count", "5", "--from", "2026-10-24T22:30:00Z")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {e["name"]: e for e in json.loads(r.stdout)}
        self.assertEqual(list(got), ["purge", "hourly", "tick", "never"])
        purge = got["purge"]
        self.assertEqual((purge["handler"], purge["schedule"], purge["timezone"], purge["missed"], purge["overlap"]),
                         ("todos.purge", "30 2 * * *", "Europe/Zurich", "skip", False))
        # 02:30 happens twice on 2026-10-25: the job fires at the first one only
        self.assertEqual([n["utc"] for n in purge["next"][:2]], ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
        self.assertEqual(purge["next"][0]["local"], "2026-10-25 02:30:00 +02:00")
        hourly = got["hourly"]
        self.assertEqual((hourly["missed"], hourly["overlap"]), ("once", True))
        # an hourly job follows elapsed time: 02:00 in both passes
        self.assertEqual([n["local"] for n in hourly["next"]],
                         ["2026-10-25 01:00:00 +02:00", "2026-10-25 02:00:00 +02:00", "2026-10-25 02:00:00 +01:00",
                          "2026-10-25 03:00:00 +01:00", "2026-10-25 04:00:00 +01:00"])
        steps = [b["epoch_ms"] - a["epoch_ms"] for a, b in zip(hourly["next"], hourly["next"][1:])]
        self.assertEqual(steps, [3600000] * 4)
        self.assertEqual(got["never"]["next"], [])

    def test_from_now(self):
        before = int(time.time() * 1000)
        r = events(self.dir, "--json", "--count", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        tick = [e for e in json.loads(r.stdout) if e["name"] == "tick"][0]
        times = [n["epoch_ms"] for n in tick["next"]]
        self.assertEqual(len(times), 3)
        self.assertGreater(times[0], before)
        self.assertEqual([t % 30000 for t in times], [0, 0, 0])
        self.assertEqual([b - a for a, b in zip(times, times[1:])], [30000, 30000])

    def test_no_events(self):
        self.write("name: ev\napi: api.yaml\n")
        r = events(self.dir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "./kumo.yaml declares no events\n")
        r = events(self.dir, "--json")
        self.assertEqual(json.loads(r.stdout), [])

    def test_refusals(self):
        cases = [
            ('  purge: {schedule: "0 24 * * *", handler: todos.purge}\n',
             "kumo.yaml:6:21: events.purge.schedule: field 2 (hour): 24 is out of 0-23"),
            ('  purge: {schedule: "@daily", handler: todos.purge, timezone: Europe/Atlantis}\n',
             "kumo.yaml:6:63: events.purge.timezone: unknown time zone 'Europe/Atlantis': /usr/share/zoneinfo has no "
             "such zone"),
            ("  thumbs: {blob: files, handler: todos.send}\n",
             "kumo.yaml:6:18: events.thumbs.blob: no blob 'files' under stores: blob:; declare it there"),
            ("  notify: {queue: notifications, handler: todos.send, batch: 10}\n",
             "kumo.yaml:6:19: events.notify.queue: no queue 'notifications' under stores: queue:; declare it there"),
            ('  purge: {schedule: "@daily", handler: mail.send}\n',
             "kumo.yaml:6:40: events.purge.handler: no function unit 'mail' under functions: (there are: todos)"),
        ]
        head = KUMO_YAML.split("events:\n")[0] + "events:\n"
        for entry, want in cases:
            with self.subTest(want=want):
                self.write(head + entry)
                r = events(self.dir)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertIn(want, r.stderr)
                self.assertEqual(r.stdout, "")

    def test_tzdir(self):
        r = events(self.dir, env_extra={"TZDIR": os.path.join(self.dir, "no-zoneinfo")})
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown time zone 'Europe/Zurich': %s has no such zone" % os.path.join(self.dir, "no-zoneinfo"),
                      r.stderr)

    def test_build_and_deploy_refuse_events(self):
        """A target refuses what it cannot carry at the key's position
        instead of packaging a project whose schedules would never run
        (test_events_aws.py has aws's refusals). knative carries schedules (PingSource) but not
        `missed: once` (a PingSource never runs a missed tick): refused at
        that key
        (tests/integration/test_events_targets.py has the rest)."""
        for argv, want in ((["build", "--target", "knative", self.dir],
                            'kumo.yaml:11:5: events.hourly: missed: once: a Knative PingSource never runs a tick it missed'),
                           (["deploy", "--target", "knative", "--dry-run", self.dir],
                            'kumo.yaml:11:5: events.hourly: missed: once: a Knative PingSource never runs a tick it missed')):
            r = subprocess.run([KUMO, *argv], capture_output=True, text=True, timeout=120,
                               env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1"))
            self.assertNotEqual(r.returncode, 0, argv)
            self.assertIn(want, r.stderr, argv)

    def test_usage(self):
        for args in (["--count", "0"], ["--count"], ["--from", "yesterday"], ["--frobnicate"], ["a", "b"]):
            with self.subTest(args=args):
                r = events(self.dir, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("usage: kumo events", r.stderr)


class LiveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = copy_project("queues", os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects"))
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.gw.stop()
            err = cls.gw.stderr()
            assert rc == 0, err[-3000:]
            assert "ERROR: AddressSanitizer" not in err and "runtime error:" not in err, err[-6000:]
        finally:
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def events(self, *args):
        return events(self.dir, *args, "--admin-port", str(self.gw.admin_port))

    def live(self):
        r = self.events("--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        [work] = json.loads(r.stdout)
        return work["live"]

    def test_depth_dead_letters_and_redrive(self):
        base = self.live()["figures"]
        r = requests.post(self.gw.base + "/send?prefix=fail&n=2", data=b"", timeout=30)
        self.assertEqual(r.status_code, 200, r.text)
        # each fails 3 times (max_receives: 3), then waits in jobs-dead
        done = wait_for(lambda: self.live()["dead_letters"]["ready"] == 2 and self.live()["depth"] ==
                        {"ready": 0, "in_flight": 0, "delayed": 0}, timeout=60, step=0.2)
        self.assertTrue(done, (self.live(), self.gw.stderr()[-3000:]))
        live = self.live()
        f = live["figures"]
        self.assertEqual(f["deliveries"] - base["deliveries"], 6, f)
        self.assertEqual(f["failures"] - base["failures"], 6, f)
        self.assertEqual(f["retries"] - base["retries"], 4, f)
        self.assertEqual(f["dead_lettered"] - base["dead_lettered"], 2, f)
        self.assertEqual(f["in_flight"], 0, f)
        r = self.events()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("  queue jobs: 0 ready, 0 in flight, 0 delayed; dead letters (jobs-dead): 2\n", r.stdout)
        self.assertIn("  since kumo up started: %d delivered" % f["deliveries"], r.stdout)

        # the figures survive a reload
        res = requests.post(self.gw.admin + "/reload", timeout=120)
        self.assertEqual(res.status_code, 200, res.text)
        self.assertEqual(self.live()["figures"]["deliveries"], f["deliveries"])

        # redrive one: it fails three more times and is back in jobs-dead
        r = self.events("redrive", "work", "--max", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "event work: 1 message moved from jobs-dead to jobs\n")
        done = wait_for(lambda: self.live()["figures"]["dead_lettered"] - base["dead_lettered"] == 3 and
                        self.live()["dead_letters"]["ready"] == 2, timeout=60, step=0.2)
        self.assertTrue(done, self.live())
        self.assertEqual(self.live()["figures"]["deliveries"] - base["deliveries"], 9)
        # redrive all
        r = self.events("redrive", "work")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "event work: 2 messages moved from jobs-dead to jobs\n")
        self.assertTrue(wait_for(lambda: self.live()["dead_letters"]["ready"] == 2 and
                                 self.live()["figures"]["dead_lettered"] - base["dead_lettered"] == 5,
                                 timeout=60, step=0.2), self.live())

    def test_redrive_refusals(self):
        r = self.events("redrive", "nope")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no event 'nope' in kumo.yaml; the events are: work", r.stderr)
        r = self.events("redrive")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.events("redrive", "work", "--max", "0")
        self.assertEqual(r.returncode, 2, r.stderr)
        res = requests.post(self.gw.admin + "/events/work/redrive?max=x", timeout=30)
        self.assertEqual(res.status_code, 400)
        self.assertEqual(requests.get(self.gw.admin + "/events/work/redrive", timeout=30).status_code, 405)
        self.assertEqual(requests.post(self.gw.admin + "/events", timeout=30).status_code, 405)

    def test_other_project_not_mixed(self):
        d = tempfile.mkdtemp(prefix="kumo-events-")
        self.addCleanup(shutil.rmtree, d, True)
        os.mkdir(os.path.join(d, "src"))
        for name in ("api.yaml", "src/todos.c"):
            open(os.path.join(d, name), "w").close()
        with open(os.path.join(d, "kumo.yaml"), "w") as f:
            f.write(KUMO_YAML)
        r = events(d, "--admin-port", str(self.gw.admin_port))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("since kumo up started", r.stdout)
        self.assertIn("serves the project 'queues', not 'ev'", r.stderr)


if __name__ == "__main__":
    unittest.main()
