#!/usr/bin/env python3
"""The .deb packages, installed into the VM guest's root: DKMS builds for the running kernel, the
daemon starts as its unit says and attaches stat over REST; purge takes it all away again.

Run inside the VM with Debian's stock dm_mod loaded (Tests/vm/packages does both); the packages
come from scripts/package (DMFLT_PACKAGES, default .vm-run/packages). The guest's root is a
copy-on-write overlay of the host's, so nothing installed here reaches the host. Last line:
"packages: N passed, N failed". The steps depend on each other: after the first failure the
rest are reported as failed, not skipped.
"""
import glob
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEBS = os.environ.get("DMFLT_PACKAGES", os.path.join(ROOT, ".vm-run", "packages"))
KREL = os.uname().release
UNIT = "/lib/systemd/system/dmfltd.service"
LISTEN = "127.0.0.1:7450"
WANTS = "/etc/systemd/system/multi-user.target.wants/dmfltd.service"


def sh(cmd, check=True, timeout=1200):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (cmd, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


class Run:
    def __init__(self):
        self.passed = self.failed = 0
        self.broken = None
        self.state = {}

    def step(self, name, fn):
        if self.broken:
            print("FAIL %s (not run: %s failed)" % (name, self.broken), flush=True)
            self.failed += 1
            return
        began = time.monotonic()
        try:
            fn(self.state)
        except Exception as e:  # noqa: BLE001 - every failure is reported with its reason
            print("FAIL %s (%.1fs): %s" % (name, time.monotonic() - began, e), flush=True)
            self.failed += 1
            self.broken = name
            return
        print("ok   %s (%.1fs)" % (name, time.monotonic() - began), flush=True)
        self.passed += 1


def deb(name):
    found = sorted(glob.glob(os.path.join(DEBS, name + "_*.deb")))
    assert found, "no %s_*.deb in %s: run scripts/package %s first" % (name, DEBS, DEBS)
    return found[-1]


def prepare(st):
    assert os.path.isdir("/sys/module/dm_mod"), "the stock dm_mod is not loaded (run with DMFLT_VM_MODULES=stock)"
    assert "/kernel/drivers/md/" in sh("modinfo -n dm_mod"), sh("modinfo -n dm_mod")
    assert sh("dpkg-query -W -f='${Status}' dmfltd dmflt-dkms", check=False).find("install ok") < 0, "already installed"
    st["debs"] = [deb("dmflt-dkms"), deb("dmfltd")]
    # DKMS builds for the running kernel and the newest one; under TCG each build takes minutes, and the
    # other kernel is the same build, so its headers are hidden from this guest (the overlay only).
    for build in glob.glob("/lib/modules/*/build"):
        if not build.startswith("/lib/modules/%s/" % KREL):
            os.unlink(build)
    # man-db's trigger rebuilds the index of every manual page, minutes under TCG: not what is tested
    if os.path.exists("/var/lib/man-db/auto-update"):
        os.unlink("/var/lib/man-db/auto-update")
    # initramfs-tools' MODULES=most adds every storage driver, one modprobe --show-depends each, which
    # takes seconds apiece under TCG; a MODULES=list image with dm_mod named still shows which dm-mod
    # the refreshed initramfs carries
    with open("/etc/initramfs-tools/conf.d/zz-dmflt-test.conf", "w") as f:
        f.write("MODULES=list\n")
    with open("/etc/initramfs-tools/modules", "a") as f:
        f.write("dm_mod\n")
    # /boot is the host's, read-only here: update-initramfs writes to a copy in guest RAM.
    sh("mkdir -p /tmp/boot-copy && cp -a /boot/. /tmp/boot-copy/ && mount --bind /tmp/boot-copy /boot")


def install(st):
    # dpkg's output goes to a file the host can follow while DKMS builds (minutes under TCG)
    log = os.path.join(os.path.dirname(DEBS.rstrip("/")), "packages-install.log")
    # each line with the time it came, to see where the minutes go under TCG
    p = subprocess.run("set -o pipefail; DEBIAN_FRONTEND=noninteractive dpkg -i %s 2>&1 | "
                       "while IFS= read -r line; do echo \"$(date +%%T) $line\"; done >%s"
                       % (" ".join(st["debs"]), log), shell=True, timeout=2400, executable="/bin/bash")
    out = open(log).read()
    assert p.returncode == 0, "dpkg -i: exit %d\n%s" % (p.returncode, out[-3000:])
    assert "Building initial module for %s" % KREL in out, out[-3000:]
    status = sh("dkms status dmflt")
    assert "%s, x86_64: installed" % KREL in status, status
    # dh_installsystemd's postinst enables the unit (starting it needs a running systemd)
    assert os.path.islink(WANTS), "dmfltd.service is not enabled (no %s)" % WANTS


def modules_override_stock(st):
    path = sh("modinfo -n dm_mod").strip()
    assert path.startswith("/lib/modules/%s/updates/dkms/dm-mod.ko" % KREL), path
    listed = [l for l in open("/usr/lib/modules-load.d/dmflt.conf").read().splitlines() if l and l[0] != "#"]
    assert "dm-flt-stat" in listed and len(listed) == len(glob.glob(os.path.join(ROOT, "kernel", "dm-flt-*.c"))), listed
    st["types"] = listed
    image = sh("lsinitramfs /boot/initrd.img-%s" % KREL)
    assert "/updates/dkms/dm-mod.ko" in image, "the initramfs still has the stock dm-mod only"


def token_file(st):
    info = os.stat("/etc/dmflt/tokens")
    assert info.st_mode & 0o777 == 0o600 and info.st_uid == 0, oct(info.st_mode)
    roles = dict(l.split() for l in open("/etc/dmflt/tokens") if l.strip() and not l.startswith("#"))
    assert set(roles) == {"operator", "reader"} and all(len(t) >= 32 for t in roles.values()), roles
    st["token"] = roles["operator"]
    assert os.path.exists("/etc/dmflt/tokens.example"), "no /etc/dmflt/tokens.example"
    assert os.path.exists("/usr/share/doc/dmfltd/README.md"), "no README in /usr/share/doc/dmfltd"


def load_modules(st):
    # what a reboot does: no stock dm_mod in use, then systemd-modules-load loads the types
    sh("rmmod dm_mod")
    for m in st["types"]:
        sh("modprobe %s" % m)
    assert sh("modinfo -n dm_mod").strip().startswith("/lib/modules/%s/updates/" % KREL)
    assert os.path.isdir("/sys/module/dm_flt_stat"), "dm-flt-stat did not load"


def unit_exec_start():
    for line in open(UNIT):
        if line.startswith("ExecStart="):
            return shlex.split(line[len("ExecStart="):])
    raise AssertionError("no ExecStart in %s" % UNIT)


def notifications(sock, want, timeout=120):
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            msg = sock.recv(4096).decode()
        except socket.timeout:
            break
        got.extend(msg.split("\n"))
        if want in got:
            return got
    raise AssertionError("no %s from dmfltd within %ds; got %r" % (want, timeout, got))


def start_unit(st):
    unit = open(UNIT).read()
    assert "Type=notify" in unit and "ExecReload=" in unit, unit
    argv = unit_exec_start()
    assert argv[0] == "/usr/bin/dmfltd" and os.access(argv[0], os.X_OK), argv
    # what systemd does for this unit: StateDirectory, UMask, and the notify socket
    os.makedirs("/var/lib/dmflt", mode=0o700, exist_ok=True)
    sock_path = tempfile.mktemp(prefix="notify-", dir="/tmp")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path)
    log = open("/tmp/dmfltd-package.log", "w")
    st["sock"], st["log"] = sock, log
    st["proc"] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=lambda: os.umask(0o077))
    try:
        notifications(sock, "READY=1")
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, open("/tmp/dmfltd-package.log").read()[-3000:]))


