"""The load driver of bench/soak.sh: mixed todo traffic against a running
`kumo up examples/todo`, with a worker killed now and then (issue 12, "A
soak").

  python3 bench/soak.py --base http://127.0.0.1:PORT --gateway-pid PID --minutes M

1. Peak: THREADS client threads run the mix unthrottled for PEAK_S seconds;
   their requests/s is the peak (of this driver and the gateway together,
   on the same cores).
2. Soak: the same threads, each paced to its share of 80% of the peak, for
   M minutes; a random worker ("kumo:UNIT" under the gateway) is SIGKILLed
   every KILL_EVERY_S. Every minute: requests, errors (unexpected answers,
   apart from the calls a killed worker had: 502 "Worker crashed", or 503
   while the unit backs off), the gateway's RSS and open descriptors.
3. Read back: every write the gateway acknowledged (each thread owns its
   todos, so the last acknowledged state is known; a todo whose write got
   no answer is "uncertain" and only its existence is checked) is read back
   through GET /todos pages and attachment downloads, and the
   notifications are drained (receive, ack) until every acknowledged
   create was notified. Prints what is missing; expected 0.

Exit status 0 when nothing acknowledged is missing and there were no
unexpected errors; 1 otherwise.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.parse

THREADS = 8
PEAK_S = 5
LOAD_SHARE = 0.8
KILL_EVERY_S = 30
VISIBILITY_S = 5     # a notification a killed worker had comes back this soon
DRAIN_S = 120
# The mix: operation -> weight.
MIX = {"create": 25, "get": 20, "list": 8, "update": 15, "delete": 8, "attach": 8, "download": 8, "notify": 8}


def gateway_status(pid):
    """(RSS in KiB, open descriptors) of the gateway."""
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def workers_of(pid):
    """The pids of the processes serving calls under the gateway: a worker
    names itself "kumo:UNIT" (src/worker/forkserver.c)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            todo.append(c)
            try:
                with open("/proc/%d/comm" % c) as f:
                    if f.read().startswith("kumo:"):
                        out.append(c)
            except OSError:
                pass
    return out


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = 0
            self.errors = {}     # "METHOD op status" -> count, unexpected
            self.killed = 0      # calls a killed worker had

    def add(self, n=1):
        with self.lock:
            self.requests += n

    def error(self, what):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def take(self):
        with self.lock:
            out = (self.requests, dict(self.errors), self.killed)
        self.reset()
        return out


