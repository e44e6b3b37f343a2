#!/usr/bin/env python3
"""The real dmfltd on the real kernel: REST attach, IO, counters, detach, restarts, kill -9, hostile input."""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import hashlib
import http.client
import ssl

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "kernel"))
import dmfilter as dmf  # noqa: E402
from undo_scope import UndoScope  # noqa: E402
import suite_runner  # noqa: E402
from loop_control import remove_loop  # noqa: E402

# DMFLT_DAEMON: the dmfltd to test (scripts/test gives the release build the packages ship)
BIN = os.environ.get("DMFLT_DAEMON") or os.path.join(ROOT, os.environ.get("SWIFT_SCRATCH", ".build"), "debug", "dmfltd")
SCRATCH = tempfile.mkdtemp(prefix="dmflt-daemon-")
PROBLEM = "application/problem+json"


class Reply:
    """An HTTP answer: status_code, headers (any case), text, json()."""

    def __init__(self, status, headers, body):
        self.status_code = status
        self.headers = {k.lower(): v for k, v in headers}
        self.content = body
        self.text = body.decode("utf-8", "replace")

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.text)


HTTPError = (OSError, http.client.HTTPException)


def http_connection(url, timeout=30, cafile=None):
    """A connection to an http:// or https:// URL; HTTPS trusts only cafile."""
    host, port = url.rsplit("/", 1)[1].split(":")
    if url.startswith("https:"):
        return http.client.HTTPSConnection(
            host, int(port), timeout=timeout, context=ssl.create_default_context(cafile=cafile))
    return http.client.HTTPConnection(host, int(port), timeout=timeout)


def http_request(url, method, path, data=None, headers=None, timeout=30, cafile=None):
    """One request on a fresh connection (the standard library only: the guest has no extra packages)."""
    conn = http_connection(url, timeout, cafile)
    try:
        body = data.encode() if isinstance(data, str) else data
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (413) and close before taking the whole body: read what it said.
            if conn.sock is None:
                raise
            r = http.client.HTTPResponse(conn.sock, method=method)
            r.begin()
        return Reply(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (cmd, r.returncode, r.stderr.strip()))
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kernel_has(dev, type_name="stat"):
    return any(a["dev"] == dev and a["type"] == type_name for a in dmf.list_attachments())


def kernel_on(devs):
    """(dev, type) pairs the kernel has on the given devices, with repeats kept (a duplicate would show)."""
    return sorted((a["dev"], a["type"]) for a in dmf.list_attachments() if a["dev"] in devs)


def eventually(what, predicate, seconds=40):
    """Waits for something the daemon does on its own schedule (the reconciler runs every 10 s)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError("never happened within %ds: %s" % (seconds, what))


class Daemon:
    """One dmfltd process on a free port with its own state directory; restartable."""

    def __init__(self, state_dir, host_name="vm-test", args=(), env=None, cafile=None):
        """args: more `serve` options; env: more environment; cafile: the CA of --tls-cert (HTTPS)."""
        self.state_dir = state_dir
        self.host_name = host_name
        self.port = free_port()
        self.cafile = cafile
        self.url = "%s://127.0.0.1:%d" % ("https" if cafile else "http", self.port)
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = state_dir + ".log"

    def spawn(self):
        """Starts the process without waiting for it to answer."""
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:%d" % self.port, "--state-dir", self.state_dir,
             "--host-name", self.host_name] + self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()
        return self

    def start(self):
        self.spawn()
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("dmfltd exited with %d:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                if http_request(self.url, "GET", "/v1/health", timeout=2, cafile=self.cafile).status_code == 200:
                    return self
            except HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("dmfltd did not answer /v1/health:\n" + self.log_tail())

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()
                raise AssertionError("dmfltd ignored SIGTERM for 30 s")
            assert self.proc.returncode == 0, "dmfltd exited with %d after SIGTERM" % self.proc.returncode

    def log_tail(self, n=30):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def req(self, method, path, body=None, raw=None, headers=None, timeout=30):
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        return http_request(self.url, method, path, data, h, timeout, self.cafile)

    def put(self, aid, device, filter_name="stat", options=None):
        body = {"device": device, "filter": filter_name}
        if options is not None:
            body["options"] = options
        return self.req("PUT", "/v1/hosts/local/attachments/" + aid, body)

    def get(self, aid):
        return self.req("GET", "/v1/hosts/local/attachments/" + aid)

    def delete(self, aid):
        return self.req("DELETE", "/v1/hosts/local/attachments/" + aid)

    def items(self):
        r = self.req("GET", "/v1/hosts/local/attachments")
        assert r.status_code == 200, r.text
        return r.json()["items"]


class Scope(UndoScope):
    """Undoes what a test set up (daemons, attachments, loop devices), last first, even when it fails."""

    def loop(self, mib=32):
        img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
        with open(img, "wb") as f:
            f.truncate(mib << 20)
        path = sh("losetup -f --show %s" % img).stdout.strip()
        dev = dmf.dev_of(path)

        def undo():
            if kernel_has(dev, "mirror"):
                dmf.message(dev, "mirror", "release")  # a cut-over mirror refuses a plain detach
            for type_name in ("stat", "guard", "cbt", "cow", "mirror"):
                if kernel_has(dev, type_name):
                    dmf.detach(dev, type_name)
            sh("losetup -d %s" % path, check=False)
            os.unlink(img)
        self.later(undo)
        sh("udevadm settle", check=False)
        return path, dev

    def daemon(self):
        d = Daemon(tempfile.mkdtemp(dir=SCRATCH, prefix="state-"))
        self.later(d.kill9)
        return d.start()


def majmin(dev):
    return "%d:%d" % (os.major(dev), os.minor(dev))


def counters(d, aid):
    r = d.get(aid)
    assert r.status_code == 200, r.text
    c = r.json()["status"].get("counters")
    assert c is not None, "no counters in %s" % r.text
    return c


def settled_counters(d, aid):
    """The counters once udev's queue is empty and two readings 0.5 s apart agree."""
    sh("udevadm settle", check=False)
    last = counters(d, aid)
    for _ in range(20):
        time.sleep(0.5)
        now = counters(d, aid)
        if now == last:
            return now
        last = now
    return last


# ---------------------------------------------------------------- tests

