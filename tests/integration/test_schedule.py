"""Schedule events under `kumo up` (issue 13): ticks reach UNIT.SYMBOL as
CloudEvents 1.0 binary-mode requests, on whole seconds and never early;
a run still going skips the next tick (logged), never two at once; a
restart never fires a planned time twice (DATA_DIR/events/NAME.last);
ticks missed while kumo was down are skipped, or fired once with
`missed: once`; SIGTERM fires nothing new and lets a running tick finish;
a bad schedule is refused at kumo.yaml:line:column.

The handlers (projects/ticks) record what they received in a kv store,
read back with GET /ticks; the tests wait (bounded) for ticks to arrive
and check what was recorded, never how fast."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
import urllib.request

from kumo_harness import KUMO, Gateway, copy_project, wait_for

PROJECTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "projects")
ASAN = "detect_leaks=1:handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0"


def project_with(events):
    """A copy of projects/ticks whose `events:` section is `events` (YAML text)."""
    d = copy_project("ticks", PROJECTS)
    path = os.path.join(d, "kumo.yaml")
    with open(path) as f:
        text = f.read()
    text = text[:text.index("\nevents:") + 1] + events
    with open(path, "w") as f:
        f.write(text)
    return d


def ticks(gw):
    with urllib.request.urlopen(gw.base + "/ticks", timeout=30) as r:
        return json.loads(r.read())


def of(records, event):
    return [r for r in records if r["headers"].get("ce-subject") == event]


def planned_ms(record):
    """ce-time (RFC 3339 UTC with ms) as epoch ms."""
    t = record["headers"]["ce-time"]
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z", t)
    assert m, t
    import calendar
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return secs * 1000 + int(m.group(7))


def stop_clean(test, gw):
    rc = gw.stop()
    err = gw.stderr()
    test.assertEqual(rc, 0, err[-3000:])
    test.assertNotIn("ERROR: AddressSanitizer", err)
    test.assertNotIn("runtime error:", err)
    return err


class EveryTest(unittest.TestCase):
    """`every 1s` and the 6-field `* * * * * *`: repeated ticks with the
    CloudEvents headers, planned on whole seconds, never before; across a
    reload."""

    @classmethod
    def setUpClass(cls):
        cls.dir = project_with('events:\n'
                               '  every: {schedule: "every 1s", handler: ticks.record}\n'
                               '  cron6:\n'
                               '    schedule: "* * * * * *"\n'
                               '    timezone: Europe/Zurich\n'
                               '    handler: ticks.record\n')
        cls.gw = Gateway(cls.dir)

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.gw.stop()
            assert rc == 0, cls.gw.stderr()[-3000:]
        finally:
            shutil.rmtree(os.path.dirname(cls.dir), ignore_errors=True)

    def test_ticks(self):
        enough = wait_for(lambda: all(len(of(ticks(self.gw), e)) >= 4 for e in ("every", "cron6")), timeout=60,
                          step=0.5)
        self.assertTrue(enough, self.gw.stderr()[-3000:])
        # a reload hands the schedules over: the ticks go on, none twice
        before = len(of(ticks(self.gw), "every"))
        with open(os.path.join(self.dir, "kumo.yaml"), "a") as f:
            f.write("# changed: a reload of an unchanged project makes no generation\n")
        r = subprocess.run([KUMO, "reload", "--admin-port", str(self.gw.admin_port)], capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(wait_for(lambda: "schedule events handed over" in self.gw.stderr(), timeout=30))
        self.assertTrue(wait_for(lambda: len(of(ticks(self.gw), "every")) >= before + 3, timeout=60, step=0.5))
        records = ticks(self.gw)
        for event, schedule, zone in (("every", "every 1s", "UTC"), ("cron6", "* * * * * *", "Europe/Zurich")):
            mine = of(records, event)
            times = [planned_ms(r) for r in mine]
            self.assertEqual(len(times), len(set(times)), "a planned time fired twice: %s" % times)
            self.assertEqual(times, sorted(times))
            # one-second ticks, on whole seconds; ticks follow each other
            # one second apart (a loop held up for longer may skip one)
            self.assertTrue(all(t % 1000 == 0 for t in times), times)
            self.assertIn(1000, [b - a for a, b in zip(times, times[1:])])
            for r in mine:
                h = r["headers"]
                self.assertEqual(h["ce-specversion"], "1.0")
                self.assertEqual(h["ce-type"], "dev.kumo.schedule.tick")
                self.assertEqual(h["ce-source"], "/kumo/ticks/events/" + event)
                self.assertEqual(h["ce-subject"], event)
                self.assertEqual(h["content-type"], "application/json")
                self.assertTrue(h["ce-id"])
                self.assertTrue(r["key"].endswith("/" + h["ce-id"]))
                self.assertEqual(r["sdk_type"], "dev.kumo.schedule.tick")  # kumo_event_type
                self.assertEqual((r["method"], r["path"]), ("POST", "/" + event))
                self.assertEqual(json.loads(r["body"]),
                                 {"schedule": schedule, "planned": h["ce-time"], "timezone": zone})
                # never early: the handler's clock at entry is at or after the planned time
                self.assertGreaterEqual(r["entry_us"], planned_ms(r) * 1000)
        ids = [r["headers"]["ce-id"] for r in records]
        self.assertEqual(len(ids), len(set(ids)))
        # one log line per tick
        lines = [l for l in self.gw.log_lines() if l.get("msg") == "event"]
        for r in records:
            line = [l for l in lines if l.get("request_id") == r["headers"]["ce-id"]]
            self.assertEqual(len(line), 1, r)
            self.assertEqual(line[0]["event"], r["headers"]["ce-subject"])
            self.assertEqual(line[0]["status"], 204)
            self.assertEqual(line[0]["planned"], r["headers"]["ce-time"])
            self.assertGreater(line[0]["worker_pid"], 0)  # the handler's getpid() is in its own pid namespace
            self.assertGreater(line[0]["duration_us"], 0)


class OverlapDrainTest(unittest.TestCase):
    """A 2.5 s run on a 1 s schedule: the ticks planned while it runs are
    skipped (a warn line each), runs never overlap. SIGTERM during a run:
    the run finishes and is logged, no tick fires after the signal."""

    def test_overlap_then_drain(self):
        d = project_with('events:\n'
                         '  slow: {schedule: "every 1s", handler: ticks.slow}\n'
                         '  every: {schedule: "every 1s", handler: ticks.record}\n')
        try:
            gw = Gateway(d)
            self.assertTrue(wait_for(lambda: len(of(ticks(gw), "slow")) >= 3, timeout=60, step=0.5),
                            gw.stderr()[-3000:])
            # a run is going now: one has started and not ended
            started = wait_for(lambda: self.running(gw), timeout=10, step=0.02)
            self.assertTrue(started)
            signalled_us = time.time() * 1e6
            gw.proc.send_signal(signal.SIGTERM)
            rc = gw.proc.wait(60)
            err = gw.stderr()
            self.assertEqual(rc, 0, err[-3000:])
            self.assertNotIn("ERROR: AddressSanitizer", err)
            lines = gw.log_lines()
            skipped = [l for l in lines if l.get("msg") == "event skipped"]
            fired = [l for l in lines if l.get("msg") == "event" and l.get("event") == "slow"]
            self.assertGreaterEqual(len(skipped), 2, err[-3000:])
            self.assertTrue(all(l["level"] == "warn" and l["event"] == "slow" for l in skipped))
            self.assertFalse({l["planned"] for l in skipped} & {l["planned"] for l in fired})
            self.assertTrue(all(l["status"] == 204 for l in fired), fired)

            # read the store back (the events removed, so nothing new fires)
            with open(os.path.join(d, "kumo.yaml")) as f:
                text = f.read()
            with open(os.path.join(d, "kumo.yaml"), "w") as f:
                f.write(text[:text.index("\nevents:") + 1])
            gw = Gateway(d)
            records = ticks(gw)
            stop_clean(self, gw)
            slow = [r for r in of(records, "slow") if "exit_us" in r]
            # the run going at the signal finished and was recorded
            self.assertIn(started, [r["headers"]["ce-id"] for r in slow])
            self.assertEqual(len(slow), len(fired))
            runs = sorted((r["entry_us"], r["exit_us"]) for r in slow)
            for (a0, a1), (b0, b1) in zip(runs, runs[1:]):
                self.assertLessEqual(a1, b0, "two runs of 'slow' at once")
            # nothing fired after the signal (with 0.3 s for the loop to see it)
            late = [r for r in records if r["entry_us"] > signalled_us + 300000]
            self.assertEqual(late, [])
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    @staticmethod
    def running(gw):
        """The ce-id of a slow run that started and has not ended, or None."""
        records = ticks(gw)
        ended = {r["headers"]["ce-id"] for r in of(records, "slow") if "exit_us" in r}
        for r in records:
            if r["key"].startswith("started/") and r["headers"]["ce-id"] not in ended:
                return r["headers"]["ce-id"]
        return None


class RestartTest(unittest.TestCase):
    """kill -TERM, then start again: no planned time fires twice; with
    `missed: skip` the ticks planned while kumo was down are not fired,
    with `missed: once` the latest of them is, once."""

    def cycle(self, missed):
        d = project_with('events:\n'
                         '  every: {schedule: "every 1s", handler: ticks.record, missed: %s}\n' % missed)
        try:
            gw = Gateway(d)
            self.assertTrue(wait_for(lambda: len(ticks(gw)) >= 3, timeout=60, step=0.5), gw.stderr()[-3000:])
            stop_clean(self, gw)
            with open(os.path.join(d, ".kumo", "data", "events", "every.last")) as f:
                last_before = int(f.read().split()[0])
            time.sleep(3.2)  # at least three ticks planned while kumo is down
            launched_ms = int(time.time() * 1000)
            gw = Gateway(d)
            self.assertTrue(wait_for(lambda: any(planned_ms(r) > last_before + 5000 for r in ticks(gw)),
                                     timeout=60, step=0.5), gw.stderr()[-3000:])
            records = ticks(gw)
            err = stop_clean(self, gw)
            times = sorted(planned_ms(r) for r in records)
            self.assertEqual(len(times), len(set(times)), "a planned time fired twice: %s" % times)
            self.assertIn(last_before, times)
            after = [t for t in times if t > last_before]
            m = re.search(r"event every: (\d+) ticks missed while kumo was down", err)
            self.assertTrue(m, err[-3000:])
            self.assertGreaterEqual(int(m.group(1)), 3)
            return last_before, launched_ms, after, err
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)

    def test_missed_skip(self):
        last_before, launched_ms, after, err = self.cycle("skip")
        self.assertIn("skipped (missed: skip)", err)
        # nothing planned while kumo was down was fired
        self.assertGreater(after[0], launched_ms, (last_before, launched_ms, after))

    def test_missed_once(self):
        last_before, launched_ms, after, err = self.cycle("once")
        m = re.search(r"missed: once fires one now, planned at ([0-9T:.-]+Z)", err)
        self.assertTrue(m, err[-3000:])
        catch_up = planned_ms({"headers": {"ce-time": m.group(1)}})
        # one catch-up tick, the latest missed one, then the schedule goes on
        self.assertEqual(after[0], catch_up)
        self.assertLess(catch_up, after[1])
        # the latest of at least three missed ticks (asserted by cycle)
        self.assertGreaterEqual(catch_up - last_before, 3000)


class YamlTest(unittest.TestCase):
    def test_bad_schedule_is_refused_at_its_position(self):
        d = project_with('events:\n'
                         '  purge:\n'
                         '    schedule: "0 24 * * *"\n'
                         '    handler: ticks.record\n')
        try:
            with open(os.path.join(d, "kumo.yaml")) as f:
                lines = f.read().splitlines()
            line = next(i for i, l in enumerate(lines) if "0 24" in l) + 1
            col = lines[line - 1].index('"0 24') + 1
            env = dict(os.environ, ASAN_OPTIONS=ASAN)
            p = subprocess.run([KUMO, "up", d, "--port", "0", "--admin-port", "0"], capture_output=True, text=True,
                               timeout=60, env=env)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("kumo.yaml:%d:%d:" % (line, col), p.stderr)
            self.assertIn("24", p.stderr)
        finally:
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