class Client:
    """One thread's connection and the todos it owns."""

    def __init__(self, base, stats, notified, seed):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None
        self.stats = stats
        self.notified = notified   # shared set of todo ids seen in notifications
        self.rnd = random.Random(seed)
        self.todos = {}            # id -> {"title", "done", "sure", "attachment": sha or None, "att_sure"}
        self.deleted = set()       # acknowledged deletes
        self.created = set()       # acknowledged creates
        self.n = 0

    def call(self, op, method, path, body=None, ctype=None):
        """(status, headers, body bytes), or (None, None, None) when the
        connection failed. Counts the request and classifies failures."""
        headers = {}
        if body is not None:
            headers["content-type"] = ctype or "application/json"
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                # A keep-alive connection the server closed between two
                # requests: the request was not sent; once more, once.
                if attempt == 0 and isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError,
                                                   ConnectionResetError)):
                    continue
                self.stats.add()
                self.stats.error("%s %s connection: %s" % (method, op, type(e).__name__))
                return None, None, None
        self.stats.add()
        if r.status >= 500 and self.killed_call(r.status, data):
            with self.stats.lock:
                self.stats.killed += 1
        elif r.status >= 300:
            self.stats.error("%s %s %d" % (method, op, r.status))
        return r.status, r.headers, data

    @staticmethod
    def killed_call(status, data):
        try:
            p = json.loads(data)
        except ValueError:
            return False
        text = "%s %s" % (p.get("title", ""), p.get("detail", ""))
        return (status == 502 and "crashed" in text) or (status == 503 and "crash" in text)

    def step(self):
        op = self.rnd.choices(list(MIX), weights=list(MIX.values()))[0]
        live = [i for i in self.todos if i not in self.deleted]
        if op != "create" and op != "list" and op != "notify" and not live:
            op = "create"
        getattr(self, "op_" + op)(self.rnd.choice(live) if live else None)

    def op_create(self, _):
        self.n += 1
        title = "soak %d %d" % (id(self) % 100000, self.n)
        st, _, data = self.call("create", "POST", "/todos", json.dumps({"title": title}).encode())
        if st == 201:
            t = json.loads(data)
            self.todos[t["id"]] = {"title": title, "done": False, "sure": True, "attachment": None, "att_sure": True}
            self.created.add(t["id"])

    def op_get(self, tid):
        st, _, data = self.call("get", "GET", "/todos/" + tid)
        t = self.todos[tid]
        if st == 200 and t["sure"]:
            got = json.loads(data)
            if got["title"] != t["title"] or got["done"] != t["done"]:
                self.stats.error("GET get: a stale or wrong todo")

    def op_list(self, _):
        self.call("list", "GET", "/todos?limit=20")

    def op_update(self, tid):
        t = self.todos[tid]
        done = not t["done"]
        st, _, _ = self.call("update", "PATCH", "/todos/" + tid, json.dumps({"done": done}).encode())
        if st == 200:
            t["done"] = done
        else:
            t["sure"] = False

    def op_delete(self, tid):
        st, _, _ = self.call("delete", "DELETE", "/todos/" + tid)
        if st == 204:
            self.deleted.add(tid)
        else:
            self.todos[tid]["sure"] = False
            self.deleted.add(tid)       # no longer used; its fate is unknown
            self.todos[tid]["gone?"] = True

    def op_attach(self, tid):
        data = os.urandom(self.rnd.choice((200, 4096, 70000, 300000)))
        st, _, _ = self.call("attach", "PUT", "/todos/%s/attachment" % tid, data, "application/octet-stream")
        t = self.todos[tid]
        if st == 200:
            t["attachment"], t["att_sure"] = hashlib.sha256(data).hexdigest(), True
        else:
            t["att_sure"] = False

    def op_download(self, tid):
        t = self.todos[tid]
        if t["attachment"] is None:
            return self.op_get(tid)
        st, _, data = self.call("download", "GET", "/todos/%s/attachment" % tid)
        if st == 200 and t["att_sure"] and hashlib.sha256(data).hexdigest() != t["attachment"]:
            self.stats.error("GET download: wrong bytes")

    def op_notify(self, _):
        self.take_notifications(VISIBILITY_S)

    def take_notifications(self, visibility):
        st, _, data = self.call("notifications", "GET", "/notifications?max=50&visibility=%d" % visibility)
        if st != 200:
            return 0
        items = json.loads(data)["items"]
        self.notified.update(n["todo"]["id"] for n in items)
        if items:
            self.call("ack", "POST", "/notifications/ack",
                      json.dumps({"receipts": [n["receipt"] for n in items]}).encode())
        return len(items)