def test_host_says_the_filter_ioctl_is_there(s):
    d = s.daemon()
    host = d.req("GET", "/v1/host").json()
    assert host["name"] == "vm-test" and host["filterIoctl"] is True, host
    assert host["reason"] is None and "stat" in [t["name"] for t in host["filterTypes"]], host
    assert host["kernelRelease"] == os.uname().release, host
    hosts = d.req("GET", "/v1/hosts").json()["items"]
    assert [(h["name"], h["self"], h["status"]) for h in hosts] == [("vm-test", True, "up")], hosts
    filters = {f["name"]: f for f in d.req("GET", "/v1/filters").json()["items"]}
    assert filters["stat"]["loaded"] is True and filters["stat"]["version"] == "1.0.0", filters


def test_attach_io_counters_detach(s):
    path, dev = s.loop()
    d = s.daemon()
    r = d.put("io", path)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["status"]["phase"] == "attached" and a["status"]["attachedAt"], a
    assert a["device"] == {"path": path, "dev": majmin(dev), "name": os.path.basename(path)}, a
    assert r.header("Location") == "/v1/hosts/vm-test/attachments/io", r.headers
    assert kernel_on([dev]) == [(dev, "stat")]
    sh("dd if=/dev/urandom of=%s bs=4096 count=100 oflag=direct status=none" % path)
    c = counters(d, "io")
    assert c["writeBios"] == 100 and c["writeBytes"] == 409600, c
    assert c["discardBios"] == 0 and c["skippedBios"] == 0, c
    # udev probes a device after a writer closes it; its reads are not ours, so count ours as a difference.
    before = settled_counters(d, "io")
    sh("dd if=%s of=/dev/null bs=4096 count=25 iflag=direct status=none" % path)
    c = counters(d, "io")
    assert c["readBios"] - before["readBios"] == 25, (before, c)
    assert c["readBytes"] - before["readBytes"] == 102400 and c["writeBios"] == 100, (before, c)
    r = d.req("POST", "/v1/hosts/local/attachments/io/messages", {"message": "reset"})
    assert r.status_code == 200 and isinstance(r.json()["reply"], str), r.text
    c = counters(d, "io")
    assert c["writeBios"] == 0 and c["readBios"] == 0, c
    devices = {x["path"]: x for x in d.req("GET", "/v1/hosts/local/devices").json()["items"]}
    assert devices[path]["attachments"] == ["io"] and devices[path]["dev"] == majmin(dev), devices[path]
    r = d.delete("io")
    assert r.status_code == 204, r.text
    assert not kernel_has(dev)
    assert d.get("io").status_code == 404
    assert d.items() == []


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def direct_write(path, block):
    """One 4 KiB O_DIRECT write at 4 KiB block `block`: one bio; returns dd's result."""
    return sh("dd if=/dev/urandom of=%s bs=4096 count=1 seek=%d oflag=direct conv=notrunc status=none"
              % (path, block), check=False)


def test_guard_read_only_fails_writes_counts_them_and_detach_restores(s):
    path, dev = s.loop()
    sh("dd if=/dev/urandom of=%s bs=4096 count=64 oflag=direct status=none" % path)
    sh("udevadm settle", check=False)
    before = sha256_of(path)
    d = s.daemon()
    filters = {f["name"]: f for f in d.req("GET", "/v1/filters").json()["items"]}
    assert filters["guard"]["loaded"] is True and filters["guard"]["version"] == "1.0.0", filters["guard"]
    r = d.put("ro", path, "guard", {"mode": "read-only"})
    assert r.status_code == 201 and r.json()["status"]["phase"] == "attached", r.text
    assert kernel_has(dev, "guard")
    for block in (0, 2, 63):
        w = direct_write(path, block)
        assert w.returncode != 0 and "Input/output error" in w.stderr, (block, w.returncode, w.stderr)
    got = sh("dd if=%s of=/dev/null bs=4096 count=64 iflag=direct status=none" % path, check=False)
    assert got.returncode == 0, got.stderr
    assert sha256_of(path) == before, "a denied write changed the device"
    f = d.get("ro").json()["status"]["filter"]
    assert f["mode"] == "read-only" and f["wholeDevice"] is True and f["error"] == "eio", f
    assert f["denied"]["write"] == {"bios": 3, "bytes": 12288}, f
    assert f["denied"]["read"] == {"bios": 0, "bytes": 0}, f
    events = d.req("GET", "/v1/hosts/local/attachments/ro/events")
    assert events.status_code == 200, events.text
    items = events.json()["items"]
    assert [(e["op"], e["offset"], e["length"], e["verdict"]) for e in items] == \
        [("write", 0, 4096, "denied"), ("write", 8192, 4096, "denied"), ("write", 63 * 4096, 4096, "denied")], items
    newer = d.req("GET", "/v1/hosts/local/attachments/ro/events?since=%d" % items[0]["sequence"]).json()["items"]
    assert [e["offset"] for e in newer] == [8192, 63 * 4096], newer
    metrics = d.req("GET", "/metrics").text
    assert 'dmflt_guard_denied_bios_total{attachment="ro",op="write"} 3' in metrics, metrics[-2000:]
    r = d.delete("ro")
    assert r.status_code == 204, r.text
    assert not kernel_has(dev, "guard")
    w = direct_write(path, 0)
    assert w.returncode == 0, w.stderr
    assert sha256_of(path) != before


def test_guard_on_a_range_and_bad_guard_options_attach_nothing(s):
    path, dev = s.loop()
    d = s.daemon()
    for options in ({"mode": "ro"}, {"ranges": "100+512"}, {"ranges": "0+0"}, {"error": "eperm"}, {"colour": "red"}):
        r = d.put("bad", path, "guard", options)
        assert r.status_code == 400 and r.json()["type"] == "urn:dmflt:problem:invalid-value", (options, r.text)
    assert not kernel_has(dev, "guard") and d.items() == []
    r = d.put("fence", path, "guard", {"mode": "deny", "ranges": "1M+64K"})
    assert r.status_code == 201, r.text
    assert direct_write(path, 0).returncode == 0, "outside the range a write passes"
    w = direct_write(path, 256)
    assert w.returncode != 0 and "Input/output error" in w.stderr, w.stderr
    r = sh("dd if=%s of=/dev/null bs=4096 count=1 skip=256 iflag=direct status=none" % path, check=False)
    assert r.returncode != 0, "deny mode fails a read inside the range"
    f = d.get("fence").json()["status"]["filter"]
    assert f["ranges"] == [{"offset": 1 << 20, "length": 65536}] and f["wholeDevice"] is False, f
    assert f["denied"]["write"]["bios"] == 1 and f["denied"]["read"]["bios"] >= 1, f
    assert d.delete("fence").status_code == 204


