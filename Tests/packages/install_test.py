#!/usr/bin/env python3
"""The .deb packages on a Debian root, in three phases that Tests/packages/run strings together:

- install (in a chroot on a copy-on-write overlay of this machine's root): dpkg -i, and DKMS
  builds for every kernel with headers, as Debian's DKMS does in a chroot or image build;
- guest (in a VM booted on that root with Debian's 6.12): the installed dm-mod is the one modprobe
  loads, the types load, the daemon starts as its unit says and attaches stat over REST;
- purge (in the chroot again): dpkg --purge takes it all away, initramfs images included.

Usage: install_test.py install|guest|purge STATEFILE. Each phase prints "ok   NAME" or "FAIL NAME"
per step; the steps depend on each other, so after a failure (in any phase, recorded in
STATEFILE) the rest are reported as failed, not skipped. The packages come from DMFLT_PACKAGES
(default .vm-run/packages).
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
KREL = os.uname().release  # the guest's kernel in the guest phase; the host's in the chroot
UNIT = "/lib/systemd/system/dmfltd.service"
LISTEN = "127.0.0.1:7450"
WANTS = "/etc/systemd/system/multi-user.target.wants/dmfltd.service"


def sh(cmd, check=True, timeout=1200):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (cmd, p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


class Run:
    def __init__(self, state_file):
        self.state_file = state_file
        self.state = json.load(open(state_file)) if os.path.exists(state_file) else {}
        self.live = {}  # what does not outlive a phase: the daemon's process, its notify socket

    def step(self, name, fn):
        if self.state.get("broken"):
            print("FAIL %s (not run: %s failed)" % (name, self.state["broken"]), flush=True)
            return
        began = time.monotonic()
        try:
            fn(self.state, self.live)
        except Exception as e:  # noqa: BLE001 - every failure is reported with its reason
            print("FAIL %s (%.1fs): %s" % (name, time.monotonic() - began, e), flush=True)
            self.state["broken"] = name
        else:
            print("ok   %s (%.1fs)" % (name, time.monotonic() - began), flush=True)
        with open(self.state_file, "w") as f:
            json.dump(self.state, f)


def deb(name):
    found = sorted(glob.glob(os.path.join(DEBS, name + "_*.deb")))
    assert found, "no %s_*.deb in %s: run scripts/package %s first" % (name, DEBS, DEBS)
    return found[-1]


def kernels_with_headers():
    return sorted(k for k in os.listdir("/lib/modules") if os.path.isdir("/lib/modules/%s/build" % k))


def prepare(st, live):
    kernels = kernels_with_headers()
    assert kernels, "no kernel headers in /lib/modules/*/build (run scripts/setup)"
    # DKMS's first install builds for the running kernel and the newest one; in a chroot, where the
    # running kernel is not the root's, for every kernel with headers
    if os.path.isdir("/lib/modules/%s" % KREL):
        newest = sorted(kernels, key=lambda k: [int(x) if x.isdigit() else x for x in k.replace("-", ".").split(".")])[-1]
        kernels = sorted({KREL, newest} & set(kernels))
    st["kernels"] = kernels
    installed = sh("dpkg-query -W -f='${Status}' dmfltd dmflt-dkms", check=False)
    assert "install ok" not in installed, "already installed"
    st["debs"] = [deb("dmflt-dkms"), deb("dmfltd")]


def install(st, live):
    # dpkg's output goes to a file the host can follow, each line with the time it came
    log = os.path.join(os.path.dirname(DEBS.rstrip("/")), "packages-install.log")
    p = subprocess.run("set -o pipefail; DEBIAN_FRONTEND=noninteractive dpkg -i %s 2>&1 | "
                       "while IFS= read -r line; do echo \"$(date +%%T) $line\"; done >%s"
                       % (" ".join(st["debs"]), log), shell=True, timeout=2400, executable="/bin/bash")
    out = open(log).read()
    assert p.returncode == 0, "dpkg -i: exit %d\n%s" % (p.returncode, out[-3000:])
    status = sh("dkms status dmflt")
    for k in st["kernels"]:
        # a chroot's first install builds for every kernel that has headers
        assert "Building initial module for %s" % k in out, out[-3000:]
        assert "%s, x86_64: installed" % k in status, status
        path = sh("modinfo -k %s -n dm_mod" % k).strip()
        assert path.startswith("/lib/modules/%s/updates/dkms/dm-mod.ko" % k), path
        image = sh("lsinitramfs /boot/initrd.img-%s" % k)
        assert "/updates/dkms/dm-mod.ko" in image, "the initramfs of %s still has the stock dm-mod only" % k
    # dh_installsystemd's postinst enables the unit (starting it needs a running systemd)
    assert os.path.islink(WANTS), "dmfltd.service is not enabled (no %s)" % WANTS
    listed = [l for l in open("/usr/lib/modules-load.d/dmflt.conf").read().splitlines() if l and l[0] != "#"]
    assert "dm-flt-stat" in listed and len(listed) == len(glob.glob(os.path.join(ROOT, "kernel", "dm-flt-*.c"))), listed
    st["types"] = listed


def token_file(st, live):
    info = os.stat("/etc/dmflt/tokens")
    assert info.st_mode & 0o777 == 0o600 and info.st_uid == 0, oct(info.st_mode)
    roles = dict(l.split() for l in open("/etc/dmflt/tokens") if l.strip() and not l.startswith("#"))
    assert set(roles) == {"operator", "reader"} and all(len(t) >= 32 for t in roles.values()), roles
    st["token"] = roles["operator"]
    assert os.path.exists("/etc/dmflt/tokens.example"), "no /etc/dmflt/tokens.example"
    assert os.path.exists("/usr/share/doc/dmfltd/README.md"), "no README in /usr/share/doc/dmfltd"


def installed_dm_mod_loads(st, live):
    # the guest's boot ran modprobe dm_mod, as a boot of the installed host would
    path = sh("modinfo -n dm_mod").strip()
    assert path.startswith("/lib/modules/%s/updates/dkms/dm-mod.ko" % KREL), path
    # the stock dm_mod has no filter core; the one loaded must export it
    symbols = [l.split()[2] for l in open("/proc/kallsyms") if l.rstrip().endswith("[dm_mod]")]
    assert "dm_filter_drain_device" in symbols, "the dm_mod loaded at boot is not DKMS's (no filter core)"


def load_modules(st, live):
    # what systemd-modules-load does at boot with /usr/lib/modules-load.d/dmflt.conf
    for m in st["types"]:
        sh("modprobe %s" % m)
        assert os.path.isdir("/sys/module/%s" % m.replace("-", "_")), "%s did not load" % m


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


def start_unit(st, live):
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
    live["sock"], live["log"] = sock, log
    live["proc"] = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
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


def attach_stat(st, live):
    status, host = api(st, "GET", "/v1/host")
    assert status == 200 and host["filterIoctl"] is True, host
    assert host["kernelRelease"] == KREL, host
    img = tempfile.mktemp(prefix="pkg-", suffix=".img", dir="/tmp")
    sh("truncate -s 64M %s" % img)
    dev = sh("losetup -f --show %s" % img).strip()
    live["loop"] = dev
    status, a = api(st, "PUT", "/v1/hosts/local/attachments/pkg", {"device": dev, "filter": "stat"})
    assert status == 201 and a["status"]["phase"] == "attached", (status, a)
    sh("dd if=/dev/urandom of=%s bs=4096 count=64 oflag=direct status=none" % dev)
    status, a = api(st, "GET", "/v1/hosts/local/attachments/pkg")
    c = a["status"]["counters"]
    assert c["writeBios"] == 64 and c["writeBytes"] == 262144, c
    status, _ = api(st, "DELETE", "/v1/hosts/local/attachments/pkg")
    assert status == 204, status


def reload_and_stop(st, live):
    proc, sock = live["proc"], live["sock"]
    proc.send_signal(1)  # ExecReload: kill -HUP $MAINPID
    got = notifications(sock, "READY=1", timeout=60)
    assert "RELOADING=1" in got, got
    status, _ = api(st, "GET", "/v1/host")
    assert status == 200, status
    proc.terminate()
    notifications(sock, "STOPPING=1", timeout=60)
    assert proc.wait(timeout=60) == 0, open("/tmp/dmfltd-package.log").read()[-3000:]
    sh("losetup -d %s" % live["loop"])


def purge(st, live):
    sh("DEBIAN_FRONTEND=noninteractive dpkg --purge dmfltd dmflt-dkms 2>&1")
    assert not glob.glob("/lib/modules/*/updates/dkms/dm-mod.ko*"), "modules left behind"
    for k in st["kernels"]:
        assert "/kernel/drivers/md/" in sh("modinfo -k %s -n dm_mod" % k)
        assert "/updates/dkms/dm-mod.ko" not in sh("lsinitramfs /boot/initrd.img-%s" % k), k
    assert not os.path.exists("/etc/dmflt/tokens") and not os.path.exists("/usr/bin/dmfltd")
    assert not os.path.lexists(WANTS), "dmfltd.service is still enabled after purge"


PHASES = {
    "install": [("prepare", prepare), ("install_builds_with_dkms_for_every_kernel", install),
                ("token_file_made_for_root_only", token_file)],
    "guest": [("installed_dm_mod_is_what_modprobe_loads", installed_dm_mod_loads), ("modules_load", load_modules),
              ("unit_starts_and_notifies_ready", start_unit), ("stat_attaches_over_rest", attach_stat),
              ("reload_and_stop_notify", reload_and_stop)],
    "purge": [("purge_removes_everything", purge)],
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in PHASES:
        print("usage: install_test.py install|guest|purge STATEFILE", file=sys.stderr)
        return 2
    run = Run(sys.argv[2])
    for name, fn in PHASES[sys.argv[1]]:
        run.step(name, fn)
    if "proc" in run.live and run.live["proc"].poll() is None:
        run.live["proc"].kill()
    return 1 if run.state.get("broken") else 0


if __name__ == "__main__":
    sys.exit(main())
