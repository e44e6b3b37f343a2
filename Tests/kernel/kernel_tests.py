#!/usr/bin/env python3
"""The kernel test suite: every DM_DEV_FILTER operation and error path against the real dm-mod, run as root in the VM."""
import errno
import fcntl
import glob
import hashlib
import mmap
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmfilter as dmf  # noqa: E402
from undo_scope import UndoScope  # noqa: E402
import suite_runner  # noqa: E402
from loop_control import remove_loop  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = os.path.join(REPO, "kernel", "build", os.uname().release)
SCRATCH = tempfile.mkdtemp(prefix="dmflt-kernel-", dir="/tmp")
NO_SUCH_MAJOR = 4000  # no driver registers this block major
CONFIGFS = "/sys/kernel/config"
NULLB_CFG = CONFIGFS + "/nullb"
# stat's status words, in order: the engine reads stat's counters from them
STAT_WORDS = ("read_bios", "read_bytes", "write_bios", "write_bytes", "discard_bios",
              "discard_bytes", "write_zeroes_bios", "write_zeroes_bytes", "flush_bios",
              "skipped_bios")


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode:
        raise AssertionError("%s: exit %d: %s" % (cmd, r.returncode, (r.stderr or r.stdout).strip()))
    return r


def settle():
    if shutil.which("udevadm"):
        sh("udevadm settle", check=False)


def dm_fail_from_now(name, sectors):
    """Swaps dm device name's table for the error target: every later IO to it fails with EIO
    (no udev sync: a test may hold udev's queue)."""
    sh("dmsetup suspend --noudevsync {0} && dmsetup load {0} --table '0 {1} error'"
       " && dmsetup resume --noudevsync {0}".format(name, sectors))


def remove_dm(name):
    """Removes a dm device, waiting out udev's workers, which hold it open after each event."""
    settle()
    sh("dmsetup remove --retry %s" % name)


def leftovers():
    """What a test left past its cleanup: dm devices of the suite, attachments, cow images.
    Each is removed here, so one test's leak fails that test only."""
    found = []
    for a in dmf.list_attachments():
        found.append("attachment %s on %d:%d" % (a["type"], os.major(a["dev"]), os.minor(a["dev"])))
        try:
            if a["type"] == "cow":
                dmf.message(a["dev"], "cow", "invalidate")
            dmf.detach(a["dev"], a["type"])
        except dmf.FilterError:
            pass
    for name in sh("dmsetup ls", check=False).stdout.split():
        if name.startswith("dmflt-test-"):
            found.append("dm device " + name)
            sh("dmsetup remove --retry %s" % name, check=False)
    found += ["image " + p for p in glob.glob("/dev/dmflt-cow-*")]
    return ", ".join(found)