def test_cbt_marks_changes_generations_and_the_reconciler_through_rest(s):
    path, dev = s.loop()
    sh("udevadm control --stop-exec-queue", check=False)
    s.later(lambda: sh("udevadm control --start-exec-queue", check=False))
    d = s.daemon()
    base = "/v1/hosts/local/attachments/cb"
    for options in ({"block-size": 2048}, {"block-size": "12K"}, {"block-size": "128M"},
                    {"track-discards": "no"}, {"blocksize": 4096}):
        r = d.put("cb", path, "cbt", options)
        assert r.status_code == 400 and r.json()["type"] == "urn:dmflt:problem:invalid-value", (options, r.text)
    assert not kernel_has(dev, "cbt") and d.items() == []
    r = d.put("cb", path, "cbt", {"block-size": "64K"})
    assert r.status_code == 201 and r.json()["status"]["phase"] == "attached", r.text
    f = d.get("cb").json()["status"]["filter"]
    assert (f["sequence"], f["blockSize"], f["blocks"], f["deviceSize"], f["changedBlocks"],
            f["generationReason"], f["trackDiscards"]) == (0, 65536, 512, 32 << 20, 0, "attach", True), f
    gen = f["generation"]
    assert direct_write(path, 0).returncode == 0
    m = d.req("POST", base + "/marks")
    assert m.status_code == 201 and m.json()["sequence"] == 1 and m.json()["generation"] == gen, m.text
    for block in (16, 17, 8191):  # 64 KiB block 1, then the device's last block
        assert direct_write(path, block).returncode == 0
    r = d.req("GET", base + "/changes?since=1&generation=" + gen)
    assert r.status_code == 200, r.text
    assert r.json() == {"generation": gen, "sequence": 1, "since": 1, "blockSize": 65536,
                        "deviceSize": 32 << 20, "extents": [{"offset": 65536, "length": 65536},
                                                            {"offset": 511 * 65536, "length": 65536}]}, r.text
    assert [e["offset"] for e in d.req("GET", base + "/changes").json()["extents"]] == [0, 511 * 65536]
    c = d.req("GET", base + "/changes?since=1", headers={"Accept": "application/octet-stream"})
    assert c.status_code == 200 and c.header("content-type") == "application/octet-stream", c.headers
    assert c.content[:8] == b"DMFLTCBT" and len(c.content) == 64 + 512 // 8, len(c.content)
    assert [i for i in range(512) if c.content[64 + i // 8] >> (i % 8) & 1] == [1, 511]
    metrics = d.req("GET", "/metrics").text
    assert 'dmflt_cbt_changed_blocks{attachment="cb"} 3' in metrics, metrics[-2000:]
    assert 'dmflt_cbt_sequence{attachment="cb"} 1' in metrics, metrics[-2000:]
    assert d.req("GET", base + "/changes?since=2").status_code == 400
    # a re-attach by the reconciler (the filter was detached behind its back) is a new generation
    dmf.detach(dev, "cbt")
    eventually("the reconciler re-attaches cbt", lambda: kernel_has(dev, "cbt"))
    f = d.get("cb").json()["status"]["filter"]
    assert f["generation"] != gen and f["generationReason"] == "attach" and f["sequence"] == 0, f
    r = d.req("GET", base + "/changes?since=1&generation=" + gen)
    assert r.status_code == 409 and r.json()["type"] == "urn:dmflt:problem:generation-changed", r.text
    gen2 = f["generation"]
    r = d.req("POST", base + "/messages", {"message": "reset"})
    assert r.status_code == 200, r.text
    f = d.get("cb").json()["status"]["filter"]
    assert f["generation"] not in (gen, gen2) and f["generationReason"] == "reset", f
    assert d.delete("cb").status_code == 204 and not kernel_has(dev, "cbt")


def test_put_is_idempotent_and_a_different_spec_conflicts(s):
    path, dev = s.loop()
    other, _ = s.loop()
    d = s.daemon()
    first = d.put("same", path)
    assert first.status_code == 201, first.text
    again = d.put("same", majmin(dev))
    assert again.status_code == 200 and again.json() == first.json(), (first.text, again.text)
    r = d.put("same", other)
    assert r.status_code == 409 and r.header("Content-Type") == PROBLEM, r.text
    r = d.put("second-id", path)
    assert r.status_code == 409 and r.json()["type"] == "urn:dmflt:problem:conflict", r.text
    assert kernel_on([dev]) == [(dev, "stat")]
    assert [i["id"] for i in d.items()] == ["same"]


def test_concurrent_attaches_have_one_winner(s):
    path, dev = s.loop()
    d = s.daemon()
    statuses = []
    lock = threading.Lock()

    def one(i):
        r = d.put("racer-%d" % i, path)
        with lock:
            statuses.append(r.status_code)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * 7, statuses
    assert kernel_on([dev]) == [(dev, "stat")]
    assert len(d.items()) == 1


def test_restart_keeps_attachments(s):
    path, dev = s.loop()
    d = s.daemon()
    assert d.put("keep", path).status_code == 201
    d.kill9()
    assert kernel_has(dev), "kill -9 of the daemon must leave the kernel's attachment alone"
    d.start()
    a = d.get("keep").json()
    assert a["status"]["phase"] == "attached", a
    d.stop()
    assert kernel_has(dev), "stopping the daemon must not detach anything"
    d.start()
    assert d.get("keep").json()["status"]["phase"] == "attached"
    assert kernel_on([dev]) == [(dev, "stat")]
    assert d.delete("keep").status_code == 204


def test_restart_reattaches_what_was_removed_by_hand(s):
    path, dev = s.loop()
    d = s.daemon()
    assert d.put("back", path).status_code == 201
    d.stop()
    dmf.detach(dev, "stat")
    assert not kernel_has(dev)
    d.start()
    assert kernel_on([dev]) == [(dev, "stat")], "the restart's first reconcile must re-attach"
    assert d.get("back").json()["status"]["phase"] == "attached"
    # And while running: the periodic pass brings it back.
    dmf.detach(dev, "stat")
    eventually("the reconciler re-attaches", lambda: kernel_has(dev))
    assert kernel_on([dev]) == [(dev, "stat")]


def test_a_device_named_by_number_is_attached_when_it_appears(s):
    minor = next(m for m in range(200, 256) if not os.path.exists("/sys/dev/block/7:%d" % m))
    node = "/dev/loop%d" % minor
    d = s.daemon()
    r = d.put("later", "7:%d" % minor)
    assert r.status_code == 201 and r.json()["status"]["phase"] == "waiting-device", r.text
    img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    if not os.path.exists(node):
        sh("mknod %s b 7 %d" % (node, minor))
    sh("losetup %s %s" % (node, img))
    dev = os.makedev(7, minor)
    s.later(lambda: sh("losetup -d %s" % node, check=False))
    s.later(lambda: dmf.detach(dev, "stat") if kernel_has(dev) else None)
    eventually("the waiting attachment attaches", lambda: kernel_has(dev))
    eventually("its phase says attached", lambda: d.get("later").json()["status"]["phase"] == "attached")
    sh("losetup -d %s" % node)
    remove_loop(minor)
    # Opening a stale node would create the loop device again (the kernel's legacy autoload).
    if os.path.exists(node):
        os.unlink(node)
    eventually("the kernel drops the filter of a vanished device", lambda: not kernel_has(dev), 20)
    last = {}

    def waiting():
        last["answer"] = d.get("later").text
        return json.loads(last["answer"])["status"]["phase"] == "waiting-device"
    try:
        eventually("the phase goes back to waiting-device", waiting)
    except AssertionError as e:
        raise AssertionError("%s; last answer %s; /sys/dev/block/7:%d exists: %s"
                             % (e, last.get("answer"), minor, os.path.exists("/sys/dev/block/7:%d" % minor)))


def test_unmanaged_attachments_are_shown_and_left_alone(s):
    path, dev = s.loop()
    dmf.attach(dev, "stat")
    d = s.daemon()
    uid = "unmanaged-%d-%d-stat" % (os.major(dev), os.minor(dev))
    items = {i["id"]: i for i in d.items()}
    assert items[uid]["status"]["phase"] == "unmanaged", items
    r = d.put("mine", path)
    assert r.status_code == 409 and r.json()["type"] == "urn:dmflt:problem:already-attached", r.text
    r = d.delete(uid)
    assert r.status_code == 409 and r.json()["type"] == "urn:dmflt:problem:unmanaged", r.text
    d.stop()
    d.start()
    assert kernel_on([dev]) == [(dev, "stat")]
    assert uid in [i["id"] for i in d.items()]
    dmf.detach(dev, "stat")


def hostile_requests(path, chardev):
    big = "x" * (2 << 20)
    put = "/v1/hosts/local/attachments/h1"
    ok = {"device": path, "filter": "stat"}
    j = {"Content-Type": "application/json"}
    return [
        ("malformed json", "PUT", put, '{"device": ', j, 400),
        ("empty body", "PUT", put, "", j, 400),
        ("array body", "PUT", put, "[]", j, 400),
        ("unknown field", "PUT", put, json.dumps(dict(ok, colour="red")), j, 400),
        ("device not a string", "PUT", put, json.dumps({"device": 7, "filter": "stat"}), j, 400),
        ("filter missing", "PUT", put, json.dumps({"device": path}), j, 400),
        ("options not an object", "PUT", put, json.dumps(dict(ok, options=[1])), j, 400),
        ("option of a wrong type", "PUT", put, json.dumps(dict(ok, options={"x": {"y": 1}})), j, 400),
        ("unknown option", "PUT", put, json.dumps(dict(ok, options={"colour": "red"})), j, 400),
        ("unknown filter", "PUT", put, json.dumps({"device": path, "filter": "nosuch"}), j, 400),
        ("regular file", "PUT", put, json.dumps({"device": "/etc/passwd", "filter": "stat"}), j, 400),
        ("character device", "PUT", put, json.dumps({"device": chardev, "filter": "stat"}), j, 400),
        ("missing device", "PUT", put, json.dumps({"device": "/dev/nosuchdisk", "filter": "stat"}), j, 400),
        ("path traversal", "PUT", put, json.dumps({"device": "/dev/../etc/passwd", "filter": "stat"}), j, 400),
        ("huge device name", "PUT", put, json.dumps({"device": "a" * 5000, "filter": "stat"}), j, 400),
        ("huge id", "PUT", "/v1/hosts/local/attachments/" + "a" * 300, json.dumps(ok), j, 400),
        ("upper-case id", "PUT", "/v1/hosts/local/attachments/ABC", json.dumps(ok), j, 400),
        ("reserved id", "PUT", "/v1/hosts/local/attachments/unmanaged-1-2-stat", json.dumps(ok), j, 400),
        ("text/plain body", "PUT", put, json.dumps(ok), {"Content-Type": "text/plain"}, 415),
        ("no content type", "PUT", put, json.dumps(ok), {}, 415),
        ("body over 1 MiB", "PUT", put, big, j, 413),
        ("other host", "PUT", "/v1/hosts/elsewhere/attachments/h1", json.dumps(ok), j, 404),
        ("other host list", "GET", "/v1/hosts/elsewhere/attachments", None, {}, 404),
        ("unknown route", "GET", "/v1/nothing", None, {}, 404),
        ("delete unknown", "DELETE", "/v1/hosts/local/attachments/nosuch", None, {}, 404),
        ("message unknown", "POST", "/v1/hosts/local/attachments/nosuch/messages",
         json.dumps({"message": "reset"}), j, 404),
        ("empty message", "POST", "/v1/hosts/local/attachments/keep/messages", json.dumps({"message": ""}), j, 400),
        ("message not a string", "POST", "/v1/hosts/local/attachments/keep/messages",
         json.dumps({"message": 5}), j, 400),
        ("method not allowed", "PATCH", "/v1/hosts/local/attachments/keep", json.dumps(ok), j, 405),
        ("post with id", "POST", "/v1/hosts/local/attachments", json.dumps(dict(ok, id="x")), j, 400),
    ]


def test_hostile_input_is_refused_and_changes_nothing(s):
    path, dev = s.loop()
    kept, kept_dev = s.loop()
    d = s.daemon()
    assert d.put("keep", kept).status_code == 201
    before_items = d.items()
    before_kernel = kernel_on([dev, kept_dev])
    bad = []
    for name, method, p, body, headers, want in hostile_requests(path, "/dev/null"):
        r = d.req(method, p, raw=body, headers=headers)
        problem = {}
        if r.header("Content-Type") == PROBLEM:
            problem = r.json()
        if (r.status_code != want or r.header("Content-Type") != PROBLEM
                or not problem.get("type", "").startswith("urn:dmflt:problem:")
                or problem.get("status") != want or not problem.get("detail")):
            bad.append("%s: got %d %s %s" % (name, r.status_code, r.header("Content-Type"), r.text[:200]))
    assert not bad, "\n".join(bad)
    assert d.items() == before_items
    assert kernel_on([dev, kept_dev]) == before_kernel
    assert d.proc.poll() is None, "the daemon died"


def test_kill9_during_100_attach_detach_cycles_converges(s):
    loops = [s.loop() for _ in range(3)]
    d = s.daemon()
    rng = random.Random(int(os.environ.get("DMFLT_SEED", "4")))
    # Per device: the state its last answered request left ("attached"/"absent"), or None when
    # the last request was cut off by the kill (then either outcome is correct).
    expected = {dev: "absent" for _, dev in loops}
    kills = 0
    for cycle in range(100):
        path, dev = rng.choice(loops)
        aid = "cyc-%d" % os.minor(dev)
        attach = rng.random() < 0.5
        outcome = {}

        def send():
            try:
                r = d.put(aid, path) if attach else d.delete(aid)
                outcome["status"] = r.status_code
                outcome["body"] = r.text
            except HTTPError as e:
                outcome["error"] = str(e)
        t = threading.Thread(target=send)
        t.start()
        kill = rng.random() < 0.3
        if kill:
            time.sleep(rng.uniform(0, 0.06))
            d.kill9()
            kills += 1
        t.join()
        if "status" in outcome:
            st = outcome["status"]
            if attach:
                assert st in (200, 201), "cycle %d: PUT answered %d %s" % (cycle, st, outcome["body"])
                expected[dev] = "attached"
            else:
                assert st in (204, 404), "cycle %d: DELETE answered %d %s" % (cycle, st, outcome["body"])
                expected[dev] = "absent"
        else:
            expected[dev] = None
        if kill:
            d.start()
    d.stop()
    d.start()
    devs = [dev for _, dev in loops]
    items = [i for i in d.items() if i["id"].startswith("cyc-")]
    assert not [i for i in d.items() if i["status"]["phase"] == "unmanaged"], d.items()
    by_dev = {}
    for i in items:
        dv = os.makedev(*map(int, i["device"]["dev"].split(":")))
        assert dv not in by_dev, "two attachments for one device: %s" % items
        by_dev[dv] = i
        assert i["status"]["phase"] == "attached", i
    kernel = kernel_on(devs)
    assert len(kernel) == len(set(kernel)), kernel
    for dev in devs:
        in_kernel = (dev, "stat") in kernel
        assert in_kernel == (dev in by_dev), "device %s: kernel %s, daemon %s" % (majmin(dev), in_kernel, by_dev.get(dev))
        if expected[dev] is not None:
            assert in_kernel == (expected[dev] == "attached"), \
                "device %s: last answered request said %s, kernel says %s" % (majmin(dev), expected[dev], in_kernel)
    print("    %d cycles, %d kills, final: %s" % (100, kills, {majmin(k): v for k, v in expected.items()}))


# ---------------------------------------------------------------- cow

def fill_pattern(path, mib, seed):
    """Writes `mib` MiB of a pattern that differs in every 4 KiB block; returns the bytes written."""
    rnd = random.Random(seed)
    data = b"".join(rnd.randbytes(4096) for _ in range(mib * 256))
    with open(path, "r+b", buffering=0) as f:
        f.write(data)
        os.fsync(f.fileno())
    return data


def dio_write(path, offset, data):
    """One O_DIRECT write of `data` (a multiple of 4 KiB) at byte `offset`."""
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        import mmap
        buf = mmap.mmap(-1, len(data))
        buf.write(data)
        assert os.pwrite(fd, buf, offset) == len(data)
    finally:
        os.close(fd)


def dio_read(path, offset, length):
    """One O_DIRECT read: what the device has, past any page cache."""
    import mmap
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, length)
        assert os.preadv(fd, [buf], offset) == length
        return bytes(buf)
    finally:
        os.close(fd)


def cow_image_path(d, aid):
    f = d.get(aid).json()["status"]["filter"]
    assert f["image"], f
    return "/dev/" + f["image"], f


def test_cow_snapshot_over_rest_image_by_range_busy_force_and_cleanup(s):
    path, dev = s.loop(32)
    old = fill_pattern(path, 32, 1)
    d = s.daemon()
    diff = os.path.join(SCRATCH, "diff-%d" % os.getpid())
    for options in ({"diff-storage": path, "diff-storage-limit": "8M"},  # the snapshotted device itself
                    {"diff-storage": "diff", "diff-storage-limit": "8M"},  # relative
                    {"diff-storage": diff, "diff-storage-limit": 4096},  # below one chunk
                    {"diff-storage": diff, "diff-storage-limit": "8M", "chunk-size": "96K"},
                    {"diff-storage": diff}):  # a file needs its size
        r = d.put("snap", path, "cow", options)
        assert r.status_code == 400 and r.json()["type"] == "urn:dmflt:problem:invalid-value", (options, r.text)
    assert not kernel_has(dev, "cow") and d.items() == [] and not os.path.exists(diff)
    r = d.put("snap", path, "cow", {"diff-storage": diff, "diff-storage-limit": "40M"})
    assert r.status_code == 201 and r.json()["status"]["phase"] == "attached", r.text
    assert os.path.getsize(diff) == 40 << 20
    image, f = cow_image_path(d, "snap")
    assert f["state"] == "active" and f["deviceSize"] == 32 << 20 and f["diffStorage"]["path"] == diff, f
    new = bytearray(fill_pattern(path, 32, 2))
    for offset in (65536 - 2048 - 2048, 3 * 65536 - 4096, (32 << 20) - 4096):  # across chunk edges, the end
        chunk = random.Random(offset).randbytes(4096 if offset % 4096 == 0 else 8192)
        dio_write(path, offset, chunk)
        new[offset:offset + len(chunk)] = chunk
    assert sha256_of(path) == hashlib.sha256(new).hexdigest(), "the original holds what was written"
    want = hashlib.sha256(old).hexdigest()
    f = d.get("snap").json()["status"]["filter"]
    assert f["state"] == "active" and f["error"] is None, f
    assert sha256_of(image) == want, "the image device is the device at the take"
    g = d.req("GET", "/v1/hosts/local/attachments/snap/image", timeout=120)
    assert g.status_code == 200 and g.header("accept-ranges") == "bytes", g.headers
    assert g.header("content-type") == "application/octet-stream"
    assert hashlib.sha256(g.content).hexdigest() == want, "the image over HTTP is the device at the take"
    h = d.req("HEAD", "/v1/hosts/local/attachments/snap/image")
    assert h.status_code == 200 and h.header("content-length") == str(32 << 20), h.headers
    part = d.req("GET", "/v1/hosts/local/attachments/snap/image", headers={"Range": "bytes=65530-65545"})
    assert part.status_code == 206 and part.header("content-range") == "bytes 65530-65545/%d" % (32 << 20)
    assert part.content == old[65530:65546]
    tail = d.req("GET", "/v1/hosts/local/attachments/snap/image", headers={"Range": "bytes=-4096"})
    assert tail.status_code == 206 and tail.content == old[-4096:]
    beyond = d.req("GET", "/v1/hosts/local/attachments/snap/image", headers={"Range": "bytes=%d-" % (32 << 20)})
    assert beyond.status_code == 416 and beyond.header("content-range") == "bytes */%d" % (32 << 20)
    metrics = d.req("GET", "/metrics").text
    assert 'dmflt_cow_state{attachment="snap",state="active"} 1' in metrics, metrics[-3000:]
    f = d.get("snap").json()["status"]["filter"]
    assert f["copiedChunks"] == f["chunks"] == 512 and f["diffStorage"]["used"] == 32 << 20, f
    reader = os.open(image, os.O_RDONLY | os.O_DIRECT)  # past the page cache: the reads reach the image
    try:
        r = d.delete("snap")
        assert r.status_code == 409 and r.json()["type"] == "urn:dmflt:problem:busy", r.text
        assert kernel_has(dev, "cow") and d.get("snap").json()["status"]["phase"] == "attached"
        assert d.req("DELETE", "/v1/hosts/local/attachments/snap?force=true").status_code == 204
        assert not kernel_has(dev, "cow") and not os.path.exists(diff), "force detaches and removes the file"
        import mmap
        buf = mmap.mmap(-1, 4096)
        # the deleted image is frozen at size 0: a read is EIO, or end of file; never data
        try:
            n = os.preadv(reader, [buf], 0)
            assert n == 0, "the image's reader read %d bytes after a forced detach" % n
        except OSError as e:
            assert e.errno == 5, e
    finally:
        os.close(reader)
    assert sha256_of(path) == hashlib.sha256(new).hexdigest(), "the original is untouched by the detach"


def test_cow_overflow_keeps_every_write_and_the_image_is_refused(s):
    path, dev = s.loop(16)
    fill_pattern(path, 16, 3)
    d = s.daemon()
    diff = os.path.join(SCRATCH, "diff-small-%d" % os.getpid())
    r = d.put("small", path, "cow", {"diff-storage": diff, "diff-storage-limit": "256K"})
    assert r.status_code == 201, r.text
    new = fill_pattern(path, 16, 4)
    assert sha256_of(path) == hashlib.sha256(new).hexdigest(), "every write landed"
    f = d.get("small").json()["status"]["filter"]
    assert f["state"] == "overflowed" and f["error"] == "diff-storage-full", f
    r = d.req("GET", "/v1/hosts/local/attachments/small/image")
    assert r.status_code == 409 and r.json()["type"] == "urn:dmflt:problem:image-unavailable", r.text
    assert 'dmflt_cow_state{attachment="small",state="overflowed"} 1' in d.req("GET", "/metrics").text
    events = d.req("GET", "/v1/hosts/local/attachments/small/events").json()["items"]
    assert [(e["sequence"], e["type"]) for e in events] == [
        (1, "taken"), (2, "diff-storage-80-percent"), (3, "overflowed")], events
    assert events[2]["error"] == "diff-storage-full" and events[0]["time"] == f["takenAt"], events
    assert d.delete("small").status_code == 204 and not kernel_has(dev, "cow") and not os.path.exists(diff)


def test_cow_kill9_adopts_the_same_snapshot_and_a_lost_one_is_never_retaken(s):
    path, dev = s.loop(16)
    d = s.daemon()
    diff = os.path.join(SCRATCH, "diff-restart-%d" % os.getpid())
    assert d.put("keep", path, "cow", {"diff-storage": diff, "diff-storage-limit": "16M"}).status_code == 201
    taken = d.get("keep").json()["status"]["filter"]["takenAt"]
    d.kill9()
    d.start()
    a = d.get("keep").json()
    assert a["status"]["phase"] == "attached" and a["status"]["filter"]["takenAt"] == taken, a
    d.stop()
    dmf.detach(dev, "cow")  # what a reboot or a module unload leaves: no snapshot in the kernel
    d.start()
    eventually("the lost snapshot is failed", lambda: d.get("keep").json()["status"]["phase"] == "failed")
    a = d.get("keep").json()
    assert "snapshot lost" in (a["status"].get("error") or ""), a
    time.sleep(3)  # more reconcile passes: none may take a new snapshot in its place
    assert not kernel_has(dev, "cow"), "the reconciler took a new snapshot in place of the lost one"
    assert d.delete("keep").status_code == 204 and not os.path.exists(diff)


# ---------------------------------------------------------------- mirror

def mirror_status(d, aid):
    a = d.get(aid).json()
    return a["status"]["phase"], a["status"].get("filter") or {}


def wait_synchronized(d, aid, seconds=120):
    eventually("%s synchronized" % aid, lambda: mirror_status(d, aid)[1].get("state") == "synchronized", seconds)
    return mirror_status(d, aid)[1]


def test_mirror_over_rest_progress_kill9_cutover_and_detach(s):
    source, dev = s.loop(32)
    target, _ = s.loop(32)
    small, _ = s.loop(16)
    fill_pattern(source, 32, 7)
    d = s.daemon()
    for options, why in (({"target": small}, "smaller"), ({"target": source}, "the device itself"),
                         ({"target": target, "region-size": "100K"}, "power of two"), ({}, "target")):
        r = d.put("mig", source, "mirror", options)
        assert r.status_code == 400 and r.json()["type"] == "urn:dmflt:problem:invalid-value", (options, r.text)
        assert why in r.json()["detail"], (why, r.text)
    # a device stacked on the source holds its data: refused, before the kernel is asked
    sh("dmsetup create dmflt-test-holder --table '0 %d linear %s 0'" % (32 << 11, source))
    try:
        sh("udevadm settle", check=False)
        r = d.put("mig", source, "mirror", {"target": "/dev/mapper/dmflt-test-holder"})
        assert r.status_code == 400 and "stacked on the device" in r.json()["detail"], r.text
    finally:
        sh("dmsetup remove --retry dmflt-test-holder")
    assert not kernel_has(dev, "mirror") and d.items() == []
    # a detach before the copy ends says the target is incomplete
    assert d.put("mig", source, "mirror", {"target": target, "rate-limit": "1M"}).status_code == 201
    r = d.delete("mig")
    assert r.status_code == 200 and r.json()["targetComplete"] is False, r.text
    assert r.json()["copiedBytes"] < r.json()["totalBytes"] == 32 << 20, r.text
    assert not kernel_has(dev, "mirror")

    r = d.put("mig", source, "mirror", {"target": target, "rate-limit": "4M"})
    assert r.status_code == 201 and r.json()["status"]["phase"] == "attached", r.text
    eventually("copy progress", lambda: mirror_status(d, "mig")[1].get("copiedBytes", 0) > 0)
    phase, f = mirror_status(d, "mig")
    assert f["state"] == "copying" and f["totalBytes"] == 32 << 20, f
    assert f["target"] == majmin(dmf.dev_of(target)), f
    assert f["bytesPerSecond"] >= 0 and "secondsLeft" in f, f
    r = d.req("POST", "/v1/hosts/local/attachments/mig/messages", {"message": "cutover"})
    assert r.status_code == 409, r.text
    # kill -9 mid-copy: the restarted daemon adopts the running mirror, and the copy goes on
    before = f["copiedBytes"]
    d.kill9()
    d.start()
    phase, f = mirror_status(d, "mig")
    assert phase == "attached" and f["copiedBytes"] >= before, f
    eventually("the copy goes on after kill -9", lambda: mirror_status(d, "mig")[1]["copiedBytes"] > before)
    f = wait_synchronized(d, "mig")
    assert f["copiedBytes"] == f["totalBytes"] and f["synchronizedAt"] is not None, f
    assert sha256_of(source) == sha256_of(target)
    events = d.req("GET", "/v1/hosts/local/attachments/mig/events").json()["items"]
    assert [(e["sequence"], e["type"]) for e in events] == [(1, "copying"), (2, "synchronized")], events
    metrics = d.req("GET", "/metrics").text
    assert 'dmflt_mirror_state{attachment="mig",state="synchronized"} 1' in metrics, metrics[-3000:]
    assert 'dmflt_mirror_copied_bytes{attachment="mig"} %d' % (32 << 20) in metrics, metrics[-3000:]

    r = d.req("POST", "/v1/hosts/local/attachments/mig/messages", {"message": "cutover"})
    assert r.status_code == 200, r.text
    f = mirror_status(d, "mig")[1]
    assert f["state"] == "cutover" and f["cutoverAt"] is not None, f
    new = random.Random(8).randbytes(1 << 20)
    dio_write(source, 0, new)
    assert dio_read(target, 0, 1 << 20) == new, "a write after cutover did not land on the target"
    r = d.delete("mig")
    assert r.status_code == 409 and r.json()["type"] == "urn:dmflt:problem:cutover-active", r.text
    assert kernel_has(dev, "mirror") and mirror_status(d, "mig")[0] == "attached"
    assert d.req("DELETE", "/v1/hosts/local/attachments/mig?force=true").status_code == 204
    assert not kernel_has(dev, "mirror")


def test_mirror_after_a_reboot_copies_again_but_never_after_cutover(s):
    source, dev = s.loop(16)
    target, _ = s.loop(16)
    d = s.daemon()
    assert d.put("mig", source, "mirror", {"target": target}).status_code == 201
    first = wait_synchronized(d, "mig")
    d.stop()
    dmf.detach(dev, "mirror")  # what a reboot leaves: no mirror in the kernel
    d.start()
    eventually("re-attached after the reboot", lambda: kernel_has(dev, "mirror"))
    f = wait_synchronized(d, "mig")
    assert f["startedAt"] > first["startedAt"], (first, f)  # copied again from the start
    assert d.req("POST", "/v1/hosts/local/attachments/mig/messages", {"message": "cutover"}).status_code == 200
    d.stop()
    dmf.message(dev, "mirror", "release")
    dmf.detach(dev, "mirror")
    d.start()
    eventually("failed after the reboot", lambda: mirror_status(d, "mig")[0] == "failed")
    a = d.get("mig").json()
    assert "the source is stale since cutover at 20" in (a["status"].get("error") or ""), a
    assert "point consumers at the target" in a["status"]["error"], a
    time.sleep(3)  # more reconcile passes: none may attach it again
    assert not kernel_has(dev, "mirror"), "a cut-over mirror was attached again after a reboot"
    assert d.delete("mig").status_code == 204



# ---------------------------------------------------------------- under systemd

class NotifySocket:
    """An AF_UNIX datagram socket at an abstract name, where a service manager hears sd_notify."""

    def __init__(self):
        self.name = "@dmflt-notify-%d-%d" % (os.getpid(), random.randrange(1 << 30))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])

    def next(self, timeout=60):
        """The next message as a dict of its assignments."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            raise AssertionError("no sd_notify message within %ds" % timeout)
        return dict(line.split("=", 1) for line in data.splitlines() if line)

    def close(self):
        self.sock.close()


def write_tokens(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def make_certificate(directory):
    """A self-signed certificate for 127.0.0.1 and its key; returns (cert, key, SHA-256 fingerprint)."""
    os.makedirs(directory)
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=dmflt "
       "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s 2>/dev/null" % (key, cert))
    os.chmod(key, 0o600)
    return cert, key, fingerprint_of_file(cert)


def fingerprint_of_file(cert):
    return sh("openssl x509 -noout -fingerprint -sha256 -in %s" % cert).stdout.strip().split("=", 1)[1]


def presented_fingerprint(port):
    """What a new handshake presents, read by openssl as a client would see it."""
    return sh("openssl s_client -connect 127.0.0.1:%d </dev/null 2>/dev/null | "
              "openssl x509 -noout -fingerprint -sha256" % port).stdout.strip().split("=", 1)[1]


def get_on(conn, token):
    """GET /v1/host on an open keep-alive connection with a bearer token; the status."""
    conn.request("GET", "/v1/host", headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    r.read()
    return r.status


def test_systemd_ready_reload_keeps_connections_and_stopping(s):
    old_token, new_token = "old-operator-token-0123456789", "new-operator-token-0123456789"
    base = tempfile.mkdtemp(dir=SCRATCH, prefix="systemd-")
    tokens = os.path.join(base, "tokens")
    write_tokens(tokens, "operator %s\n" % old_token)
    cert, key, old_print = make_certificate(os.path.join(base, "live"))
    make_certificate(os.path.join(base, "next"))
    notify = NotifySocket()
    s.later(notify.close)
    d = Daemon(tempfile.mkdtemp(dir=SCRATCH, prefix="state-"),
               args=["--token-file", tokens, "--tls-cert", cert, "--tls-key", key],
               env={"NOTIFY_SOCKET": notify.name}, cafile=cert)
    s.later(d.kill9)
    d.spawn()

    # READY=1 means the port answers: the very first request after it must succeed.
    ready = notify.next()
    assert ready.get("READY") == "1", ready
    assert ready.get("STATUS") == "serving https://127.0.0.1:%d" % d.port, ready
    assert d.req("GET", "/v1/health").status_code == 200
    assert presented_fingerprint(d.port) == old_print

    # A connection opened before the reload, kept alive across it.
    kept = http_connection(d.url, cafile=cert)
    s.later(kept.close)
    assert get_on(kept, old_token) == 200
    kept_print = hashlib.sha256(kept.sock.getpeercert(binary_form=True)).hexdigest()

    # New tokens and a new certificate at the same paths, then SIGHUP.
    write_tokens(tokens, "operator %s\n" % new_token)
    os.replace(os.path.join(base, "next", "cert.pem"), cert)
    os.replace(os.path.join(base, "next", "key.pem"), key)
    new_print = fingerprint_of_file(cert)
    assert new_print != old_print
    before = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
    d.proc.send_signal(signal.SIGHUP)
    reloading = notify.next()
    after = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
    assert reloading.get("RELOADING") == "1", reloading
    assert before <= int(reloading["MONOTONIC_USEC"]) <= after, (before, reloading, after)
    again = notify.next()
    assert again.get("READY") == "1" and "reloaded" in again.get("STATUS", ""), again

    assert presented_fingerprint(d.port) == new_print, "a new handshake must present the new certificate"
    assert d.req("GET", "/v1/host", headers={"Authorization": "Bearer " + new_token}).status_code == 200
    assert d.req("GET", "/v1/host", headers={"Authorization": "Bearer " + old_token}).status_code == 401
    # The kept connection still works, still on the certificate it was given, checked against the new tokens.
    assert get_on(kept, new_token) == 200
    assert get_on(kept, old_token) == 401
    assert hashlib.sha256(kept.sock.getpeercert(binary_form=True)).hexdigest() == kept_print

    # A broken token file: the reload fails as a whole, the daemon says so and goes on with the tokens it had.
    write_tokens(tokens, "operator %s\noperator short\n" % old_token)
    d.proc.send_signal(signal.SIGHUP)
    assert notify.next().get("RELOADING") == "1"
    failed = notify.next()
    assert failed.get("READY") == "1" and "failed" in failed.get("STATUS", ""), failed
    assert d.req("GET", "/v1/host", headers={"Authorization": "Bearer " + new_token}).status_code == 200
    assert d.req("GET", "/v1/host", headers={"Authorization": "Bearer " + old_token}).status_code == 401
    assert get_on(kept, new_token) == 200
    assert "reload failed" in d.log_tail(), d.log_tail()
    kept.close()

    d.proc.send_signal(signal.SIGTERM)
    stopping = notify.next()
    assert stopping.get("STOPPING") == "1", stopping
    assert d.proc.wait(timeout=30) == 0, "dmfltd exited with %d after SIGTERM" % d.proc.returncode


def test_under_journald_log_lines_carry_their_priority(s):
    state = tempfile.mkdtemp(dir=SCRATCH, prefix="state-")
    log_path = state + ".log"
    open(log_path, "w").close()
    st = os.stat(log_path)
    journal = Daemon(state, env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
    s.later(journal.kill9)
    journal.start()
    journal.stop()
    lines = open(log_path).read().splitlines()
    assert lines and all(line[:3] in ("<3>", "<4>", "<6>", "<7>") for line in lines), lines[:5]
    assert any(line.startswith("<6>") and "serving vm-test" in line for line in lines), lines[:5]
    # The variable alone (inherited, stderr elsewhere) is not journald: no prefix.
    other = Daemon(tempfile.mkdtemp(dir=SCRATCH, prefix="state-"), env={"JOURNAL_STREAM": "1:1"})
    s.later(other.kill9)
    other.start()
    other.stop()
    assert not any(line.startswith("<") for line in open(other.log_path).read().splitlines())


def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    only = sys.argv[1:]
    if only:
        tests = [(n, f) for n, f in tests if any(o in n for o in only)]
    if not os.access(BIN, os.X_OK):
        print("FAIL no daemon binary at %s" % BIN)
        print("daemon: 0 passed, 1 failed")
        return 1
    passed, failed = suite_runner.run(tests, Scope)
    sh("rm -rf %s" % SCRATCH, check=False)
    print("daemon: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
