#!/usr/bin/env python3
"""vm_stats: the statistics checks of Tests/vm/35-stats against a live dmfltd on the real kernel."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import requests
import sseclient

URL = os.environ["DMFLT_URL"]
DEVICE = os.environ["DMFLT_DEVICE"]
DAEMON_PID = int(os.environ.get("DMFLT_DAEMON_PID", "0"))
passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def api(method, path, body=None, **kw):
    return requests.request(method, URL + path, json=body, timeout=30, **kw)


def stats(aid):
    r = api("GET", f"/v1/hosts/local/attachments/{aid}/stats")
    r.raise_for_status()
    return r.json()


def metric_value(text, name, labels):
    """The value of one sample line of a text exposition, or None."""
    want = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    for line in text.splitlines():
        if line.startswith(name + want + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def status_ioctls():
    return metric_value(api("GET", "/metrics").text, "dmflt_kernel_ioctls_total", {"op": "status"}) or 0


def median(xs):
    return sorted(xs)[len(xs) // 2] if xs else float("nan")


def dd(*args):
    subprocess.run(["dd", *args, "status=none"], check=True)


def settled_counters(aid):
    """The counters once udev's queue is empty and two readings 0.5 s apart agree."""
    subprocess.run(["udevadm", "settle"], check=False)
    last = stats(aid)["counters"]
    for _ in range(20):
        time.sleep(0.5)
        now = stats(aid)["counters"]
        if now == last:
            return now
        last = now
    return last


def stream_lines(path, params, count, timeout=60, headers=None):
    """The first `count` non-empty NDJSON lines with the time each arrived."""
    out = []
    with requests.get(URL + path, params=params, stream=True, timeout=timeout, headers=headers or {}) as r:
        for line in r.iter_lines():
            if line:
                out.append((time.monotonic(), json.loads(line)))
            if len(out) >= count:
                break
    return out


def sse_events(path, params, count, timeout=60):
    events = []
    with requests.get(
        URL + path, params=params, stream=True, timeout=timeout, headers={"Accept": "text/event-stream"}
    ) as r:
        client = sseclient.SSEClient(r)
        for ev in client.events():
            events.append(ev)
            if len(events) >= count:
                break
    return events


def dm_latency():
    """stat with latency=true on a dm-linear device: its dm-stats region counts our writes, /metrics shows the
    histogram, and detaching removes the region."""
    img = "/tmp/dmflt-stats-dm.img"
    subprocess.run(["truncate", "-s", "64M", img], check=True)
    loop = subprocess.run(["losetup", "--find", "--show", img], check=True, capture_output=True, text=True).stdout.strip()
    name = "dmflt-stats-linear"
    sectors = 64 * 1024 * 1024 // 512
    subprocess.run(["dmsetup", "create", name, "--table", f"0 {sectors} linear {loop} 0"], check=True)
    subprocess.run(["udevadm", "settle"], check=False)
    try:
        r = api("PUT", "/v1/hosts/local/attachments/dm-latency",
                {"device": f"/dev/mapper/{name}", "filter": "stat", "options": {"latency": True}})
        check("attach stat with latency=true to a dm device answers 201", r.status_code == 201, r.text)
        if r.status_code != 201:
            return
        check("the attachment shows its options", r.json()["options"] == {"latency": True}, r.text)
        first = stats("dm-latency").get("latency") or {}  # creates the region
        dd("if=/dev/zero", f"of=/dev/mapper/{name}", "bs=4096", "count=32", "oflag=direct")
        snap = stats("dm-latency")
        lat = snap.get("latency") or {}
        written = (lat.get("writes") or 0) - (first.get("writes") or 0)
        binned = sum(b["count"] for b in lat.get("histogram") or [])
        check("the dm-stats region counts the 32 direct writes", written >= 32 and lat.get("error") is None,
              json.dumps(lat)[:300])
        check("its histogram holds every IO it counted", binned == (lat.get("reads") or 0) + (lat.get("writes") or 0),
              json.dumps(lat)[:300])
        time.sleep(1.2)  # a scrape may reuse a reading up to 1 s old
        m = api("GET", "/metrics").text
        counts = [float(line.rsplit(" ", 1)[1]) for line in m.splitlines()
                  if line.startswith("dmflt_dm_latency_seconds_count{") and 'attachment="dm-latency"' in line]
        check("/metrics has dmflt_dm_latency_seconds for it", counts and counts[0] >= 32, f"{counts}")
        regions = subprocess.run(["dmsetup", "stats", "list", "--programid", "dmflt", name],
                                 capture_output=True, text=True).stdout
        check("dmflt made its own dm-stats region", "dmflt" in regions or name in regions, regions)
        d = api("DELETE", "/v1/hosts/local/attachments/dm-latency")
        regions = subprocess.run(["dmsetup", "stats", "list", "--programid", "dmflt", name],
                                 capture_output=True, text=True).stdout
        check("detaching removes the region", d.status_code == 204 and name not in regions, f"{d.status_code} {regions!r}")
    finally:
        api("DELETE", "/v1/hosts/local/attachments/dm-latency")
        subprocess.run(["dmsetup", "remove", "--retry", name], check=False)
        subprocess.run(["losetup", "-d", loop], check=False)
        os.unlink(img)


