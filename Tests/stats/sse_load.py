#!/usr/bin/env python3
"""sse_load: holds N SSE watch streams open against a dmfltd-like server and counts the events (for scripts/bench stats)."""
import selectors
import socket
import sys
import time


def main():
    host, port, paths, count, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), int(sys.argv[4]), float(sys.argv[5])
    sel = selectors.DefaultSelector()
    socks = []
    for i in range(count):
        s = socket.create_connection((host, port))
        path = paths[i % len(paths)]
        s.sendall(f"GET {path}?watch=true&interval=1 HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
        socks.append(s)
    events = [0] * count
    ready = False
    start = None
    while True:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(65536)
            if not data:
                print(f"closed {key.data}", flush=True)
                sel.unregister(key.fileobj)
                continue
            events[key.data] += data.count(b"event: stats")
        if not ready and all(events):
            ready = True
            start = time.monotonic()
            base = sum(events)
            print("ready", flush=True)
            if len(sys.argv) > 6:
                open(sys.argv[6], "w").close()
        if ready and time.monotonic() - start >= seconds:
            print(f"events {sum(events) - base} in {time.monotonic() - start:.1f} s", flush=True)
            break
    for s in socks:
        s.close()


main()