def run(clients, seconds, rate=None):
    """Runs every client's mix for `seconds`; paced to `rate` requests/s
    over all of them when given."""
    stop = time.time() + seconds

    def loop(c):
        gap = len(clients) / rate if rate else 0
        nxt = time.time()
        while time.time() < stop:
            if gap:
                nxt += gap
                pause = nxt - time.time()
                if pause > 0:
                    time.sleep(pause)
                elif pause < -1:
                    nxt = time.time()   # fell behind: no burst to catch up
            c.step()

    threads = [threading.Thread(target=loop, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    return threads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--gateway-pid", type=int, required=True)
    ap.add_argument("--minutes", type=float, default=10)
    a = ap.parse_args()
    pid = a.gateway_pid
    stats = Stats()
    notified = set()
    clients = [Client(a.base, stats, notified, seed) for seed in range(THREADS)]

    for t in run(clients, PEAK_S):
        t.join()
    n, errs, killed = stats.take()
    peak = n / PEAK_S
    rate = peak * LOAD_SHARE
    rss0, fds0 = gateway_status(pid)
    print("peak: %.0f requests/s over %d s with %d client threads (the driver shares the cores); "
          "soak at %.0f requests/s (80%%) for %g min, a worker killed every %d s" %
          (peak, PEAK_S, THREADS, rate, a.minutes, KILL_EVERY_S))
    print("%-6s %9s %8s %8s %14s %10s %5s" % ("minute", "requests", "req/s", "errors", "killed calls",
                                              "RSS KiB", "fds"))
    print("%-6s %9d %8.0f %8d %14d %10d %5d" % ("peak", n, peak, sum(errs.values()), killed, rss0, fds0),
          flush=True)
    total_errors = dict(errs)

    threads = run(clients, a.minutes * 60, rate)
    start = time.time()
    kills = 0
    next_kill = start + KILL_EVERY_S
    rnd = random.Random(7)
    minute = 1
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        now = time.time()
        if now >= next_kill:
            next_kill += KILL_EVERY_S
            pids = workers_of(pid)
            if pids:
                try:
                    os.kill(rnd.choice(pids), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
        if now >= start + 60 * minute or not any(t.is_alive() for t in threads):
            n, errs, killed = stats.take()
            span = now - (start + 60 * (minute - 1))
            rss, fds = gateway_status(pid)
            print("%-6d %9d %8.0f %8d %14d %10d %5d" % (minute, n, n / span, sum(errs.values()), killed, rss, fds),
                  flush=True)
            for k, v in errs.items():
                total_errors[k] = total_errors.get(k, 0) + v
            minute += 1
    for t in threads:
        t.join()
    n, errs, killed = stats.take()
    for k, v in errs.items():
        total_errors[k] = total_errors.get(k, 0) + v
    print("workers killed: %d; unexpected errors: %s" % (kills, total_errors or "none"))

    # Read back every acknowledged write.
    reader = Client(a.base, stats, notified, 99)
    stored, cursor = {}, None
    while True:
        path = "/todos?limit=100" + ("&cursor=" + cursor if cursor else "")
        st, _, data = reader.call("readback", "GET", path)
        if st != 200:
            print("read back: GET %s answered %s; retrying" % (path, st))
            time.sleep(0.5)
            continue
        page = json.loads(data)
        for t in page["items"]:
            stored[t["id"]] = t
        cursor = page["next"]
        if cursor is None:
            break
    missing, wrong, resurrected, attachments, att_bad, checked = 0, 0, 0, 0, 0, 0
    for c in clients:
        for tid, t in c.todos.items():
            if t.get("gone?"):
                continue                      # a delete with no answer: either way is right
            if tid in c.deleted:
                if tid in stored:
                    resurrected += 1          # an acknowledged delete undone
                continue
            checked += 1
            if tid not in stored:
                missing += 1
                continue
            if t["sure"] and (stored[tid]["title"] != t["title"] or stored[tid]["done"] != t["done"]):
                wrong += 1
            if t["attachment"] and t["att_sure"]:
                attachments += 1
                st, _, data = reader.call("readback", "GET", "/todos/%s/attachment" % tid)
                if st != 200 or hashlib.sha256(data).hexdigest() != t["attachment"]:
                    att_bad += 1
    print("read back: %d todos acknowledged and not deleted: %d missing, %d with a wrong state; "
          "%d acknowledged deletes undone; %d attachments: %d missing or wrong" %
          (checked, missing, wrong, resurrected, attachments, att_bad))

    # Every acknowledged create notified at least once.
    created = set().union(*(c.created for c in clients))
    deadline = time.time() + DRAIN_S
    while not created <= notified and time.time() < deadline:
        if reader.take_notifications(30) == 0:
            time.sleep(0.2)
    lost = len(created - notified)
    print("notifications: %d acknowledged creates, %d never notified" % (len(created), lost))
    bad = missing + wrong + resurrected + att_bad + lost + sum(total_errors.values())
    print("soak: %s" % ("PASS (nothing acknowledged lost, no unexpected error)" if bad == 0 else "FAIL"))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