def main():
    # --- attach through the REST API
    r = api("POST", "/v1/hosts/local/attachments", {"device": DEVICE, "filter": "stat"})
    check("attach stat through the API answers 201", r.status_code == 201, r.text)
    if r.status_code != 201:
        return
    aid = r.json()["id"]
    path = f"/v1/hosts/local/attachments/{aid}/stats"

    # --- exact counters after known IO
    before = stats(aid)["counters"]
    dd("if=/dev/zero", f"of={DEVICE}", "bs=4096", "count=100", "oflag=direct")
    after = stats(aid)["counters"]
    check(
        "100 direct 4 KiB writes count exactly 100 write bios and 409600 bytes",
        after["writeBios"] - before["writeBios"] == 100 and after["writeBytes"] - before["writeBytes"] == 409600,
        f"{before} -> {after}",
    )
    # udev probes a device (blkid reads) after a writer closes it; those reads are not ours, so the
    # baseline for ours is taken once udev is done and the counters have stopped moving.
    after = settled_counters(aid)
    dd(f"if={DEVICE}", "of=/dev/null", "bs=8192", "count=50", "iflag=direct")
    again = stats(aid)["counters"]
    check(
        "50 direct 8 KiB reads count exactly 50 read bios and 409600 bytes",
        again["readBios"] - after["readBios"] == 50 and again["readBytes"] - after["readBytes"] == 409600,
        f"{after} -> {again}",
    )
    snap = stats(aid)
    check(
        "snapshot has the documented members",
        all(k in snap for k in ("attachment", "host", "device", "filter", "time", "counters", "rates", "filterStatus"))
        and snap["filterStatus"].get("writeBios") == snap["counters"]["writeBios"],
        json.dumps(snap)[:300],
    )
    # the reset message zeroes the counters; rates do not go negative or huge afterwards
    r = api("POST", f"/v1/hosts/local/attachments/{aid}/messages", {"message": "reset"})
    reset = stats(aid)
    check(
        "after the reset message counters restart at zero and rates stay sane",
        r.status_code == 200 and reset["counters"]["writeBios"] == 0
        and all(0 <= v < 1e9 for v in reset["rates"].values()),
        f"{r.status_code} {reset['counters']} {reset['rates']}",
    )

    # --- NDJSON ticks at the interval
    lines = stream_lines(path, {"watch": "true", "interval": "0.5"}, 6)
    intervals = [o["interval"] for _, o in lines[1:]]
    gaps = [b[0] - a[0] for a, b in zip(lines[1:], lines[2:])]
    # medians: a loaded TCG guest may stall one tick now and then; the cadence is what counts
    check(
        "NDJSON: six lines parse, ticks' rates cover ~0.5 s and lines arrive ~0.5 s apart",
        len(lines) == 6 and all(o.get("attachment") == aid for _, o in lines)
        and 0.4 <= median(intervals) <= 0.65 and 0.35 <= median(gaps) <= 0.75,
        f"intervals={intervals} gaps={gaps}",
    )
    r = api("GET", path, params={"watch": "true", "interval": "0.01"})
    check("interval 0.01 is 400 invalid-value", r.status_code == 400 and r.json().get("type", "").endswith("invalid-value"))
    r = api("GET", path, params={"watch": "true", "interval": "7200"})
    check("interval 7200 is 400", r.status_code == 400)

    # --- SSE through a real SSE client
    events = sse_events(path, {"watch": "true", "interval": "0.5"}, 4)
    ids = [int(e.id) for e in events]
    check(
        "SSE: sseclient parses stats events with increasing ids and JSON data",
        len(events) == 4 and all(e.event == "stats" for e in events)
        and all(b == a + 1 for a, b in zip(ids, ids[1:]))
        and all(json.loads(e.data)["attachment"] == aid for e in events)
        and str(events[0].retry) == "3000",
        f"{[(e.event, e.id, e.retry) for e in events]}",
    )

    # --- rates within 10 % of a known rate (fio --rate); 64 KiB bios keep the IOPS low enough
    # for a TCG guest to hold the rate steadily
    rate = 2 * 1024 * 1024
    fio = subprocess.Popen(
        ["fio", "--name=rate", f"--filename={DEVICE}", "--rw=write", "--bs=64k", "--direct=1",
         f"--rate={rate}", "--time_based", "--runtime=20", "--ioengine=psync", "--output=/dev/null"])
    # fio starts slowly under TCG and then catches up above its rate: measure once it is steady
    first = stats(aid)["counters"]["writeBios"]
    for _ in range(100):
        time.sleep(0.2)
        if stats(aid)["counters"]["writeBios"] > first + 20:
            break
    time.sleep(3)
    ticks = stream_lines(path, {"watch": "true", "interval": "1"}, 6)
    fio.wait()
    measured = [o["rates"]["writeBytes"] for _, o in ticks[2:]]
    mean = sum(measured) / len(measured) if measured else 0
    check(
        f"fio at {rate} B/s: the streamed write rate is within 10 %",
        measured and abs(mean - rate) <= 0.1 * rate,
        f"measured={[round(m) for m in measured]} mean={round(mean)}",
    )

    # --- ten watchers, one sampling per tick
    time.sleep(1.5)
    start = status_ioctls()
    results = [None] * 10

    def watch(i):
        results[i] = sse_events(path, {"watch": "true", "interval": "0.5"}, 6)

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.5)
    end = status_ioctls()
    highest = max(int(e.id) for evs in results if evs for e in evs)
    used = end - start
    check(
        "ten watchers: STATUS IOCTLs track the ticks, not watchers x ticks",
        all(evs and len(evs) == 6 for evs in results) and used <= highest + 4,
        f"status ioctls={used} highest tick id={highest}",
    )
    time.sleep(3)
    idle1 = status_ioctls()
    time.sleep(2.5)
    idle2 = status_ioctls()
    check("after every watcher left, sampling stopped", idle2 - idle1 <= 1, f"{idle1} -> {idle2}")

    # --- slow reader: a bounded queue, then "dropped" and matching id gaps. Loopback TCP would
    # buffer megabytes before the daemon's queue fills, so this throwaway guest's send buffers
    # are capped while the slow reader runs (the kernel reads the cap as buffers grow).
    with open("/proc/sys/net/ipv4/tcp_wmem") as f:
        wmem = f.read()
    with open("/proc/sys/net/ipv4/tcp_wmem", "w") as f:
        f.write("4096 8192 8192")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    host, port = URL.split("//")[1].split(":")
    s.connect((host, int(port)))
    s.sendall(f"GET {path}?watch=true&interval=0.1 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    time.sleep(20)
    s.settimeout(10)
    data = b""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and data.count(b"event: stats") < 400:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    with open("/proc/sys/net/ipv4/tcp_wmem", "w") as f:
        f.write(wmem)
    text = data.decode(errors="replace")
    seen = [(int(m.group(1)), json.loads(m.group(2)).get("dropped", 0))
            for m in re.finditer(r"id: (\d+)\nevent: stats\ndata: (\{.*?\})\n", text)]
    consistent = all(b[0] - a[0] - 1 == b[1] for a, b in zip(seen, seen[1:]))
    dropped = sum(d for _, d in seen)
    check(
        "slow reader: ticks were dropped, and each 'dropped' equals the gap in ids",
        len(seen) > 10 and dropped > 0 and consistent,
        f"events={len(seen)} dropped={dropped} consistent={consistent}",
    )
    time.sleep(3)
    idle1 = status_ioctls()
    time.sleep(2.5)
    idle2 = status_ioctls()
    check("after the slow reader disconnected, its sampling stopped", idle2 - idle1 <= 1, f"{idle1} -> {idle2}")

    # --- /metrics through promtool, and OpenMetrics on request
    dd("if=/dev/zero", f"of={DEVICE}", "bs=4096", "count=10", "oflag=direct")
    time.sleep(1.2)  # a scrape may reuse a reading up to 1 s old; this one must be after the dd
    m = api("GET", "/metrics")
    p = subprocess.run(["promtool", "check", "metrics"], input=m.text, capture_output=True, text=True)
    check("promtool check metrics is clean", p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
          p.stdout + p.stderr)
    dev = snap["device"]["name"] or snap["device"]["path"]
    labels = {"attachment": aid, "device": dev, "filter": "stat", "op": "write"}
    exposed = metric_value(m.text, "dmflt_bios_total", labels)
    now = stats(aid)["counters"]["writeBios"]
    check("dmflt_bios_total{op=write} is the kernel's count at scrape time", exposed == now, f"{exposed} vs {now}")
    check("dmflt_kernel_filter_ioctl_available is 1",
          metric_value(m.text, "dmflt_kernel_filter_ioctl_available", {}) == 1)
    om = api("GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    check("OpenMetrics on request",
          om.headers.get("Content-Type", "").startswith("application/openmetrics-text")
          and om.text.endswith("# EOF\n") and "# TYPE dmflt_bios counter" in om.text)

    # --- dm-stats latency for an attachment that asks for it, on a dm device
    dm_latency()

    # --- detaching ends the stream with a final event
    got = []

    def watch_until_end():
        with requests.get(URL + path, params={"watch": "true", "interval": "60"}, stream=True, timeout=60,
                          headers={"Accept": "text/event-stream"}) as r:
            for ev in sseclient.SSEClient(r).events():
                got.append(ev)
                if ev.event == "end":
                    break

    t = threading.Thread(target=watch_until_end)
    t.start()
    time.sleep(1.5)
    d = api("DELETE", f"/v1/hosts/local/attachments/{aid}")
    t.join(timeout=20)
    end_events = [json.loads(e.data) for e in got if e.event == "end"]
    check(
        "detach ends the attachment's stream with event: end, reason detached",
        d.status_code == 204 and end_events == [{"end": True, "reason": "detached"}] and not t.is_alive(),
        f"{d.status_code} {[(e.event, e.data[:60]) for e in got]}",
    )
    r = api("GET", path)
    check("stats of a detached attachment is 404", r.status_code == 404)

    # --- shutdown ends host streams cleanly
    if DAEMON_PID:
        lines_seen = []

        def host_watch():
            with requests.get(URL + "/v1/hosts/local/stats", params={"watch": "true", "interval": "60"}, stream=True,
                              timeout=30) as r:
                for line in r.iter_lines():
                    if line:
                        lines_seen.append(json.loads(line))

        t = threading.Thread(target=host_watch)
        t.start()
        time.sleep(1.5)
        os.kill(DAEMON_PID, signal.SIGTERM)
        t.join(timeout=20)
        check(
            "SIGTERM ends a host stream with a final {end: true, reason: shutdown} and closes it",
            not t.is_alive() and lines_seen and lines_seen[-1] == {"end": True, "reason": "shutdown"},
            f"{lines_seen[-1:] if lines_seen else lines_seen}",
        )


try:
    main()
except Exception as e:  # noqa: BLE001 - any crash is one failure with its reason
    check("the suite ran to the end", False, repr(e))
print(f"stats: {passed} passed, {failed} failed")
raise SystemExit(1 if failed else 0)