def api(st, method, path, body=None):
    req = urllib.request.Request("http://%s%s" % (LISTEN, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Authorization", "Bearer " + st["token"])
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            data = r.read()
            return r.status, json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def attach_stat(st):
    status, host = api(st, "GET", "/v1/host")
    assert status == 200 and host["filterIoctl"] is True, host
    assert host["kernelRelease"] == KREL, host
    img = tempfile.mktemp(prefix="pkg-", suffix=".img", dir="/tmp")
    sh("truncate -s 64M %s" % img)
    dev = sh("losetup -f --show %s" % img).strip()
    st["loop"] = dev
    status, a = api(st, "PUT", "/v1/hosts/local/attachments/pkg", {"device": dev, "filter": "stat"})
    assert status == 201 and a["status"]["phase"] == "attached", (status, a)
    sh("dd if=/dev/urandom of=%s bs=4096 count=64 oflag=direct status=none" % dev)
    status, a = api(st, "GET", "/v1/hosts/local/attachments/pkg")
    c = a["status"]["counters"]
    assert c["writeBios"] == 64 and c["writeBytes"] == 262144, c
    status, _ = api(st, "DELETE", "/v1/hosts/local/attachments/pkg")
    assert status == 204, status


def reload_and_stop(st):
    proc, sock = st["proc"], st["sock"]
    proc.send_signal(1)  # ExecReload: kill -HUP $MAINPID
    got = notifications(sock, "READY=1", timeout=60)
    assert "RELOADING=1" in got, got
    status, _ = api(st, "GET", "/v1/host")
    assert status == 200, status
    proc.terminate()
    notifications(sock, "STOPPING=1", timeout=60)
    assert proc.wait(timeout=60) == 0, open("/tmp/dmfltd-package.log").read()[-3000:]
    sh("losetup -d %s" % st["loop"])


def purge(st):
    for m in reversed(st["types"]):
        sh("rmmod %s" % m.replace("-", "_"))
    sh("rmmod dm_mod")
    sh("DEBIAN_FRONTEND=noninteractive dpkg --purge dmfltd dmflt-dkms 2>&1")
    assert not glob.glob("/lib/modules/*/updates/dkms/dm-mod.ko*"), "modules left behind"
    assert "/kernel/drivers/md/" in sh("modinfo -n dm_mod")
    assert not os.path.exists("/etc/dmflt/tokens") and not os.path.exists("/usr/bin/dmfltd")
    assert not os.path.lexists(WANTS), "dmfltd.service is still enabled after purge"
    assert "/updates/dkms/dm-mod.ko" not in sh("lsinitramfs /boot/initrd.img-%s" % KREL)


def main():
    run = Run()
    for name, fn in [("prepare", prepare), ("install_builds_with_dkms", install),
                     ("modules_override_the_stock_dm_mod", modules_override_stock),
                     ("token_file_made_for_root_only", token_file), ("modules_load", load_modules),
                     ("unit_starts_and_notifies_ready", start_unit), ("stat_attaches_over_rest", attach_stat),
                     ("reload_and_stop_notify", reload_and_stop), ("purge_removes_everything", purge)]:
        run.step(name, fn)
    if "proc" in run.state and run.state["proc"].poll() is None:
        run.state["proc"].kill()
    print("packages: %d passed, %d failed" % (run.passed, run.failed))
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