def expect_errno(want, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except dmf.FilterError as e:
        assert e.errno == want, "%s: wanted %s, got %s" % (
            getattr(fn, "__name__", fn), errno.errorcode[want], errno.errorcode.get(e.errno, e.errno))
        return
    raise AssertionError("%s succeeded, wanted %s" % (getattr(fn, "__name__", fn), errno.errorcode[want]))


def raw(op, **kw):
    return dmf.call(dmf.build(op, **kw))


class Scope(UndoScope):
    """Undoes what a test set up (attachments, devices), last first, even when it fails."""

    def loop(self, mib=64, partscan=False):
        return self.loop_with_image(mib << 20, partscan)[0]

    def loop_with_image(self, size, partscan=False):
        """A loop device over a sparse file of exactly size bytes; returns (path, image file)."""
        img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
        with open(img, "wb") as f:
            f.truncate(size)
        if partscan:
            write_mbr(img, start=2048, sectors=8192)
        dev = sh("losetup -f --show %s %s" % ("-P" if partscan else "", img)).stdout.strip()
        self.later(lambda: (sh("losetup -d %s" % dev, check=False), os.unlink(img)))
        settle()
        return dev, img

    def dm_linear(self, name, backing, sectors):
        """A dm-linear device over backing's first sectors; returns its /dev/mapper path."""
        sh("dmsetup create %s --table '0 %d linear %s 0'" % (name, sectors, backing))
        self.later(lambda: remove_dm(name))
        settle()
        return "/dev/mapper/" + name

    def nullb(self, name="dmfltnb0", mib=16, blocksize=512, memory_backed=True, extra=()):
        """A configfs null_blk, /dev/NAME (6.1 names it after its directory); memory-backed, or
        storing nothing (memory_backed=False: any size, no memory). extra: more (attribute, value)
        pairs, set before power-on."""
        if not os.path.isdir(NULLB_CFG):
            sh("modprobe null_blk nr_devices=0")
            if not os.path.ismount(CONFIGFS):
                sh("mount -t configfs none %s" % CONFIGFS)
        nb = os.path.join(NULLB_CFG, name)
        os.mkdir(nb)
        self.later(lambda: os.path.isdir(nb) and os.rmdir(nb))
        for k, v in (("size", str(mib)), ("blocksize", str(blocksize)),
                     ("memory_backed", "1" if memory_backed else "0"), ("discard", "1")) + tuple(extra) + (
                        ("power", "1"),):
            if os.path.exists(os.path.join(nb, k)):
                with open(os.path.join(nb, k), "w") as f:
                    f.write(v)
        settle()
        return "/dev/" + name

    def nullb_remove(self, path):
        nb = os.path.join(NULLB_CFG, os.path.basename(path))
        with open(nb + "/power", "w") as f:
            f.write("0")  # del_gendisk
        os.rmdir(nb)

    def attach(self, path, type_name="stat", options=None):
        dev = dmf.dev_of(path)
        dmf.attach(dev, type_name, options)
        self.later(lambda: dmf.detach(dev, type_name))
        return dev


def attached(dev, type_name="stat"):
    return any(a["dev"] == dev and a["type"] == type_name for a in dmf.list_attachments())


def stat_attachments():
    return next(t["attachments"] for t in dmf.list_types() if t["name"] == "stat")


def dd_direct(path, count, write=True, skip=0):
    if write:
        sh("dd if=/dev/urandom of=%s bs=4096 count=%d seek=%d oflag=direct status=none" % (path, count, skip))
    else:
        sh("dd if=%s of=/dev/null bs=4096 count=%d skip=%d iflag=direct status=none" % (path, count, skip))


# ---------------------------------------------------------------- operations

def test_list_types_reports_stat(s):
    types = {t["name"]: t for t in dmf.list_types()}
    assert "stat" in types, types
    assert types["stat"]["version"] == (1, 0, 0), types["stat"]


def test_attach_list_status_detach(s):
    loop = s.loop()
    before = stat_attachments()
    dev = dmf.dev_of(loop)
    dmf.attach(dev, "stat")
    try:
        assert attached(dev), dmf.list_attachments()
        assert stat_attachments() == before + 1
        st = dmf.status(dev, "stat")
        assert st["dev"] == dev and st["type"] == "stat" and st["count"] == 1, st
        assert list(st["words"]) == list(STAT_WORDS), st["text"]
        assert abs(st["attached_ns"] / 1e9 - time.time()) < 3600, st["attached_ns"]
        assert st["text"].startswith("read_bios="), st["text"]
        assert st["status_len"] == len(st["text"]) + 1
    finally:
        dmf.detach(dev, "stat")
    assert not attached(dev)
    assert stat_attachments() == before


def test_exact_write_counters(s):
    loop = s.loop()
    dev = s.attach(loop)
    dd_direct(loop, 100)
    c = dmf.counters(dev)
    assert c["write_bios"] == 100 and c["write_bytes"] == 409600, c
    assert c["discard_bios"] == c["write_zeroes_bios"] == c["skipped_bios"] == 0, c
    assert "write_bios=100 write_bytes=409600" in dmf.status(dev, "stat")["text"]


def udev_paused(s):
    """udev's blkid reads after every close-for-write; hold its queue for exact read counts."""
    if shutil.which("udevadm") and sh("udevadm control --stop-exec-queue", check=False).returncode == 0:
        s.later(lambda: sh("udevadm control --start-exec-queue", check=False))


def test_reset_then_exact_reads_flush_discard(s):
    loop = s.loop()
    dev = s.attach(loop)
    udev_paused(s)
    dd_direct(loop, 8)
    assert dmf.counters(dev)["write_bios"] == 8
    assert dmf.message(dev, "stat", "reset") == ""
    c = dmf.counters(dev)
    assert all(v == 0 for v in c.values()), c
    dd_direct(loop, 10, write=False)
    fd = os.open(loop, os.O_RDONLY)
    try:
        os.fsync(fd)  # blkdev_fsync issues exactly one empty PREFLUSH bio
    finally:
        os.close(fd)
    c = dmf.counters(dev)
    assert c["read_bios"] == 10 and c["read_bytes"] == 40960, c
    assert c["flush_bios"] == 1, c
    # blkdiscard reads the device first (libblkid looks for signatures): count discards only
    sh("blkdiscard -o 1048576 -l 1048576 %s" % loop)
    c = dmf.counters(dev)
    assert c["discard_bytes"] == 1048576 and c["discard_bios"] >= 1, c
    assert c["write_bios"] == 0, c


def test_write_zeroes_counted(s):
    loop = s.loop()
    dev = s.attach(loop)
    udev_paused(s)
    sh("blkdiscard -z -o 0 -l 1048576 %s" % loop)
    c = dmf.counters(dev)
    assert c["write_zeroes_bios"] >= 1 and c["write_zeroes_bytes"] == 1048576, c
    # a backing file system without FALLOC_FL_ZERO_RANGE (tmpfs) fails it: the block
    # layer falls back to writing zero pages, which count as writes
    assert c["write_bytes"] in (0, 1048576), c


def test_counters_exact_under_concurrency(s):
    loop = s.loop()
    dev = s.attach(loop)
    sh("fio --name=par --filename=%s --rw=randwrite --bs=4k --direct=1 --ioengine=libaio --iodepth=16"
       " --numjobs=4 --size=4M --offset_increment=4M --number_ios=256 --group_reporting --output=/dev/null" % loop)
    c = dmf.counters(dev)
    assert c["write_bios"] == 4 * 256 and c["write_bytes"] == 4 * 256 * 4096, c


def test_filter_on_dm_device(s):
    loop = s.loop()
    sectors = int(sh("blockdev --getsz %s" % loop).stdout)
    name = "dmflt-test-lin"
    dm_path = s.dm_linear(name, loop, sectors)
    dm_dev = s.attach(dm_path)
    loop_dev = s.attach(loop)
    dd_direct(dm_path, 100)
    assert dmf.counters(dm_dev)["write_bios"] == 100
    # dm remaps under current->bio_list: the loop's filter does not see them again (documented)
    assert dmf.counters(loop_dev)["write_bios"] == 0


def test_message_refusals(s):
    loop = s.loop()
    dev = s.attach(loop)
    expect_errno(errno.EINVAL, dmf.message, dev, "stat", "bogus")
    expect_errno(errno.EINVAL, dmf.message, dev, "stat", "reset now")
    expect_errno(errno.EINVAL, dmf.message, dev, "stat", "   ")


def test_buffer_full_reports_size_needed(s):
    loop = s.loop()
    dev = s.attach(loop)
    small = dmf.DM_IOCTL.size + dmf.MSG.size
    flags, reply, body = dmf.call(dmf.build(dmf.OP_STATUS, dev, "stat", size=small))
    assert flags & dmf.DM_BUFFER_FULL_FLAG, hex(flags)
    assert reply[0] == dmf.DM_FILTER_MAGIC and reply[1] == dmf.DM_FILTER_ABI_VERSION
    assert reply[4] > small - dmf.DM_IOCTL.size - dmf.REPLY.size and body == b"", reply
    flags, reply, body = dmf.call(dmf.build(dmf.OP_STATUS, dev, "stat",
                                            size=dmf.DM_IOCTL.size + dmf.REPLY.size + reply[4]))
    assert not flags & dmf.DM_BUFFER_FULL_FLAG and reply[3] == 1 and len(body) == reply[4]


# ---------------------------------------------------------------- error paths

def test_unknown_type_is_enoent(s):
    loop = s.loop()
    expect_errno(errno.ENOENT, dmf.attach, dmf.dev_of(loop), "nosuchfilter")


def test_no_such_device_is_enodev(s):
    expect_errno(errno.ENODEV, dmf.attach, dmf.makedev(NO_SUCH_MAJOR, 7), "stat")
    expect_errno(errno.ENODEV, dmf.attach, 1 << 40, "stat")
    expect_errno(errno.ENODEV, dmf.attach, 0, "stat")


def test_open_failure_keeps_its_errno(s):
    """A device that exists but may not be opened (device cgroup) is EPERM, not ENODEV."""
    loop = s.loop(16)
    rdev = os.stat(loop).st_rdev
    cg = tempfile.mkdtemp(dir=SCRATCH)
    sh("mount -t cgroup -o devices dmflt-devices %s" % cg)
    s.later(lambda: sh("umount %s" % cg, check=False))
    os.mkdir(cg + "/deny")
    s.later(lambda: os.rmdir(cg + "/deny"))
    with open(cg + "/deny/devices.deny", "w") as f:
        f.write("b %d:%d rwm" % (os.major(rdev), os.minor(rdev)))
    r = sh("sh -c 'echo $$ > %s/deny/cgroup.procs && exec python3 %s attach %s stat'" % (
        cg, os.path.join(REPO, "Tests/kernel/dmfilter.py"), loop), check=False)
    assert r.returncode == 1 and "(EPERM)" in r.stderr, (r.returncode, r.stderr)
    assert not attached(dmf.dev_of(loop))
    assert "stat: attach to %d:%d: cannot open the device: -1" % (os.major(rdev), os.minor(rdev)) \
        in sh("dmesg | tail -n 3").stdout


def test_double_attach_is_eexist(s):
    loop = s.loop()
    dev = s.attach(loop)
    expect_errno(errno.EEXIST, dmf.attach, dev, "stat")
    assert sum(1 for a in dmf.list_attachments() if a["dev"] == dev) == 1


def test_nothing_attached_is_enxio(s):
    dev = dmf.dev_of(s.loop())
    expect_errno(errno.ENXIO, dmf.detach, dev, "stat")
    expect_errno(errno.ENXIO, dmf.status, dev, "stat")
    expect_errno(errno.ENXIO, dmf.message, dev, "stat", "reset")


def test_bad_options_are_einval(s):
    loop = s.loop()
    dev = dmf.dev_of(loop)
    expect_errno(errno.EINVAL, dmf.attach, dev, "stat", "verbose")
    assert not attached(dev)


def test_malformed_messages_are_einval(s):
    dev = dmf.dev_of(s.loop())
    cases = {
        "bad magic": dict(magic=0x1234),
        "newer abi": dict(abi=dmf.DM_FILTER_ABI_VERSION + 1),
        "op 0": dict(op=0),
        "op past the last": dict(op=dmf.OP_COUNT),
        "op 2^32-1": dict(op=0xFFFFFFFF),
        "flags": dict(flags=1),
        "reserved": dict(reserved=1),
        "unterminated type": dict(raw_type=b"s" * 32),
        "no type": dict(type_name=""),
        "text over 4 KiB": dict(raw_text=b"x" * 4096 + b"\0"),
        "text beyond buffer": dict(text_len=100, size=dmf.DM_IOCTL.size + dmf.MSG.size + 10),
        "unterminated text": dict(raw_text=b"abc"),
        "text with NUL inside": dict(raw_text=b"a\0b\0"),
        "message truncated": dict(size=dmf.DM_IOCTL.size + dmf.MSG.size,
                                  data_size=dmf.DM_IOCTL.size + dmf.MSG.size - 8),
        "data_start inside header": dict(data_start=100),
        "data_start beyond buffer": dict(data_start=8192, size=16384, data_size=4096),
        "device name given": dict(name=b"somedev"),
    }
    for what, kw in cases.items():
        args = dict(op=dmf.OP_ATTACH, dev=dev, type_name="stat")
        args.update(kw)
        op = args.pop("op")
        try:
            dmf.call(dmf.build(op, **args))
        except dmf.FilterError as e:
            assert e.errno == errno.EINVAL, "%s: got %s" % (what, errno.errorcode.get(e.errno))
            continue
        raise AssertionError("%s: accepted" % what)
    expect_errno(errno.EINVAL, raw, dmf.OP_MESSAGE, dev=dev, type_name="stat")  # message without text
    assert not attached(dev), "a refused request must change nothing"


def test_missing_cap_sys_admin_is_eacces(s):
    r = sh("setpriv --bounding-set=-sys_admin python3 %s types" % os.path.join(REPO, "Tests/kernel/dmfilter.py"),
           check=False)
    assert r.returncode == 1 and "EACCES" in r.stderr, (r.returncode, r.stderr)


# ---------------------------------------------------------------- lifetime

def test_unload_refused_while_attached(s):
    loop = s.loop()
    dev = s.attach(loop)
    assert sh("rmmod dm_flt_stat", check=False).returncode != 0, "dm_flt_stat unloaded under an attachment"
    assert sh("rmmod dm_mod", check=False).returncode != 0, "dm_mod unloaded under an attachment"
    assert attached(dev)
    dd_direct(loop, 4)
    assert dmf.counters(dev)["write_bios"] == 4


def test_type_module_unload_and_reload(s):
    dev = dmf.dev_of(s.loop())
    sh("rmmod dm_flt_stat")
    try:
        assert "stat" not in [t["name"] for t in dmf.list_types()]
        expect_errno(errno.ENOENT, dmf.attach, dev, "stat")
    finally:
        sh("insmod %s/dm-flt-stat.ko" % MODULES)
    dmf.attach(dev, "stat")
    dmf.detach(dev, "stat")


def test_loop_removal_drops_filter(s):
    img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    loop = sh("losetup -f --show %s" % img).stdout.strip()
    dev = dmf.dev_of(loop)
    before = stat_attachments()
    dmf.attach(dev, "stat")
    dd_direct(loop, 4)
    sh("losetup -d %s" % loop)
    settle()
    # losetup -d keeps the (now empty) loop device: the filter stays until the device goes
    assert attached(dev)
    minor = os.minor(os.stat(loop).st_rdev)
    remove_loop(minor)
    os.unlink(img)
    assert not attached(dev), dmf.list_attachments()
    assert stat_attachments() == before
    assert "dropping filter of removed device 7:%d" % minor in sh("dmesg").stdout


def test_dm_remove_drops_filter(s):
    loop = s.loop()
    name = "dmflt-test-gone"
    sh("dmsetup create %s --table '0 2048 linear %s 0'" % (name, loop))
    settle()
    dev = dmf.dev_of("/dev/mapper/" + name)
    dmf.attach(dev, "stat")
    sh("dmsetup remove %s" % name)
    assert not attached(dev), dmf.list_attachments()


def test_null_blk_removal_drops_filter(s):
    path = s.nullb(blocksize=4096, mib=64)
    dev = dmf.dev_of(path)
    dmf.attach(dev, "stat")
    dd_direct(path, 10)
    assert dmf.counters(dev)["write_bios"] == 10
    s.nullb_remove(path)
    assert not attached(dev), dmf.list_attachments()


def write_mbr(path, start, sectors):
    """One Linux partition in an MBR, without needing fdisk in the VM."""
    import struct
    mbr = bytearray(512)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", start, sectors)
    mbr[510:512] = b"\x55\xaa"
    with open(path, "r+b") as f:
        f.write(mbr)


def test_partition_filter_and_partition_removal(s):
    loop = s.loop(partscan=True)
    part = loop + "p1"
    assert os.path.exists(part), "no partition device %s" % part
    part_dev = s.attach(part)
    whole_dev = s.attach(loop)
    dd_direct(part, 10)
    assert dmf.counters(part_dev)["write_bios"] == 10
    # a filter sees the bios submitted to its own device: partition IO is the partition's
    assert dmf.counters(whole_dev)["write_bios"] == 0
    sh("partx -d --nr 1 %s" % loop)
    assert not attached(part_dev), dmf.list_attachments()
    assert attached(whole_dev)


def fio_verify_under_churn(loop, cycle):
    """fio writes and verifies `loop` while `cycle()` (one attach and detach) runs again and again;
    fails if fio finds a wrong byte or a cycle raises."""
    stop, failures = threading.Event(), []

    def churn():
        # fio's size and runtime bound the run; the churn lasts as long as fio does
        while not stop.is_set():
            try:
                cycle()
            except Exception as e:  # reported after fio
                failures.append(repr(e))
                return

    t = threading.Thread(target=churn)
    fio = subprocess.Popen(
        "fio --name=verify --filename=%s --rw=randwrite --bs=4k --size=32M --direct=1"
        " --ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1"
        " --runtime=60 --time_based=0 --output-format=terse" % loop,
        shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t.start()
    out, _ = fio.communicate()
    stop.set()
    t.join()
    assert not failures, failures
    assert fio.returncode == 0, out[-2000:]


def test_fio_verify_under_attach_detach_churn(s):
    loop = s.loop(64)
    dev = dmf.dev_of(loop)
    cycles, seen = [0], [0]

    def cycle():
        dmf.attach(dev, "stat")
        c = dmf.counters(dev)
        seen[0] += c["write_bios"] + c["read_bios"]
        dmf.detach(dev, "stat")
        cycles[0] += 1

    fio_verify_under_churn(loop, cycle)
    assert cycles[0] >= 1, "no attach/detach happened during fio"
    assert seen[0] > 0, "the filter never saw fio's bios"
    assert not attached(dev)
    print("    fio verify passed with %d attach/detach cycles; the filter saw %d of its bios" % (
        cycles[0], seen[0]))


# ---------------------------------------------------------------- guard

BLKDISCARD, BLKZEROOUT = 0x1277, 0x127F
GUARD_WORDS = ["mode", "error", "ranges", "events", "dropped"] + [
    "%s_%s_%s" % (v, op, unit) for v in ("denied", "audited")
    for op in ("read", "write", "discard", "write_zeroes", "flush") for unit in ("bios", "bytes")]


def dio(path, op, offset, length, data=None):
    """One O_DIRECT pread or pwrite; returns (errno or 0, what a read left in its buffer)."""
    buf = mmap.mmap(-1, max(length, 4096))  # page-aligned, as O_DIRECT wants
    view = memoryview(buf)[:length]
    fd = os.open(path, (os.O_RDONLY if op == "read" else os.O_WRONLY) | os.O_DIRECT)
    try:
        if op == "read":
            view[:] = b"\xaa" * length  # a failed read must leave this untouched
            n = os.preadv(fd, [view], offset)
            assert n == length, "short read %d of %d" % (n, length)
        else:
            view[:] = data if data is not None else os.urandom(length)
            n = os.pwritev(fd, [view], offset)
            assert n == length, "short write %d of %d" % (n, length)
        err = 0
    except OSError as e:
        err = e.errno
    finally:
        os.close(fd)
    return err, bytes(view) if op == "read" else None


def blk_ioctl(path, request, offset, length):
    """BLKDISCARD or BLKZEROOUT of [offset, offset + length); returns errno or 0."""
    fd = os.open(path, os.O_WRONLY)
    try:
        fcntl.ioctl(fd, request, struct.pack("=QQ", offset, length))
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def flush(path):
    """blkdev_fsync: exactly one empty PREFLUSH bio. Returns errno or 0."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def sha_direct(path, size=None):
    """sha256 of the device's bytes (its first size bytes) as the device has them (O_DIRECT: no page cache)."""
    h = hashlib.sha256()
    size = size if size is not None else int(sh("blockdev --getsize64 %s" % path).stdout)
    chunk = 1 << 20
    for off in range(0, size, chunk):
        err, data = dio(path, "read", off, min(chunk, size - off))
        assert err == 0, "read at %d: %s" % (off, errno.errorcode.get(err, err))
        h.update(data)
    return h.hexdigest()


def fill(path, mib):
    """Random bytes over the first mib MiB, so a change shows in the checksum."""
    sh("dd if=/dev/urandom of=%s bs=1M count=%d oflag=direct status=none" % (path, mib))


def guard(dev):
    return dmf.status(dev, "guard")["words"]


def denied(w, prefix="denied"):
    """The non-zero per-op counters of a guard status, {"write_bios": 1, ...}."""
    return {k[len(prefix) + 1:]: v for k, v in w.items() if k.startswith(prefix + "_") and v}


def guard_attachments():
    return next(t["attachments"] for t in dmf.list_types() if t["name"] == "guard")


def test_guard_listed_and_status_words(s):
    types = {t["name"]: t for t in dmf.list_types()}
    assert types["guard"]["version"] == (1, 0, 0), types.get("guard")
    dev = s.attach(s.loop(16), "guard")
    st = dmf.status(dev, "guard")
    assert list(st["words"]) == GUARD_WORDS, st["text"]
    assert st["text"].startswith("mode=read-only error=eio ranges=all events=0 dropped=0 denied_read_bios=0 "), st["text"]
    assert "\n" not in st["text"]


def check_read_only(s, path, discard=True):
    udev_paused(s)
    fill(path, 4)
    before = sha_direct(path)
    dev = s.attach(path, "guard", "mode=read-only")
    t0 = time.time_ns()
    assert dio(path, "write", 8192, 4096)[0] == errno.EIO
    err, data = dio(path, "read", 0, 8192)
    assert err == 0 and data != b"\xaa" * 8192, "a read must pass in read-only mode"
    assert flush(path) == 0, "an empty flush must pass in read-only mode"
    if discard:
        assert blk_ioctl(path, BLKDISCARD, 1 << 20, 1 << 20) == errno.EIO
        # write-zeroes is denied, then so are the zero pages the block layer falls back to
        assert blk_ioctl(path, BLKZEROOUT, 2 << 20, 65536) == errno.EIO
    w = guard(dev)
    got = denied(w)
    if not discard:
        assert got == {"write_bios": 1, "write_bytes": 4096}, got
    else:
        # the block layer may split a discard or fall back from write-zeroes to writes
        assert got["discard_bios"] >= 1 and got["discard_bytes"] == 1 << 20, got
        zeroed = got.get("write_zeroes_bytes", 0) + got["write_bytes"] - 4096
        assert got["write_bios"] >= 1 and zeroed in (65536, 131072), got
        assert not {k for k in got if k.startswith(("read", "flush"))}, got
    assert denied(w, "audited") == {}, w
    ev = dmf.guard_events(dev)
    first = ev["items"][0]
    assert first["seq"] == 1 and first["op"] == "write" and first["offset"] == 8192 and \
        first["length"] == 4096 and first["verdict"] == "denied" and first["reserved"] == 0, first
    assert t0 - 10**9 <= first["time_ns"] <= time.time_ns() + 10**9, (t0, first)
    if discard:
        assert ev["items"][1]["op"] == "discard" and ev["items"][1]["offset"] == 1 << 20
    assert ev["total"] == len(ev["items"]) == w["events"] and ev["dropped"] == 0, ev
    dmf.detach(dev, "guard")
    s.undo.pop()
    assert sha_direct(path) == before, "a denied bio changed the device"
    assert dio(path, "write", 8192, 4096)[0] == 0, "writes must work again after detach"


def test_guard_read_only_on_loop(s):
    check_read_only(s, s.loop(16))


def test_guard_read_only_on_null_blk(s):
    check_read_only(s, s.nullb(), discard=os.path.exists(NULLB_CFG + "/dmfltnb0/discard"))


def check_deny(s, path):
    udev_paused(s)
    fill(path, 2)
    before = sha_direct(path)
    dev = s.attach(path, "guard", "mode=deny")
    err, data = dio(path, "read", 4096, 4096)
    assert err == errno.EIO, errno.errorcode.get(err, err)
    assert data == b"\xaa" * 4096, "a denied read returned data"
    assert dio(path, "write", 0, 4096)[0] == errno.EIO
    assert flush(path) == errno.EIO, "deny without ranges denies empty flushes too"
    got = denied(guard(dev))
    assert got == {"read_bios": 1, "read_bytes": 4096, "write_bios": 1, "write_bytes": 4096,
                   "flush_bios": 1}, got
    ops = [(e["op"], e["offset"], e["length"]) for e in dmf.guard_events(dev)["items"]]
    assert ops == [("read", 4096, 4096), ("write", 0, 4096), ("flush", 0, 0)], ops
    dmf.detach(dev, "guard")
    s.undo.pop()
    assert sha_direct(path) == before


def test_guard_deny_on_loop(s):
    check_deny(s, s.loop(16))


def test_guard_deny_on_null_blk(s):
    check_deny(s, s.nullb())


def check_audit(s, path):
    udev_paused(s)
    dev = s.attach(path, "guard", "mode=audit")
    data = os.urandom(8192)
    assert dio(path, "write", 65536, 8192, data)[0] == 0
    assert dio(path, "read", 65536, 8192) == (0, data), "audit must let the write through"
    assert flush(path) == 0
    w = guard(dev)
    assert denied(w) == {}, w
    assert denied(w, "audited") == {"write_bios": 1, "write_bytes": 8192}, w
    ev = dmf.guard_events(dev)
    assert [(e["op"], e["offset"], e["length"], e["verdict"]) for e in ev["items"]] == [
        ("write", 65536, 8192, "audited")], ev


def test_guard_audit_on_loop(s):
    path = s.loop(16)
    check_audit(s, path)
    dev = dmf.dev_of(path)
    assert blk_ioctl(path, BLKDISCARD, 1 << 20, 1 << 20) == 0, "audit must let discards through"
    assert guard(dev)["audited_discard_bytes"] == 1 << 20


def test_guard_audit_on_null_blk(s):
    check_audit(s, s.nullb())


def test_guard_range_edges(s):
    path = s.loop(16)
    udev_paused(s)
    fill(path, 8)
    lo, ln = 1 << 20, 65536
    dev = s.attach(path, "guard", "ranges=%d+%d,%d+4096" % (lo, ln, 4 << 20))
    before = {off: dio(path, "read", off, 512)[1] for off in (lo - 512, lo, lo + ln - 512, lo + ln)}
    assert guard(dev)["ranges"] == "%d+%d,%d+4096" % (lo, ln, 4 << 20)
    cases = [  # (offset, length, denied?)
        (lo, 512, True),                # first sector of the range
        (lo + ln - 512, 512, True),     # last sector
        (lo - 512, 512, False),         # just before
        (lo + ln, 512, False),          # just after
        (lo - 512, 1024, True),         # straddles the start: denied whole
        (lo + ln - 512, 1024, True),    # straddles the end
        (lo - 4096, ln + 8192, True),   # covers the range
        ((4 << 20) + 4096, 4096, False),  # just after the second range
        ((4 << 20) - 512, 1024, True),  # straddles the second range's start
    ]
    for off, length, deny in cases:
        err = dio(path, "write", off, length, bytes(length))[0]
        assert err == (errno.EIO if deny else 0), (off, length, errno.errorcode.get(err, err))
        if deny:
            continue
        assert dio(path, "read", off, length) == (0, bytes(length)), "a passed write was changed"
        for o in before:  # the neighbours written back, for the straddling cases
            if off <= o < off + length:
                assert dio(path, "write", o, 512, before[o])[0] == 0
    for off, data in before.items():
        assert dio(path, "read", off, 512) == (0, data), "denied-whole bio touched byte %d" % off
    assert flush(path) == 0
    n = sum(1 for c in cases if c[2])
    w = guard(dev)
    assert w["denied_write_bios"] == n and w["denied_flush_bios"] == 0, w
    got = [(e["offset"], e["length"]) for e in dmf.guard_events(dev)["items"]]
    assert got == [(o, ln_) for o, ln_, d in cases if d], got
    assert dio(path, "read", lo, 4096)[0] == 0, "read-only: reads inside a range pass"


def test_guard_deny_ranges_pass_flushes_and_outside(s):
    path = s.nullb()
    udev_paused(s)
    dev = s.attach(path, "guard", "mode=deny ranges=1048576+1048576")
    assert flush(path) == 0, "with ranges an empty flush meets none: it passes"
    assert dio(path, "read", 0, 4096)[0] == 0 and dio(path, "write", 2 << 20, 4096)[0] == 0
    assert dio(path, "read", 1 << 20, 4096)[0] == errno.EIO
    assert dio(path, "write", (2 << 20) - 4096, 4096)[0] == errno.EIO
    assert denied(guard(dev)) == {"read_bios": 1, "read_bytes": 4096, "write_bios": 1,
                                  "write_bytes": 4096}


def test_guard_error_target_is_eremoteio(s):
    loop = s.loop(16)
    dev = s.attach(loop, "guard", "error=target")
    assert guard(dev)["error"] == "target"
    assert dio(loop, "write", 0, 4096)[0] == errno.EREMOTEIO
    r = sh("dd if=/dev/zero of=%s bs=4096 count=1 oflag=direct status=none" % loop, check=False)
    assert r.returncode != 0 and "Remote I/O error" in r.stderr, r.stderr
    dmf.detach(dev, "guard")
    s.undo.pop()
    dev = s.attach(loop, "guard", "error=eio")
    assert dio(loop, "write", 0, 4096)[0] == errno.EIO
    r = sh("dd if=/dev/zero of=%s bs=4096 count=1 oflag=direct status=none" % loop, check=False)
    assert r.returncode != 0 and "Input/output error" in r.stderr, r.stderr


def test_guard_with_stat_before_it(s):
    loop = s.loop(16)
    udev_paused(s)
    stat_dev = s.attach(loop, "stat")
    s.attach(loop, "guard")
    assert dio(loop, "write", 0, 4096)[0] == errno.EIO
    c = dmf.counters(stat_dev)
    assert c["write_bios"] == 1 and c["skipped_bios"] == 1, c


def test_guard_events_order_seq_dropped(s):
    path = s.nullb()
    udev_paused(s)
    dev = s.attach(path, "guard")
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 4096)
    try:
        for i in range(300):
            try:
                os.pwritev(fd, [buf], i * 4096)
                raise AssertionError("write %d passed read-only guard" % i)
            except OSError as e:
                assert e.errno == errno.EIO
    finally:
        os.close(fd)
    w = guard(dev)
    assert w["events"] == 300 and w["dropped"] == 44 and w["denied_write_bios"] == 300, w
    ev = dmf.guard_events(dev)
    assert ev["total"] == 300 and ev["dropped"] == 44 and len(ev["items"]) == 256, (
        ev["total"], ev["dropped"], len(ev["items"]))
    assert [e["seq"] for e in ev["items"]] == list(range(45, 301))
    assert [e["offset"] for e in ev["items"]] == [(q - 1) * 4096 for q in range(45, 301)]
    times = [e["time_ns"] for e in ev["items"]]
    assert times == sorted(times), "events out of time order"
    ev = dmf.guard_events(dev, since=290)
    assert ev["dropped"] == 0 and [e["seq"] for e in ev["items"]] == list(range(291, 301)), ev
    ev = dmf.guard_events(dev, since=10)
    assert ev["dropped"] == 34 and len(ev["items"]) == 256, (ev["dropped"], len(ev["items"]))
    for since in (300, 1000, 2**64 - 1):
        ev = dmf.guard_events(dev, since=since)
        assert ev == {"total": 300, "dropped": 0, "items": []}, (since, ev)
    for words in ("events x", "events 1 2", "events -1", "bogus", "events 18446744073709551616"):
        expect_errno(errno.EINVAL, dmf.query, dev, "guard", words)
    expect_errno(errno.EINVAL, dmf.query, dev, "guard", "   ")
    assert "guard: query 'bogus' to" in sh("dmesg").stdout


def test_query_refusals(s):
    loop = s.loop(16)
    dev = dmf.dev_of(loop)
    expect_errno(errno.ENXIO, dmf.query, dev, "guard", "events")
    s.attach(loop, "stat")
    expect_errno(errno.EINVAL, dmf.query, dev, "stat", "events")
    assert "stat: query to %d:%d: this filter type takes no query" % (
        os.major(os.stat(loop).st_rdev), os.minor(os.stat(loop).st_rdev)) in sh("dmesg").stdout
    expect_errno(errno.EINVAL, raw, dmf.OP_QUERY, dev=dev, type_name="stat")  # no text


def exact_buffer_full(op, dev, type_name, text=None):
    """The size FULL reports is exact: one byte less is full again, that size fits."""
    flags, reply, body = dmf.call(dmf.build(op, dev, type_name, text,
                                            size=dmf.DM_IOCTL.size + dmf.MSG.size))
    assert flags & dmf.DM_BUFFER_FULL_FLAG and body == b"" and reply[3] == 0, (hex(flags), reply)
    need = reply[4]
    exact = dmf.DM_IOCTL.size + dmf.REPLY.size + need
    flags, reply, _ = dmf.call(dmf.build(op, dev, type_name, text, size=exact - 1))
    assert flags & dmf.DM_BUFFER_FULL_FLAG and reply[4] == need, (hex(flags), reply, need)
    flags, reply, body = dmf.call(dmf.build(op, dev, type_name, text, size=exact))
    assert not flags & dmf.DM_BUFFER_FULL_FLAG and reply[4] == need == len(body), (reply, need)
    return need, reply, body


def test_guard_big_status_and_query_retry(s):
    path = s.nullb(mib=1024)
    udev_paused(s)
    ranges, k = [], 0
    while len("ranges=" + ",".join(ranges + ["%d+512" % (k * 1024)])) < dmf.DM_FILTER_TEXT_MAX - 1:
        ranges.append("%d+512" % (k * 1024))
        k += 1
    dev = s.attach(path, "guard", "ranges=" + ",".join(ranges))
    retries = []
    st = dmf.status(dev, "guard", size=4096, retries=retries)
    assert retries == [4096] and st["status_len"] > 4096, (retries, st["status_len"])
    assert st["words"]["ranges"] == ",".join(ranges)
    need, reply, body = exact_buffer_full(dmf.OP_STATUS, dev, "guard")
    assert body[dmf.ATTACHMENT_INFO.size + dmf.STATUS_TAIL.size:].rstrip(b"\0").decode() == st["text"]
    fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    buf = memoryview(mmap.mmap(-1, 4096))[:512]
    try:
        for k in range(len(ranges)):  # one denial in every range
            try:
                os.pwritev(fd, [buf], k * 1024)
                raise AssertionError("write at %d passed" % (k * 1024))
            except OSError as e:
                assert e.errno == errno.EIO
    finally:
        os.close(fd)
    assert len(ranges) > 256, len(ranges)
    retries = []
    ev = dmf.guard_events(dev, size=4096, retries=retries)
    assert retries == [4096] and len(ev["items"]) == 256 and ev["dropped"] == len(ranges) - 256, (
        retries, len(ev["items"]), ev["dropped"])
    need, reply, body = exact_buffer_full(dmf.OP_QUERY, dev, "guard", "events")
    assert need == 16 + 256 * 32 and reply[3] == 257, (need, reply)
    exact_buffer_full(dmf.OP_LIST_TYPES, 0, "")


def test_guard_bad_options_are_einval(s):
    loop = s.loop(16)
    dev = dmf.dev_of(loop)
    before = guard_attachments()
    cases = {
        "mode=bogus": "option mode: unknown value 'bogus'",
        "mode=": "option mode: unknown value ''",
        "ranges=1+512": "option ranges: range 1 is not a multiple of 512 bytes",
        "ranges=0+1000": "option ranges: range 1 is not a multiple of 512 bytes",
        "ranges=0+0": "option ranges: range 1 has length 0",
        "ranges=0+512,1024+0": "option ranges: range 2 has length 0",
        "ranges=0+512,": "option ranges: range 2 is not OFFSET+LENGTH",
        "ranges=": "option ranges: no ranges given",
        "ranges=512": "option ranges: range 1 is not OFFSET+LENGTH",
        "ranges=-512+512": "option ranges: range 1 is not OFFSET+LENGTH",
        "ranges=18446744073709551104+1024": "ends beyond 2^64",
        "error=enospc": "option error: unknown value 'enospc'",
        "verbose=1": "guard has no option 'verbose'",
        "mode": "option 'mode' is not NAME=VALUE",
        "=deny": "option '=deny' is not NAME=VALUE",
        "mode=deny mode=audit": "option mode given twice",
        "ranges=0+512 ranges=0+512": "option ranges given twice",
        "ranges=0+512 bogus=1": "guard has no option 'bogus'",
    }
    for options, why in cases.items():
        expect_errno(errno.EINVAL, dmf.attach, dev, "guard", options)
        assert not attached(dev, "guard"), options
        line = "guard: attach to %d:%d: " % (os.major(os.stat(loop).st_rdev), os.minor(os.stat(loop).st_rdev))
        log = sh("dmesg | tail -n 5").stdout
        assert line in log and why in log, (options, why, log)
    assert guard_attachments() == before
    dmf.attach(dev, "guard", "mode=audit ranges=0+512,512+512 error=target")
    s.later(lambda: dmf.detach(dev, "guard"))
    assert guard(dev)["ranges"] == "0+1024", "adjacent ranges merge"


def test_guard_audit_attach_detach_under_fio_verify(s):
    loop = s.loop(64)
    dev = dmf.dev_of(loop)
    cycles, audited = [0], [0]

    def cycle():
        dmf.attach(dev, "guard", "mode=audit")
        time.sleep(0.05)
        audited[0] += guard(dev)["audited_write_bios"]
        dmf.detach(dev, "guard")
        cycles[0] += 1

    fio_verify_under_churn(loop, cycle)
    assert cycles[0] >= 1 and audited[0] > 0, (cycles, audited)
    assert not attached(dev, "guard")
    print("    fio verify passed with %d guard attach/detach cycles; %d writes audited" % (
        cycles[0], audited[0]))


def test_guard_device_removal(s):
    before = guard_attachments()
    img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    loop = sh("losetup -f --show %s" % img).stdout.strip()
    dev = dmf.dev_of(loop)
    dmf.attach(dev, "guard", "mode=deny")
    assert dio(loop, "write", 0, 4096)[0] == errno.EIO
    sh("losetup -d %s" % loop)
    minor = os.minor(os.stat(loop).st_rdev)
    remove_loop(minor)
    os.unlink(img)
    assert not attached(dev, "guard"), dmf.list_attachments()
    path = s.nullb()
    nb_dev = dmf.dev_of(path)
    dmf.attach(nb_dev, "guard", "mode=deny")
    assert dio(path, "read", 0, 4096)[0] == errno.EIO
    s.nullb_remove(path)
    assert not attached(nb_dev, "guard"), dmf.list_attachments()
    assert guard_attachments() == before
    assert "guard: dropping filter of removed device 7:%d" % minor in sh("dmesg").stdout


def load_test_type(s):
    sh("insmod %s/dmflt-test-filter.ko" % MODULES)
    s.later(lambda: sh("rmmod dmflt_test_filter", check=False))


def test_sleeping_filter_runs_redirected(s):
    load_test_type(s)
    loop = s.loop()
    dev = s.attach(loop, "stat")
    s.attach(loop, "test-sleep")  # the chain may sleep now: bios take the SRCU redirect
    udev_paused(s)
    dd_direct(loop, 20)
    assert dmf.counters(dev)["write_bios"] == 20
    assert dmf.status(dev, "test-sleep")["text"].startswith("seen=20 ")
    assert list(dmf.status(dev, "test-sleep")["words"]) == ["seen", "skipped"]
    sh("fio --name=v --filename=%s --rw=randwrite --bs=4k --size=4M --direct=1 --ioengine=libaio"
       " --iodepth=8 --verify=crc32c --verify_fatal=1 --output=/dev/null" % loop)
    dmf.detach(dev, "test-sleep")  # its cleanup entry then finds nothing, harmlessly
    before = dmf.counters(dev)["write_bios"]
    dd_direct(loop, 5)  # back to the in-hook path
    assert dmf.counters(dev)["write_bios"] == before + 5


def test_skipped_bio_fails_and_is_counted(s):
    load_test_type(s)
    loop = s.loop()
    dev = s.attach(loop, "stat")
    s.attach(loop, "test-sleep", "skip-writes")
    r = sh("dd if=/dev/urandom of=%s bs=4096 count=1 oflag=direct status=none" % loop, check=False)
    assert r.returncode != 0 and "Input/output error" in r.stderr, (r.returncode, r.stderr)
    c = dmf.counters(dev)
    assert c["write_bios"] == 1 and c["skipped_bios"] == 1, c
    assert dmf.status(dev, "test-sleep")["text"].endswith("skipped=1")
    with open(loop, "rb") as f:
        assert f.read(4096) == bytes(4096), "a skipped write reached the device"
    expect_errno(errno.EINVAL, dmf.attach, dmf.dev_of(s.loop()), "test-sleep", "bogus")


def type_modules():
    """Every filter type module the build made, as scripts/vm loads them."""
    return sorted(glob.glob(os.path.join(MODULES, "dm-flt-*.ko")))


def unload_dm_mod():
    """Unloads the filter types, then dm-mod; needs no dm device and no attachment left."""
    mods = [os.path.basename(k)[:-3].replace("-", "_") for k in type_modules()] + ["dm_mod"]
    for mod in mods:
        if os.path.isdir("/sys/module/" + mod):
            r = sh("rmmod " + mod, check=False)
            assert r.returncode == 0, "cannot unload %s (dm devices or attachments left?): %s" % (
                mod, r.stderr.strip())


def load_dm_mod():
    sh("insmod %s/dm-mod.ko" % MODULES)
    for ko in type_modules():
        sh("insmod %s" % ko)


def reload_dm_mod(stock=False):
    """Swaps dm-mod under the suite; needs no dm device and no attachment left."""
    unload_dm_mod()
    if stock:
        sh("modprobe dm_mod")
    else:
        load_dm_mod()


def test_stock_dm_mod_answers_enotty(s):
    s.later(reload_dm_mod)
    reload_dm_mod(stock=True)
    expect_errno(errno.ENOTTY, dmf.list_types)
    sh("dmsetup version")  # the stock dm-mod itself works


def test_second_hook_owner_is_ebusy(s):
    loop = s.loop()
    dev = dmf.dev_of(loop)
    s.later(lambda: sh("rmmod dmflt_hook_holder", check=False))
    # a fresh dm-mod has not hooked yet: the holder takes the hook first
    unload_dm_mod()
    sh("insmod %s/dmflt-hook-holder.ko" % MODULES)
    s.later(reload_dm_mod)
    load_dm_mod()
    expect_errno(errno.EBUSY, dmf.attach, dev, "stat")
    assert "another IPMODIFY ftrace user" in sh("dmesg").stdout
    assert not attached(dev)
    sh("rmmod dmflt_hook_holder")
    dmf.attach(dev, "stat")
    s.later(lambda: dmf.detach(dev, "stat"))
    dd_direct(loop, 3)
    assert dmf.counters(dev)["write_bios"] == 3


def ftrace_enabled(value=None):
    """Reads kernel.ftrace_enabled, or writes it and returns the errno (0: done)."""
    path = "/proc/sys/kernel/ftrace_enabled"
    if value is None:
        with open(path) as f:
            return int(f.read())
    try:
        with open(path, "w") as f:
            f.write(str(value))
        return 0
    except OSError as e:
        return e.errno


def test_ftrace_cannot_be_switched_off_under_filters(s):
    loop = s.loop(16)
    dev = s.attach(loop)
    s.later(lambda: ftrace_enabled(1))
    assert ftrace_enabled(0) == errno.EBUSY, "ftrace_enabled=0 accepted under a filter hook"
    assert ftrace_enabled() == 1
    dd_direct(loop, 3)
    assert dmf.counters(dev)["write_bios"] == 3, "filtering stopped"
    # a fresh dm-mod, not hooked yet, with ftrace off: attach refuses and says why
    dmf.detach(dev, "stat")
    s.undo.pop()
    s.later(reload_dm_mod)
    unload_dm_mod()
    load_dm_mod()
    assert ftrace_enabled(0) == 0
    expect_errno(errno.EBUSY, dmf.attach, dev, "stat")
    assert not attached(dev)
    assert "or ftrace is disabled (sysctl kernel.ftrace_enabled=0)" in sh("dmesg | tail -n 3").stdout
    assert ftrace_enabled(1) == 0
    dmf.attach(dev, "stat")
    s.later(lambda: dmf.detach(dev, "stat"))
    dd_direct(loop, 2)
    assert dmf.counters(dev)["write_bios"] == 2


# ---------------------------------------------------------------- cbt

CBT_WORDS = ["generation", "generation_reason", "generation_ns", "sequence", "block_size", "blocks",
             "device_size", "changed_blocks", "memory_bytes", "track_discards"]
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def cbt(dev):
    return dmf.status(dev, "cbt")["words"]


def blocks_of(extents, bs):
    out = set()
    for off, length in extents:
        out.update(range(off // bs, (off + length + bs - 1) // bs))
    return out


def test_cbt_listed_status_words_and_default_block_size(s):
    types = {t["name"]: t for t in dmf.list_types()}
    assert types["cbt"]["version"] == (1, 0, 0), types.get("cbt")
    dev = s.attach(s.loop(16), "cbt")
    st = dmf.status(dev, "cbt")
    assert list(st["words"]) == CBT_WORDS, st["text"]
    w = st["words"]
    assert UUID_RE.match(w["generation"]) and w["generation_reason"] == "attach", w
    assert (w["sequence"], w["block_size"], w["blocks"], w["device_size"], w["changed_blocks"],
            w["track_discards"]) == (0, 65536, 256, 16 << 20, 0, "true"), w
    assert 256 <= w["memory_bytes"] < 256 + 4096, w
    assert abs(w["generation_ns"] - time.time_ns()) < 60 * 10**9, w
    # the default doubles from 64 KiB until at most 2097152 blocks: 256 GiB -> 128 KiB
    for mib, bs in ((128 << 10, 65536), ((128 << 10) + 1, 131072), (256 << 10, 131072),
                    (1 << 20, 524288)):
        path = s.nullb("dmfltcbt%d" % mib, mib, blocksize=4096, memory_backed=False)
        d = s.attach(path, "cbt")
        w = cbt(d)
        assert w["block_size"] == bs and w["blocks"] == -(-(mib << 20) // bs) <= 2097152, (mib, w)
        dmf.detach(d, "cbt")
        s.undo.pop()


def test_cbt_bad_options_messages_and_queries_are_einval(s):
    loop = s.loop(16)
    dev = dmf.dev_of(loop)
    for opts in ("block-size=2048", "block-size=12288", "block-size=6000", "block-size=134217728",
                 "block-size=0", "block-size=x", "track-discards=maybe", "bogus=1",
                 "block-size=4096 block-size=8192", "track-discards"):
        expect_errno(errno.EINVAL, dmf.attach, dev, "cbt", opts)
        assert not attached(dev, "cbt"), opts
    # 4 KiB blocks on 2 TiB would be 2^29 bytes of map: refused, not half-made
    big = s.nullb("dmfltcbtbig", 2 << 20, blocksize=4096, memory_backed=False)
    expect_errno(errno.EINVAL, dmf.attach, dmf.dev_of(big), "cbt", "block-size=4096")
    s.attach(loop, "cbt", "block-size=4096 track-discards=false")
    for text in ("bogus", "mark now", "reset all", "MARK"):
        expect_errno(errno.EINVAL, dmf.message, dev, "cbt", text)
    for text in ("bogus", "changes", "changes x", "changes -1", "changes 1 2", "map 0"):
        expect_errno(errno.EINVAL, dmf.query, dev, "cbt", text)
    assert cbt(dev)["sequence"] == 0 and cbt(dev)["generation_reason"] == "attach"


def test_cbt_known_writes_give_exact_blocks(s):
    bs = 65536
    loop, _ = s.loop_with_image((16 << 20) + 4096)  # the last block is one page
    udev_paused(s)
    dev = s.attach(loop, "cbt", "block-size=%d" % bs)
    assert cbt(dev)["blocks"] == 257
    assert dio(loop, "write", 0, 4096)[0] == 0                 # block 0, its start
    assert dio(loop, "write", bs - 4096, 4096)[0] == 0         # block 0, its end
    assert dio(loop, "write", 2 * bs - 4096, 8192)[0] == 0     # straddles blocks 1 and 2
    assert dio(loop, "write", 10 * bs, bs)[0] == 0             # exactly block 10
    assert dio(loop, "write", 16 << 20, 4096)[0] == 0          # the last (short) block, 256
    assert dio(loop, "read", 100 * bs, bs)[0] == 0             # reads mark nothing
    assert flush(loop) == 0                                    # neither do empty flushes
    ch = dmf.cbt_changes(dev, 0)
    assert ch["extents"] == [(0, 3 * bs), (10 * bs, bs), (256 * bs, 4096)], ch["extents"]
    assert (ch["sequence"], ch["since"], ch["block_size"], ch["device_size"], ch["blocks"]) == (
        0, 0, bs, (16 << 20) + 4096, 257), ch
    m = dmf.cbt_map(dev)
    assert {i for i, v in enumerate(m["map"]) if v} == {0, 1, 2, 10, 256}, m["map"][:16]
    assert set(m["map"]) == {0, 1} and m["generation"] == ch["generation"] == cbt(dev)["generation"]
    assert cbt(dev)["changed_blocks"] == 5


def test_cbt_discards_with_and_without_track_discards(s):
    for track in (True, False):
        loop = s.loop(16)
        dev = s.attach(loop, "cbt", "block-size=65536 track-discards=%s" % ("true" if track else "false"))
        assert blk_ioctl(loop, BLKDISCARD, 1 << 20, 1 << 20) == 0
        assert blk_ioctl(loop, BLKZEROOUT, 4 << 20, 65536) == 0
        got = dmf.cbt_changes(dev, 0)["extents"]
        want = ([(1 << 20, 1 << 20)] if track else []) + [(4 << 20, 65536)]
        assert got == want, (track, got)
        assert cbt(dev)["track_discards"] == ("true" if track else "false")


def test_cbt_marks_split_the_map_exactly(s):
    bs = 4096
    loop = s.loop(16)
    udev_paused(s)
    dev = s.attach(loop, "cbt", "block-size=%d" % bs)
    gen = cbt(dev)["generation"]
    dio(loop, "write", 1 * bs, bs)
    t0 = time.time_ns()
    m1 = dmf.cbt_mark(dev)
    assert m1["generation"] == gen and m1["sequence"] == 1 and t0 <= m1["time"] <= time.time_ns(), m1
    dio(loop, "write", 2 * bs, bs)
    dio(loop, "write", 1 * bs, bs)
    m2 = dmf.cbt_mark(dev)
    assert m2["sequence"] == 2 and m2["generation"] == gen
    dio(loop, "write", 3 * bs, bs)
    dio(loop, "write", 5 * bs, 2 * bs)
    assert dmf.cbt_changes(dev, 0)["extents"] == [(bs, 3 * bs), (5 * bs, 2 * bs)]
    assert dmf.cbt_changes(dev, 1)["extents"] == [(bs, 3 * bs), (5 * bs, 2 * bs)]
    assert dmf.cbt_changes(dev, 2)["extents"] == [(3 * bs, bs), (5 * bs, 2 * bs)]
    assert dmf.cbt_changes(dev, 3)["extents"] == []
    assert dmf.cbt_changes(dev, 99)["extents"] == []
    m = dmf.cbt_map(dev)["map"]
    assert list(m[:8]) == [0, 2, 2, 3, 0, 3, 3, 0], list(m[:8])
    w = cbt(dev)
    assert w["sequence"] == 2 and w["changed_blocks"] == 5 and w["generation"] == gen


def test_cbt_reset_and_sequence_wrap_make_new_generations(s):
    loop = s.loop(16)
    udev_paused(s)
    dev = s.attach(loop, "cbt")
    g0 = cbt(dev)["generation"]
    dio(loop, "write", 0, 4096)
    dmf.cbt_mark(dev)
    assert dmf.message(dev, "cbt", "reset") == ""
    w = cbt(dev)
    assert w["generation"] != g0 and w["generation_reason"] == "reset", w
    assert w["sequence"] == 0 and w["changed_blocks"] == 0 and dmf.cbt_changes(dev, 0)["extents"] == []
    g1 = w["generation"]
    for i in range(1, 255):
        assert dmf.cbt_mark(dev)["sequence"] == i
        if i == 254:
            dio(loop, "write", 65536, 4096)  # in interval 255, the byte's largest
    assert dmf.cbt_map(dev)["map"][1] == 255
    assert dmf.cbt_changes(dev, 254)["extents"] == [(65536, 65536)]
    m = dmf.cbt_mark(dev)  # interval 256 does not fit a byte: a new generation
    w = cbt(dev)
    assert m["generation"] == w["generation"] != g1 and m["sequence"] == 0, (m, w)
    assert w["generation_reason"] == "wrap" and w["changed_blocks"] == 0, w
    dio(loop, "write", 0, 4096)
    assert dmf.cbt_changes(dev, 0)["extents"] == [(0, 65536)]


def test_cbt_resize_and_reattach_make_new_generations(s):
    loop, img = s.loop_with_image(16 << 20)
    udev_paused(s)
    dev = s.attach(loop, "cbt")
    dio(loop, "write", 0, 4096)
    g0 = dmf.cbt_mark(dev)["generation"]
    with open(img, "r+b") as f:
        f.truncate(32 << 20)
    sh("losetup -c %s" % loop)
    w = cbt(dev)
    assert w["generation"] != g0 and w["generation_reason"] == "resize", w
    assert (w["device_size"], w["blocks"], w["sequence"], w["changed_blocks"]) == (32 << 20, 512, 0, 0), w
    assert dio(loop, "write", 20 << 20, 4096)[0] == 0  # beyond the old end: tracked
    assert dmf.cbt_changes(dev, 0)["extents"] == [(20 << 20, 65536)]
    g1 = w["generation"]
    dmf.detach(dev, "cbt")
    dmf.attach(dev, "cbt")
    w = cbt(dev)
    assert w["generation"] not in (g0, g1) and w["generation_reason"] == "attach", w
    assert w["changed_blocks"] == 0


def test_cbt_large_maps_come_back_through_buffer_full_retries(s):
    bs = 4096
    loop = s.loop(64)
    udev_paused(s)
    dev = s.attach(loop, "cbt", "block-size=%d" % bs)
    # every other block: 8192 one-block extents, 128 KiB of records
    sh("fio --name=odd --filename=%s --rw=write:4k --bs=4k --size=64M --direct=1 --ioengine=psync"
       " --output-format=terse" % loop)
    retries = []
    ch = dmf.cbt_changes(dev, 0, retries=retries)
    assert retries, "a 128 KiB answer must not fit the first 16 KiB buffer"
    assert ch["extents"] == [(2 * i * bs, bs) for i in range(8192)], ch["extents"][:4]
    retries = []
    m = dmf.cbt_map(dev, retries=retries)
    assert retries and len(m["map"]) == 16384 and m["map"] == bytes([1, 0]) * 8192


def read_write_iolog(path, bs):
    """fio's version 3 iolog: [(ms, block)] of its writes, in issue order."""
    out = []
    with open(path) as f:
        assert f.readline().startswith("fio version 3 iolog")
        for line in f:
            p = line.split()
            if len(p) == 5 and p[2] == "write":
                assert int(p[3]) % bs == 0 and int(p[4]) == bs, line
                out.append((int(p[0]), int(p[3]) // bs))
    return out


def test_cbt_fio_random_writes_with_marks_every_100ms(s):
    bs = 4096
    loop = s.loop(64)
    udev_paused(s)
    dev = s.attach(loop, "cbt", "block-size=%d" % bs)
    log = os.path.join(SCRATCH, "cbt.iolog")
    marks, stop = [], threading.Event()

    def marker():
        # from fio's first write on (its start is slow under emulation), at most 200 marks:
        # 254 fit one generation
        while not stop.wait(0.02) and cbt(dev)["changed_blocks"] == 0:
            pass
        while not stop.wait(0.1) and len(marks) < 200:
            before = time.time()
            m = dmf.cbt_mark(dev)
            marks.append((before, time.time(), m["sequence"]))

    t = threading.Thread(target=marker)
    t.start()
    try:
        # psync, one IO at a time: each write completes before the next is issued
        out = sh("fio --name=cbt --filename=%s --rw=randwrite --bs=4k --size=64M --direct=1"
                 " --ioengine=psync --runtime=4 --time_based --clocksource=clock_gettime --norandommap --randrepeat=0"
                 " --write_iolog=%s --output-format=terse" % (loop, log)).stdout
    finally:
        stop.set()
        t.join()
    writes = read_write_iolog(log, bs)
    m = dmf.cbt_map(dev)
    seq = m["sequence"]
    assert seq == len(marks) >= 10, (seq, len(marks))
    written = {b for _, b in writes}
    # since attach: exactly what fio wrote
    assert blocks_of(dmf.cbt_changes(dev, 0)["extents"], bs) == written
    assert {b for b, v in enumerate(m["map"]) if v} == written
    # the intervals partition the map: since k is exactly the blocks whose interval is above k
    for k in range(0, seq + 1):
        got = blocks_of(dmf.cbt_changes(dev, k)["extents"], bs)
        assert got == {b for b, v in enumerate(m["map"]) if v > k}, k
    # a block's interval is the one of its last write, and intervals only grow with time:
    # a block last written after another is never in an earlier interval
    last = {}
    for i, (_, b) in enumerate(writes):
        last[b] = i
    order = sorted(last, key=last.get)
    vals = [m["map"][b] for b in order]
    assert all(a <= b for a, b in zip(vals, vals[1:])), "a later write landed in an earlier interval"
    assert len(set(vals)) >= 5, "the marks did not split fio's writes: %s" % sorted(set(vals))
    print("    %d writes, %d marks, %d distinct intervals, ordered by fio's issue order" % (
        len(writes), len(marks), len(set(vals))))


def test_cbt_each_mark_splits_completed_writes_exactly(s):
    """Two writer threads and marks every 100 ms, with no clock: a write that completed before a
    mark was asked for is not in the changes since that mark unless the block was written again,
    and a write issued after the mark's answer always is."""
    bs = 4096
    blocks = (64 << 20) // bs
    loop = s.loop(64)
    udev_paused(s)
    dev = s.attach(loop, "cbt", "block-size=%d" % bs)
    done = []              # (block) of each completed write, in completion order
    issued = []            # per writer: [(index in done when issued, block)]
    stop = threading.Event()
    lock = threading.Lock()

    def writer(seed):
        rng = random.Random(seed)
        buf = mmap.mmap(-1, bs)
        buf.write(os.urandom(bs))
        fd = os.open(loop, os.O_WRONLY | os.O_DIRECT)
        mine = []
        try:
            while not stop.is_set():
                b = rng.randrange(blocks)
                with lock:
                    start = len(done)
                os.pwrite(fd, buf, b * bs)
                with lock:
                    done.append(b)
                mine.append((start, b))
        finally:
            os.close(fd)
            issued.append(mine)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    marks = []             # (writes completed before the call, writes completed after the answer, sequence)
    try:
        while len(marks) < 40:
            time.sleep(0.1)
            with lock:
                before = len(done)
            seq = dmf.cbt_mark(dev)["sequence"]
            with lock:
                after = len(done)
            marks.append((before, after, seq))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(done) > 200, "the writers hardly ran: %d writes" % len(done)
    last = {}
    for i, b in enumerate(done):
        last[b] = i
    for before, after, seq in marks:
        since = blocks_of(dmf.cbt_changes(dev, seq)["extents"], bs)
        # completed before the mark was asked for, never written again: in the interval before it
        stale = {b for b, i in last.items() if i < before} & since
        assert not stale, "mark %d: blocks last written before it are after it: %s" % (seq, sorted(stale)[:5])
        # issued after the mark answered (more writes had completed than when it answered): after it
        late = {b for mine in issued for start, b in mine if start > after}
        assert late <= since, "mark %d lost writes issued after it: %s" % (seq, sorted(late - since)[:5])
    print("    %d writes by 2 threads, %d marks, each split exactly" % (len(done), len(marks)))


def test_cbt_attach_detach_under_fio_verify(s):
    loop = s.loop(64)
    dev = dmf.dev_of(loop)
    cycles = [0]

    def cycle():
        dmf.attach(dev, "cbt", "block-size=4096")
        dmf.cbt_mark(dev)
        dmf.cbt_changes(dev, 0)
        dmf.detach(dev, "cbt")
        cycles[0] += 1

    fio_verify_under_churn(loop, cycle)
    assert cycles[0] >= 1 and not attached(dev, "cbt")
    print("    fio verify passed with %d cbt attach/mark/detach cycles" % cycles[0])


def test_cbt_map_of_1tib_null_blk_with_200000_random_writes(s):
    path = s.nullb("dmfltcbt1t", 1 << 20, blocksize=4096, memory_backed=False)
    dev = s.attach(path, "cbt")
    w = cbt(dev)
    bs = w["block_size"]
    assert (bs, w["blocks"]) == (512 << 10, 2097152), w
    log = os.path.join(SCRATCH, "cbt1t.iolog")
    sh("fio --name=scatter --filename=%s --rw=randwrite --bs=4k --direct=1 --ioengine=libaio"
       " --iodepth=32 --number_ios=200000 --clocksource=clock_gettime --norandommap --randrepeat=0 --write_iolog=%s"
       " --output-format=terse" % (path, log))
    blocks = {(off * 4096) // bs for _, off in read_write_iolog(log, 4096)}
    # the kernel's part (both queries, buffer-full retry included), timed apart from Python's decoding
    t0 = time.time()
    dmf.query(dev, "cbt", "changes 0", size=1 << 20)
    t_changes = time.time() - t0
    t0 = time.time()
    dmf.query(dev, "cbt", "map", size=1 << 20)
    t_map = time.time() - t0
    ch = dmf.cbt_changes(dev, 0, size=8 << 20)
    m = dmf.cbt_map(dev, size=4 << 20)
    assert blocks_of(ch["extents"], bs) == blocks
    assert {b for b, v in enumerate(m["map"]) if v} == blocks
    w = cbt(dev)
    assert w["changed_blocks"] == len(blocks) and w["memory_bytes"] < (2 << 20) + 4096, w
    # under 2 s on a real CPU; software emulation (TCG) on a shared host is many times slower
    limit = 2 if os.environ.get("DMFLT_VM_ACCEL") == "kvm" else 15
    assert t_changes < limit and t_map < limit, (t_changes, t_map)
    print("    1 TiB, %d writes -> %d blocks of 512 KiB in %d extents; map %d bytes in memory;"
          " changes query %.3f s, map query %.3f s" % (
              len(read_write_iolog(log, 4096)), len(blocks), len(ch["extents"]), w["memory_bytes"],
              t_changes, t_map))


# ---------------------------------------------------------------- cow

COW_WORDS = ["state", "taken_at", "chunk_size", "device_size", "chunks", "copied_chunks",
             "diff_storage", "diff_storage_limit", "diff_storage_used", "image", "image_dev",
             "image_openers", "cbt_sequence", "cbt_generation", "error", "warned_at", "stopped_at"]
COW_CHUNK = 65536


def majmin(path):
    rdev = os.stat(path).st_rdev
    return "%d:%d" % (os.major(rdev), os.minor(rdev))


def cow(dev):
    return dmf.status(dev, "cow")["words"]


def cow_images():
    return sorted(glob.glob("/dev/dmflt-cow-*"))


def cow_detach(dev):
    """Detach, waiting out udev's probe of a new image (an open image refuses detach)."""
    for _ in range(100):
        try:
            dmf.detach(dev, "cow")
            return
        except dmf.FilterError as e:
            if e.errno != errno.EBUSY:
                raise
            time.sleep(0.02)
    dmf.detach(dev, "cow")


def cow_take(s, path, diff, options=""):
    """Attaches cow to path with diff as its diff storage; returns (dev, image path, seconds the take took)."""
    dev = dmf.dev_of(path)
    start = time.monotonic()
    dmf.attach(dev, "cow", ("diff-storage=%s %s" % (majmin(diff), options)).strip())
    took = time.monotonic() - start
    s.later(lambda: attached(dev, "cow") and cow_detach(dev))
    return dev, "/dev/" + cow(dev)["image"], took


def write_pattern(path, seed, size):
    """Deterministic bytes over [0, size) with O_DIRECT writes; returns them."""
    data = random.Random(seed).randbytes(size)
    step = 1 << 20
    for off in range(0, size, step):
        err, _ = dio(path, "write", off, min(step, size - off), data[off:off + step])
        assert err == 0, "write at %d: %s" % (off, errno.errorcode.get(err, err))
    return data


def edge_writes(path, size, seed, expect):
    """4 KiB O_DIRECT writes across every 7th chunk edge, applied to expect too."""
    rnd = random.Random(seed)
    for edge in range(COW_CHUNK, size, 7 * COW_CHUNK):
        data = rnd.randbytes(4096)
        assert dio(path, "write", edge - 2048, 4096, data)[0] == 0
        expect[edge - 2048:edge + 2048] = data


def check_cow_exact(s, path, diff):
    size = int(sh("blockdev --getsize64 %s" % path).stdout)
    a = write_pattern(path, 1, size)
    udev_paused(s)  # the image node is devtmpfs', not udev's
    before = cow_images()
    dev, image, took = cow_take(s, path, diff)
    print("    the take on %s took %.3f s" % (path, took))
    assert os.path.exists(image) and cow_images() == sorted(before + [image]), (image, cow_images())
    st = dmf.status(dev, "cow")
    w = st["words"]
    assert list(w) == COW_WORDS, st["text"]
    chunks = -(-size // COW_CHUNK)
    assert (w["state"], w["chunk_size"], w["device_size"], w["chunks"], w["copied_chunks"],
            w["diff_storage"], w["diff_storage_used"], w["image_openers"], w["cbt_sequence"],
            w["cbt_generation"], w["error"]) == (
        "active", COW_CHUNK, size, chunks, 0, majmin(diff), 0, 0, "none", "none", "none"), w
    assert (w["warned_at"], w["stopped_at"]) == ("none", "none"), w
    assert w["diff_storage_limit"] == int(sh("blockdev --getsize64 %s" % diff).stdout), w
    assert w["image_dev"] == majmin(image), w
    assert abs(w["taken_at"] - time.time_ns()) < 60 * 10**9, w
    expect = bytearray(size)
    edge_writes(path, size, 3, expect)  # first writes: each copies the two chunks it meets
    expect[:] = write_pattern(path, 2, size)
    edge_writes(path, size, 4, expect)
    assert sha_direct(image) == hashlib.sha256(a).hexdigest(), "the image is not the take"
    assert sha_direct(path) == hashlib.sha256(expect).hexdigest(), "the original lost writes"
    w = cow(dev)
    assert w["copied_chunks"] == chunks and w["diff_storage_used"] == chunks * COW_CHUNK, w
    if chunks * COW_CHUNK * 5 >= w["diff_storage_limit"] * 4:  # 80 % of the diff storage is used
        assert w["taken_at"] <= w["warned_at"] <= time.time_ns(), w
        assert "diff storage 80% used" in sh("dmesg").stdout
    assert w["stopped_at"] == "none" and w["state"] == "active", w
    cow_detach(dev)
    assert not os.path.exists(image) and cow_images() == before, cow_images()
    return dev


def test_cow_listed_and_exact_image_on_loop(s):
    types = {t["name"]: t for t in dmf.list_types()}
    assert types["cow"]["version"] == (1, 0, 0), types.get("cow")
    check_cow_exact(s, s.loop(16), s.loop(16))


def test_cow_exact_image_on_null_blk(s):
    check_cow_exact(s, s.nullb("dmfltcow0", 16), s.nullb("dmfltcowdiff", 16))


def test_cow_exact_image_on_dm_linear(s):
    loop, diff = s.loop(16), s.loop(16)
    check_cow_exact(s, s.dm_linear("dmflt-test-cow", loop, 16 << 11), diff)


def files_in(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            if n.startswith("f"):
                with open(os.path.join(dirpath, n), "rb") as f:
                    out[n] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_cow_ext4_image_mounts_read_only_and_is_the_take(s):
    loop, diff = s.loop(64), s.loop(64)
    sh("mkfs.ext4 -q -F %s" % loop)
    mnt, imnt = tempfile.mkdtemp(dir=SCRATCH), tempfile.mkdtemp(dir=SCRATCH)
    sh("mount %s %s" % (loop, mnt))
    s.later(lambda: sh("umount %s" % mnt, check=False))
    stop, events = threading.Event(), []

    def writer():
        rnd, i = random.Random(7), 0
        while not stop.is_set() and i < 400:
            name, data = "f%04d" % i, rnd.randbytes(rnd.choice((4096, 65536, 200000)))
            t0 = time.monotonic()
            with open(os.path.join(mnt, name), "wb") as f:
                f.write(data)
            events.append(("create", name, hashlib.sha256(data).hexdigest(), t0, time.monotonic()))
            if i % 3 == 2:
                victim = "f%04d" % (i - 2)
                t0 = time.monotonic()
                os.unlink(os.path.join(mnt, victim))
                events.append(("delete", victim, None, t0, time.monotonic()))
            i += 1
            time.sleep(0.005)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(1.0)
    t0 = time.monotonic()
    dev, image, took = cow_take(s, loop, diff)
    t1 = time.monotonic()
    time.sleep(1.0)
    stop.set()
    t.join()
    print("    the take of a mounted ext4 under a writer took %.3f s" % took)
    sh("sync")
    fsck = sh("fsck.ext4 -n %s" % image, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    sh("mount -o ro %s %s" % (image, imnt))  # no noload: the freeze left no journal to replay
    s.later(lambda: sh("umount %s" % imnt, check=False))
    seen = files_in(imnt)
    created = {e[1]: e for e in events if e[0] == "create"}
    deleted = {e[1]: e for e in events if e[0] == "delete"}
    must, absent = {}, set()
    for name, (_, _, sha, c0, c1) in created.items():
        d = deleted.get(name)
        if c1 < t0 and (d is None or d[3] > t1):
            must[name] = sha
        if c0 > t1 or (d is not None and d[4] < t0):
            absent.add(name)
    assert must and absent, (len(must), len(absent))
    for name, sha in must.items():
        assert seen.get(name) == sha, "%s present at the take: %s in the image" % (name, seen.get(name))
    assert not absent & set(seen), sorted(absent & set(seen))[:10]
    print("    image: %d files of the take, %d later ones absent" % (len(must), len(absent)))
    sh("umount %s" % imnt)
    cow_detach(dev)


def test_cow_overflow_keeps_every_write_and_fails_the_image(s):
    loop, diff = s.loop(16), s.loop_with_image(1 << 20)[0]  # 16 chunks of diff storage
    size = 16 << 20
    write_pattern(loop, 1, size)
    udev_paused(s)
    dev, image, _ = cow_take(s, loop, diff)
    b = write_pattern(loop, 2, size)
    w = cow(dev)
    assert (w["state"], w["error"], w["copied_chunks"], w["diff_storage_used"]) == (
        "overflowed", "diff-storage-full", 16, 16 * COW_CHUNK), w
    assert w["taken_at"] <= w["warned_at"] <= w["stopped_at"] <= time.time_ns(), w
    assert sha_direct(loop) == hashlib.sha256(b).hexdigest(), "a write was lost at overflow"
    for off in (0, 20 * COW_CHUNK):
        assert dio(image, "read", off, 4096)[0] == errno.EIO
    assert "snapshot overflowed (diff-storage-full)" in sh("dmesg").stdout
    cow_detach(dev)
    assert not os.path.exists(image) and not attached(dev, "cow")


def cow_take_with_failable_diff_storage(s):
    """A 16 MiB loop device with a pattern, snapshotted onto dm device dmflt-test-cowdiff
    (dm_fail_from_now() makes it fail); returns (loop, dev, image, the pattern)."""
    loop, backing = s.loop(16), s.loop(16)
    a = write_pattern(loop, 1, 16 << 20)
    diff = s.dm_linear("dmflt-test-cowdiff", backing, 16 << 11)
    udev_paused(s)
    dev, image, _ = cow_take(s, loop, diff)
    return loop, dev, image, a


def test_cow_failing_diff_storage_fails_the_snapshot_never_a_write(s):
    loop, dev, image, a = cow_take_with_failable_diff_storage(s)
    size = len(a)
    half = size // 2
    b = bytearray(a)
    b[:half] = write_pattern(loop, 2, half)  # the first half's chunks are copied
    assert sha_direct(image) == hashlib.sha256(a).hexdigest(), "the image is not the take"
    assert cow(dev)["copied_chunks"] == half // COW_CHUNK
    # the diff storage fails from here on: each further copy's write gets EIO
    dm_fail_from_now("dmflt-test-cowdiff", 16 << 11)
    b[:] = write_pattern(loop, 3, size)
    w = cow(dev)
    assert (w["state"], w["error"]) == ("failed", "diff-storage-write-failed"), w
    assert w["copied_chunks"] == half // COW_CHUNK, w
    assert w["taken_at"] < w["stopped_at"] <= time.time_ns(), w
    assert sha_direct(loop) == hashlib.sha256(b).hexdigest(), "a write was lost when the diff storage failed"
    for off in (0, half):  # copied before the failure, and never copied
        assert dio(image, "read", off, 4096)[0] == errno.EIO
    assert "snapshot failed (diff-storage-write-failed)" in sh("dmesg").stdout
    cow_detach(dev)
    assert not os.path.exists(image) and not attached(dev, "cow")


def test_cow_failing_diff_storage_read_fails_the_image_read(s):
    loop, dev, image, a = cow_take_with_failable_diff_storage(s)
    write_pattern(loop, 2, COW_CHUNK)  # chunk 0 is copied
    dm_fail_from_now("dmflt-test-cowdiff", 16 << 11)
    assert dio(image, "read", 0, 4096)[0] == errno.EIO, "a copied chunk read without its diff storage"
    err, data = dio(image, "read", COW_CHUNK, 4096)  # uncopied: read from the device
    assert err == 0 and data == a[COW_CHUNK:COW_CHUNK + 4096]
    assert cow(dev)["state"] == "active"
    cow_detach(dev)


def test_cow_fio_verify_on_original_while_image_is_read(s):
    loop, diff = s.loop(32), s.loop(32)
    a = write_pattern(loop, 1, 32 << 20)
    dev, image, _ = cow_take(s, loop, diff)
    fio = subprocess.Popen(
        "fio --name=verify --filename=%s --rw=randwrite --bs=4k --size=32M --direct=1"
        " --ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1"
        " --runtime=5 --time_based=0 --output-format=terse" % loop,
        shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shas = [sha_direct(image)]
    while fio.poll() is None and len(shas) < 3:
        shas.append(sha_direct(image))
    out, _ = fio.communicate()
    assert fio.returncode == 0, out[-2000:]
    shas.append(sha_direct(image))
    assert set(shas) == {hashlib.sha256(a).hexdigest()}, "the image changed under writes"
    w = cow(dev)
    assert w["state"] == "active" and w["copied_chunks"] > 0, w
    print("    %d full image reads during fio; %d chunks copied" % (len(shas), w["copied_chunks"]))


def test_cow_attach_detach_50_times_under_fio_verify(s):
    loop, diff = s.loop(64), s.loop(64)
    dev, opts = dmf.dev_of(loop), "diff-storage=%s" % majmin(diff)
    cycles, copied = [0], [0]

    def cycle():
        if cycles[0] >= 50:
            time.sleep(0.1)
            return
        dmf.attach(dev, "cow", opts)
        time.sleep(0.02)
        copied[0] += cow(dev)["copied_chunks"]
        cow_detach(dev)
        cycles[0] += 1

    runs = 0
    while cycles[0] < 50:  # every take under a running fio: as many fio runs as that needs
        fio_verify_under_churn(loop, cycle)
        runs += 1
    assert not attached(dev, "cow") and not cow_images(), cow_images()
    assert copied[0] > 0, "no copy happened under fio"
    print("    fio verify passed over %d takes in %d fio runs; %d chunks copied in all" % (
        cycles[0], runs, copied[0]))


def test_cow_device_removal_drops_snapshot_and_image(s):
    img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
    with open(img, "wb") as f:
        f.truncate(16 << 20)
    loop = sh("losetup -f --show %s" % img).stdout.strip()
    diff = s.loop(16)
    dev, image, _ = cow_take(s, loop, diff)
    assert dio(loop, "write", 0, 65536)[0] == 0
    sh("losetup -d %s" % loop)
    settle()
    minor = os.minor(os.stat(loop).st_rdev)
    remove_loop(minor)
    os.unlink(img)
    assert not attached(dev, "cow")
    image_gone(image)
    nb, nbdiff = s.nullb("dmfltcowrm", 16), s.nullb("dmfltcowrmdiff", 16)
    dev, image, _ = cow_take(s, nb, nbdiff)
    assert dio(nb, "write", 0, 65536)[0] == 0
    s.nullb_remove(nb)
    assert not attached(dev, "cow")
    image_gone(image)
    assert "cow: dropping filter of removed device" in sh("dmesg").stdout
    # the diff storage is closed: it opens exclusively again
    fd = os.open(diff, os.O_RDWR | os.O_EXCL)
    os.close(fd)


def test_a_removal_during_a_control_call_is_dropped_by_a_worker_after_it(s):
    """The removal callback cannot wait for the registry mutex (a take may hold it and wait for the class mutex)."""
    load_test_type(s)
    holder = s.loop(4)
    img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    other = sh("losetup -f --show %s" % img).stdout.strip()
    odev, oname = dmf.dev_of(other), majmin(other)
    dmf.attach(odev, "stat")
    sh("losetup -d %s" % other)
    hdev = dmf.dev_of(holder)
    settle()  # udev done with both devices: the removal below waits for nobody else
    # another process: this one's ioctl would hold the interpreter's lock for the whole attach
    slow = subprocess.Popen([sys.executable, os.path.join(REPO, "Tests", "kernel", "dmfilter.py"), "attach", majmin(holder),
                             "test-sleep", "attach-sleep-ms=6000"])
    s.later(lambda: attached(hdev, "test-sleep") and dmf.detach(hdev, "test-sleep"))
    for _ in range(500):  # until the attach sleeps holding the registry mutex
        if "test-sleep: attach sleeps" in sh("dmesg").stdout:
            break
        time.sleep(0.02)
    remove_loop(os.minor(odev))  # returns without waiting for the attach
    os.unlink(img)
    assert slow.poll() is None, "the removal waited for the control call"
    assert slow.wait(timeout=30) == 0
    for _ in range(250):
        if not attached(odev):
            break
        time.sleep(0.02)
    assert not attached(odev), dmf.list_attachments()
    assert "%s was removed during a control call: dropping its filters now" % oname in sh("dmesg").stdout


def image_gone(image):
    """On device removal the image is deleted by a work item, away from the block class's mutex."""
    for _ in range(250):
        if not os.path.exists(image):
            return
        time.sleep(0.02)
    raise AssertionError("the image %s outlived its device" % image)


def test_cow_bad_options_are_einval(s):
    loop = s.loop(16, partscan=True)
    part, diff, small = loop + "p1", s.loop(16), s.loop_with_image(32768)[0]
    dev, before = dmf.dev_of(loop), cow_images()
    for target, opts in (
            (loop, ""),
            (loop, "diff-storage=%s" % majmin(loop)),
            (loop, "diff-storage=%s" % majmin(part)),
            (part, "diff-storage=%s" % majmin(loop)),
            (loop, "diff-storage=%s" % majmin(small)),
            (loop, "diff-storage=%s diff-storage-limit=65535" % majmin(diff)),
            (loop, "diff-storage=%s chunk-size=98304" % majmin(diff)),
            (loop, "diff-storage=%s chunk-size=32768" % majmin(diff)),
            (loop, "diff-storage=%s chunk-size=33554432" % majmin(diff)),
            (loop, "diff-storage=%s bogus=1" % majmin(diff)),
            (loop, "diff-storage=%s diff-storage=%s" % (majmin(diff), majmin(diff))),
            (loop, "diff-storage=x")):
        expect_errno(errno.EINVAL, raw, dmf.OP_ATTACH, dev=dmf.dev_of(target), type_name="cow",
                     text=opts)
        assert not attached(dmf.dev_of(target), "cow") and cow_images() == before, opts
    assert "cow needs diff-storage=MAJOR:MINOR" in sh("dmesg").stdout
    # nothing was left open: the diff storage opens exclusively
    os.close(os.open(diff, os.O_RDWR | os.O_EXCL))
    dev, image, _ = cow_take(s, loop, diff, "chunk-size=131072 diff-storage-limit=1048576")
    w = cow(dev)
    assert (w["chunk_size"], w["chunks"], w["diff_storage_limit"]) == (131072, 128, 1 << 20), w
    for text in ("bogus", "invalidate now", "INVALIDATE"):
        expect_errno(errno.EINVAL, dmf.message, dev, "cow", text)
    assert cow(dev)["state"] == "active"


def test_cow_detach_busy_while_image_open_until_invalidated(s):
    loop, diff = s.loop(16), s.loop(16)
    a = write_pattern(loop, 1, 1 << 20)
    dev, image, _ = cow_take(s, loop, diff)
    settle()
    fd = os.open(image, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, 65536)
        assert os.preadv(fd, [buf], 0) == 65536 and bytes(buf) == a[:65536]
        assert cow(dev)["image_openers"] == 1
        expect_errno(errno.EBUSY, dmf.detach, dev, "cow")
        assert "cow: detach of %s refused: the image %s is open" % (
            majmin(loop), os.path.basename(image)) in sh("dmesg").stdout
        assert attached(dev, "cow")
        assert dmf.message(dev, "cow", "invalidate") == ""
        w = cow(dev)
        assert (w["state"], w["error"]) == ("failed", "invalidated"), w
        try:
            os.preadv(fd, [buf], 0)
            raise AssertionError("an invalidated image answered a read")
        except OSError as e:
            assert e.errno == errno.EIO, e
        dmf.detach(dev, "cow")
        assert not attached(dev, "cow") and not os.path.exists(image)
        # del_gendisk leaves the disk frozen and its size 0: a read is EIO, or EOF at the size
        try:
            n = os.preadv(fd, [buf], 65536)
            assert n == 0, "a deleted image answered a read of %d bytes" % n
        except OSError as e:
            assert e.errno == errno.EIO, e
    finally:
        os.close(fd)
    assert dio(loop, "write", 0, 4096)[0] == 0


def test_cow_with_cbt_marks_at_the_take(s):
    loop, diff = s.loop(16), s.loop(16)
    udev_paused(s)
    cdev = s.attach(loop, "cbt")
    dio(loop, "write", 0, 4096)
    dmf.cbt_mark(dev=cdev)
    dev, image, _ = cow_take(s, loop, diff)
    w, c = cow(dev), cbt(cdev)
    assert w["cbt_sequence"] == c["sequence"] == 2 and w["cbt_generation"] == c["generation"], (w, c)
    for off, length in ((3 * COW_CHUNK, 4096), (10 * COW_CHUNK - 2048, 4096), (100 * COW_CHUNK, COW_CHUNK)):
        assert dio(loop, "write", off, length)[0] == 0
    ch = dmf.cbt_changes(cdev, w["cbt_sequence"])
    assert ch["extents"] == [(3 * COW_CHUNK, COW_CHUNK), (9 * COW_CHUNK, 2 * COW_CHUNK),
                             (100 * COW_CHUNK, COW_CHUNK)], ch["extents"]
    assert cow(dev)["copied_chunks"] == 4
    assert sh("rmmod dm_flt_cow", check=False).returncode != 0, "dm_flt_cow unloaded while attached"
    assert attached(dev, "cow")


def kmalloc_bytes():
    """Bytes in use in the kmalloc caches, from /proc/slabinfo."""
    total = 0
    with open("/proc/slabinfo") as f:
        for line in f:
            w = line.split()
            if w[0].startswith("kmalloc-"):
                total += int(w[1]) * int(w[3])
    return total


def test_ioctl_fuzz(s):
    """>= 100,000 random and mutated messages (Tests/kernel/fuzz_ioctl.c) in batches; after
    each, nothing is attached but what we clean up, and the kmalloc caches are back."""
    loop = s.loop(16)
    dev = dmf.dev_of(loop)
    fuzz = os.path.join(SCRATCH, "fuzz_ioctl")
    sh("gcc -O2 -Wall -I %s/kernel/include/uapi -o %s %s/Tests/kernel/fuzz_ioctl.c" % (REPO, fuzz, REPO))
    seed = int(os.environ.get("DMFLT_FUZZ_SEED", str(int(time.time()))))
    total = int(os.environ.get("DMFLT_FUZZ_MESSAGES", "100000"))
    batches = 5
    types_before = {t["name"]: t["attachments"] for t in dmf.list_types()}

    def clean():
        for a in dmf.list_attachments():
            assert a["dev"] == dev, "fuzzing attached to a device it was not given: %r" % a
            dmf.detach(a["dev"], a["type"])

    s.later(clean)
    # every refusal logs a line: keep them off the (serial, slow under TCG) console
    with open("/proc/sys/kernel/printk") as f:
        console_level = f.read().split()[0]
    sh("dmesg -n 1")
    s.later(lambda: sh("dmesg -n %s" % console_level))
    counts, growth, baseline, sent, ok = {}, [], None, 0, 0
    for b in range(batches + 1):  # batch 0 warms the caches up and sets the baseline
        n = total // batches if b else 2000
        t0 = time.time()
        out = sh("%s %d %d %d" % (fuzz, seed + b, n, dev)).stdout.split()
        print("    batch %d: %d messages in %.1fs" % (b, n, time.time() - t0))
        assert out[0] == "sent" and int(out[1]) == n, out
        if b:
            sent += n
            ok += int(out[3])
            for kv in out[4:]:
                k, v = kv.split("=")
                counts[int(k)] = counts.get(int(k), 0) + int(v)
        clean()
        assert {t["name"]: t["attachments"] for t in dmf.list_types()} == types_before
        now = kmalloc_bytes()
        if baseline is None:
            baseline = now
        else:
            growth.append(now - baseline)
    print("    seed %d: %d messages, %d accepted, errnos %s; kmalloc growth after each batch %s KiB" % (
        seed, sent, ok, {errno.errorcode.get(k, k): v for k, v in sorted(counts.items())},
        [g // 1024 for g in growth]))
    bad = set(counts) - {errno.EINVAL, errno.ENODEV, errno.ENOENT, errno.ENXIO, errno.EEXIST,
                         errno.ENOTTY, errno.EFAULT}
    assert sent >= 100000 or "DMFLT_FUZZ_MESSAGES" in os.environ, sent
    assert not bad, {errno.errorcode.get(k, k): counts[k] for k in bad}
    assert ok > sent // 20 and counts.get(errno.EINVAL, 0) > 0, (ok, counts)
    # a leak of one small object in one message of a hundred grows by ~100 KiB a batch,
    # and keeps growing: the last batch is not allowed above the first
    assert max(growth) < 1 << 20 and growth[-1] <= max(growth[0], 0) + (256 << 10), (
        "kmalloc caches grew: %s KiB" % [g // 1024 for g in growth])


# ---------------------------------------------------------------- mirror

MIRROR_WORDS = ["state", "copied_bytes", "total_bytes", "region_size", "regions", "copied_regions",
                "bytes_per_second", "target", "rate_limit", "write_waits", "started_at",
                "synchronized_at", "cutover_at", "failed_at", "error"]


def mirror(dev):
    return dmf.status(dev, "mirror")["words"]


def mirror_attach(s, path, target, options=""):
    dev = dmf.dev_of(path)
    dmf.attach(dev, "mirror", ("target=%s %s" % (majmin(target), options)).strip())

    def undo():
        if attached(dev, "mirror"):
            if mirror(dev)["state"] == "cutover":
                dmf.message(dev, "mirror", "release")
            dmf.detach(dev, "mirror")
    s.later(undo)
    return dev


def wait_mirror(dev, state, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        w = mirror(dev)
        if w["state"] == state:
            return w
        assert w["state"] in ("copying", "synchronized"), w
        time.sleep(0.05)
    raise AssertionError("mirror of %s not %s within %ds: %r" % (dev, state, timeout, mirror(dev)))


def fio_verify(path, size="32M", passes=1):
    """fio random writes with crc32c verify on path, `passes` times its size in all; returns the Popen."""
    return subprocess.Popen(
        "fio --name=verify --filename=%s --rw=randwrite --bs=4k --size=%s --io_size=%dM --direct=1"
        " --ioengine=libaio --iodepth=16 --verify=crc32c --do_verify=1 --verify_fatal=1"
        " --verify_state_save=0 --output-format=terse" % (path, size, int(size[:-1]) * passes),
        shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def fio_done(fio):
    out, _ = fio.communicate()
    assert fio.returncode == 0, out[-2000:]


def check_mirror_synchronizes_under_fio(s, source, target, mib, region_mib=1):
    fill(source, mib)
    # fio writes from before the attach until the copy is done (as many runs as that takes), and
    # the copy is slow enough that its writes meet every region state: copied, being copied, not yet
    fio = fio_verify(source, size="%dM" % mib, passes=4)
    time.sleep(2)
    assert fio.poll() is None, fio.communicate()[0][-2000:]
    dev = mirror_attach(s, source, target, "region-size=%d rate-limit=%d" % (region_mib << 20, mib << 17))
    w = mirror(dev)
    assert [k for k in MIRROR_WORDS if k not in w] == [], w
    assert w["state"] == "copying" and w["total_bytes"] == mib << 20 and w["regions"] == mib // region_mib, w
    assert w["target"] == majmin(target) and w["synchronized_at"] == "none", w
    progress, runs = [], 1
    while True:
        while fio.poll() is None:
            progress.append(mirror(dev)["copied_bytes"])
            time.sleep(0.2)
        fio_done(fio)
        if mirror(dev)["state"] != "copying":
            break
        fio = fio_verify(source, size="%dM" % mib)
        runs += 1
    w = wait_mirror(dev, "synchronized")
    assert w["copied_bytes"] == w["total_bytes"] and w["copied_regions"] == mib // region_mib, w
    # write-zeroes and discards of copied regions reach the target too (as zero writes where it lacks them)
    assert blk_ioctl(source, BLKZEROOUT, 1 << 20, 1 << 20) == 0
    assert blk_ioctl(source, BLKDISCARD, 3 << 20, 1 << 20) in (0, errno.EOPNOTSUPP)
    assert mirror(dev)["state"] == "synchronized", mirror(dev)
    assert w["started_at"] < w["synchronized_at"] <= time.time_ns(), w
    assert progress == sorted(progress) and len(set(progress)) > 1, progress
    size = mib << 20
    if sha_direct(source) != sha_direct(target, size):
        bad = [off >> 20 for off in range(0, size, 1 << 20)
               if dio(source, "read", off, 1 << 20)[1] != dio(target, "read", off, 1 << 20)[1]]
        raise AssertionError("the target differs from the source in MiB %s (%d fio runs)" % (bad, runs))
    return dev, w


def test_mirror_listed_synchronizes_loop_under_fio_verify(s):
    assert "mirror" in [t["name"] for t in dmf.list_types()]
    # each target IO takes 20 ms and a region is 8 MiB, so each region's copy lasts long enough
    # for fio's writes to meet it
    slow = s.nullb("dmfltmirslow", mib=40, extra=(("irqmode", "2"), ("completion_nsec", "20000000")))
    dev, w = check_mirror_synchronizes_under_fio(s, s.loop(32), slow, 32, region_mib=8)
    assert w["write_waits"] > 0, "no write met a region being copied: %r" % w
    print("    synchronized with %d write waits for a copy" % w["write_waits"])


def test_mirror_synchronizes_null_blk_under_fio_verify(s):
    check_mirror_synchronizes_under_fio(s, s.nullb("dmfltmirnb", mib=32), s.loop(32), 32)


def test_mirror_synchronizes_dm_linear_under_fio_verify(s):
    source = s.dm_linear("dmflt-test-mirsrc", s.loop(32), 32 << 11)
    check_mirror_synchronizes_under_fio(s, source, s.loop(32), 32)


def backing_sha(img):
    with open(img, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_mirror_cutover_redirects_everything_and_detach_is_refused(s):
    source, source_img = s.loop_with_image(32 << 20)
    target = s.loop(32)
    dev = mirror_attach(s, source, target)
    # fio writes a pattern with its verify headers, and stays off verification for now
    sh("fio --name=pre --filename=%s --rw=randwrite --bs=4k --size=32M --direct=1 --ioengine=libaio"
       " --iodepth=16 --verify=crc32c --do_verify=0 --output-format=terse" % source)
    wait_mirror(dev, "synchronized")
    sh("sync")
    dmf.message(dev, "mirror", "cutover")
    w = mirror(dev)
    assert w["state"] == "cutover" and w["synchronized_at"] < w["cutover_at"] <= time.time_ns(), w
    before = backing_sha(source_img)
    # fio's verify-only pass of what it wrote before the cutover, through the source's node
    sh("fio --name=pre --filename=%s --rw=randwrite --bs=4k --size=32M --direct=1 --ioengine=libaio"
       " --iodepth=16 --verify=crc32c --verify_only=1 --verify_fatal=1 --output-format=terse" % source)
    # new writes land on the target, read through its own node; the source's media stays as it was
    data = os.urandom(1 << 20)
    assert dio(source, "write", 4 << 20, len(data), data)[0] == 0
    assert blk_ioctl(source, BLKDISCARD, 8 << 20, 1 << 20) in (0, errno.EOPNOTSUPP)
    assert flush(source) == 0
    assert dio(target, "read", 4 << 20, len(data))[1] == data
    assert dio(source, "read", 4 << 20, len(data))[1] == data
    assert backing_sha(source_img) == before, "the source's media changed after cutover"
    expect_errno(errno.EBUSY, dmf.message, dev, "mirror", "cutover")
    expect_errno(errno.EBUSY, dmf.detach, dev, "mirror")
    assert "cutover-active" in sh("dmesg | tail -n 5").stdout
    dmf.message(dev, "mirror", "release")
    dmf.detach(dev, "mirror")
    assert not attached(dev, "mirror")


def test_mirror_cutover_refused_until_synchronized(s):
    source, target = s.loop(32), s.loop(32)
    dev = mirror_attach(s, source, target, "rate-limit=1048576")
    w = mirror(dev)
    assert w["state"] == "copying" and w["rate_limit"] == 1048576, w
    expect_errno(errno.EBUSY, dmf.message, dev, "mirror", "cutover")
    assert mirror(dev)["state"] == "copying"
    expect_errno(errno.EINVAL, dmf.message, dev, "mirror", "bogus")
    # detaching mid-copy leaves the target incomplete, and the source as it was
    dmf.detach(dev, "mirror")
    assert not attached(dev, "mirror")


def test_mirror_failing_target_fails_the_mirror_never_a_write(s):
    source = s.loop(32)
    target = s.dm_linear("dmflt-test-mirtgt", s.loop(32), 32 << 11)
    fill(source, 32)
    dev = mirror_attach(s, source, target, "rate-limit=8388608")
    fio = fio_verify(source, size="32M")
    time.sleep(1)
    assert mirror(dev)["state"] == "copying"
    dm_fail_from_now("dmflt-test-mirtgt", 32 << 11)
    deadline = time.monotonic() + 30
    while mirror(dev)["state"] != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    fio_done(fio)
    w = mirror(dev)
    assert (w["state"], w["error"]) == ("failed", "target-write-failed"), w
    assert w["failed_at"] != "none" and w["copied_bytes"] < w["total_bytes"], w
    # the source keeps working untouched
    data = os.urandom(1 << 20)
    assert dio(source, "write", 0, len(data), data)[0] == 0
    assert dio(source, "read", 0, len(data))[1] == data
    expect_errno(errno.EBUSY, dmf.message, dev, "mirror", "cutover")
    assert "mirror to %s failed (target-write-failed)" % majmin(target) in sh("dmesg").stdout
    dmf.detach(dev, "mirror")


def test_mirror_refusals_are_einval(s):
    source = s.loop(32)
    dev = dmf.dev_of(source)
    for opts in ("", "target=%s" % majmin(s.loop(16)), "target=%s" % majmin(source),
                 "target=%s region-size=100000" % majmin(s.loop(32)),
                 "target=%s region-size=4096" % majmin(s.loop(32)), "target=%s bogus=1" % majmin(s.loop(32))):
        expect_errno(errno.EINVAL, dmf.attach, dev, "mirror", opts)
        assert not attached(dev, "mirror"), opts
    disk = s.loop(64, partscan=True)
    part = disk + "p1"
    expect_errno(errno.EINVAL, dmf.attach, dmf.dev_of(disk), "mirror", "target=%s" % majmin(part))
    expect_errno(errno.EINVAL, dmf.attach, dmf.dev_of(part), "mirror", "target=%s" % majmin(disk))
    log = sh("dmesg | tail -n 20").stdout
    for why in ("the target is smaller than the source", "the target is the source itself",
                "the target is on the source's disk"):
        assert why in log, why


def test_mirror_attach_detach_20_times_under_fio_verify(s):
    source, target = s.loop(64), s.loop(64)
    dev, opts = dmf.dev_of(source), "target=%s" % majmin(target)
    cycles, copied = [0], [0]

    def cycle():
        if cycles[0] >= 20:
            time.sleep(0.1)
            return
        dmf.attach(dev, "mirror", opts)
        time.sleep(0.05)
        copied[0] += mirror(dev)["copied_bytes"]
        dmf.detach(dev, "mirror")
        cycles[0] += 1

    runs = 0
    while cycles[0] < 20:
        fio_verify_under_churn(source, cycle)
        runs += 1
    assert not attached(dev, "mirror")
    assert copied[0] > 0, "no copy happened under fio"
    print("    fio verify passed over %d mirror attaches in %d fio runs; %d bytes copied in all" % (
        cycles[0], runs, copied[0]))



def test_dmesg_clean(s):
    bad = [l for l in sh("dmesg").stdout.splitlines()
           if re.search(r"WARNING|BUG|Oops|general protection", l)]
    assert not bad, "\n".join(bad)


def main():
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    only = sys.argv[1:]
    if only:
        tests = [(n, f) for n, f in tests if any(o in n for o in only)]
    # the kernel log check goes last
    tests.sort(key=lambda nf: nf[0] == "test_dmesg_clean")
    passed, failed = suite_runner.run(tests, Scope, leftovers)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print("kernel: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
