#!/usr/bin/env python3
"""The kernel test suite: every DM_DEV_FILTER operation and error path against the real dm-mod, run as root in the VM."""
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dmfilter as dmf  # noqa: E402
from undo_scope import UndoScope  # noqa: E402
import suite_runner  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULES = os.path.join(REPO, "kernel", "build", os.uname().release)
SCRATCH = tempfile.mkdtemp(prefix="dmflt-kernel-", dir="/tmp")
NO_SUCH_MAJOR = 4000  # no driver registers this block major


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode:
        raise AssertionError("%s: exit %d: %s" % (cmd, r.returncode, (r.stderr or r.stdout).strip()))
    return r


def settle():
    if shutil.which("udevadm"):
        sh("udevadm settle", check=False)


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
        img = tempfile.mktemp(dir=SCRATCH, suffix=".img")
        with open(img, "wb") as f:
            f.truncate(mib << 20)
        if partscan:
            write_mbr(img, start=2048, sectors=8192)
        dev = sh("losetup -f --show %s %s" % ("-P" if partscan else "", img)).stdout.strip()
        self.later(lambda: (sh("losetup -d %s" % dev, check=False), os.unlink(img)))
        settle()
        return dev

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
        assert st["counters"] is not None, "stat must report counters"
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
    c = dmf.status(dev, "stat")["counters"]
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
    assert dmf.status(dev, "stat")["counters"]["write_bios"] == 8
    assert dmf.message(dev, "stat", "reset") == ""
    c = dmf.status(dev, "stat")["counters"]
    assert all(v == 0 for v in c.values()), c
    dd_direct(loop, 10, write=False)
    fd = os.open(loop, os.O_RDONLY)
    try:
        os.fsync(fd)  # blkdev_fsync issues exactly one empty PREFLUSH bio
    finally:
        os.close(fd)
    c = dmf.status(dev, "stat")["counters"]
    assert c["read_bios"] == 10 and c["read_bytes"] == 40960, c
    assert c["flush_bios"] == 1, c
    # blkdiscard reads the device first (libblkid looks for signatures): count discards only
    sh("blkdiscard -o 1048576 -l 1048576 %s" % loop)
    c = dmf.status(dev, "stat")["counters"]
    assert c["discard_bytes"] == 1048576 and c["discard_bios"] >= 1, c
    assert c["write_bios"] == 0, c


def test_write_zeroes_counted(s):
    loop = s.loop()
    dev = s.attach(loop)
    udev_paused(s)
    sh("blkdiscard -z -o 0 -l 1048576 %s" % loop)
    c = dmf.status(dev, "stat")["counters"]
    assert c["write_zeroes_bios"] >= 1 and c["write_zeroes_bytes"] == 1048576, c
    # a backing file system without FALLOC_FL_ZERO_RANGE (tmpfs) fails it: the block
    # layer falls back to writing zero pages, which count as writes
    assert c["write_bytes"] in (0, 1048576), c


def test_counters_exact_under_concurrency(s):
    loop = s.loop()
    dev = s.attach(loop)
    sh("fio --name=par --filename=%s --rw=randwrite --bs=4k --direct=1 --ioengine=libaio --iodepth=16"
       " --numjobs=4 --size=4M --offset_increment=4M --number_ios=256 --group_reporting --output=/dev/null" % loop)
    c = dmf.status(dev, "stat")["counters"]
    assert c["write_bios"] == 4 * 256 and c["write_bytes"] == 4 * 256 * 4096, c


def test_filter_on_dm_device(s):
    loop = s.loop()
    sectors = int(sh("blockdev --getsz %s" % loop).stdout)
    name = "dmflt-test-lin"
    sh("dmsetup create %s --table '0 %d linear %s 0'" % (name, sectors, loop))
    s.later(lambda: sh("dmsetup remove %s" % name, check=False))
    settle()
    dm_path = "/dev/mapper/" + name
    dm_dev = s.attach(dm_path)
    loop_dev = s.attach(loop)
    dd_direct(dm_path, 100)
    assert dmf.status(dm_dev, "stat")["counters"]["write_bios"] == 100
    # dm remaps under current->bio_list: the loop's filter does not see them again (documented)
    assert dmf.status(loop_dev, "stat")["counters"]["write_bios"] == 0


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
        "op 7": dict(op=7),
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
    assert dmf.status(dev, "stat")["counters"]["write_bios"] == 4


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
    fd = os.open("/dev/loop-control", os.O_RDWR)
    try:
        import fcntl
        fcntl.ioctl(fd, 0x4C81, minor)  # LOOP_CTL_REMOVE
    finally:
        os.close(fd)
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
    cfg = "/sys/kernel/config"
    if not os.path.isdir(cfg + "/nullb"):
        sh("modprobe null_blk nr_devices=0")
        if not os.path.ismount(cfg):
            sh("mount -t configfs none %s" % cfg)
    nb = cfg + "/nullb/dmfltnb0"
    os.mkdir(nb)
    s.later(lambda: os.path.isdir(nb) and os.rmdir(nb))
    for k, v in (("size", "64"), ("blocksize", "4096"), ("memory_backed", "1"), ("power", "1")):
        with open(os.path.join(nb, k), "w") as f:
            f.write(v)
    path = "/dev/dmfltnb0"  # 6.1 names a configfs null_blk after its directory
    settle()
    dev = dmf.dev_of(path)
    dmf.attach(dev, "stat")
    dd_direct(path, 10)
    assert dmf.status(dev, "stat")["counters"]["write_bios"] == 10
    with open(nb + "/power", "w") as f:
        f.write("0")  # del_gendisk
    os.rmdir(nb)
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
    assert dmf.status(part_dev, "stat")["counters"]["write_bios"] == 10
    # a filter sees the bios submitted to its own device: partition IO is the partition's
    assert dmf.status(whole_dev, "stat")["counters"]["write_bios"] == 0
    sh("partx -d --nr 1 %s" % loop)
    assert not attached(part_dev), dmf.list_attachments()
    assert attached(whole_dev)


def test_fio_verify_under_attach_detach_churn(s):
    loop = s.loop(64)
    dev = dmf.dev_of(loop)
    cycles, seen, failures = [0], [0], []
    stop = threading.Event()

    def churn():
        # fio's size and runtime bound the run; the churn lasts as long as fio does
        while not stop.is_set():
            try:
                dmf.attach(dev, "stat")
                c = dmf.status(dev, "stat")["counters"]
                seen[0] += c["write_bios"] + c["read_bios"]
                dmf.detach(dev, "stat")
                cycles[0] += 1
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
    assert cycles[0] >= 1, "no attach/detach happened during fio"
    assert seen[0] > 0, "the filter never saw fio's bios"
    assert not attached(dev)
    print("    fio verify passed with %d attach/detach cycles; the filter saw %d of its bios" % (
        cycles[0], seen[0]))


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
    assert dmf.status(dev, "stat")["counters"]["write_bios"] == 20
    assert dmf.status(dev, "test-sleep")["text"].startswith("seen=20 ")
    assert dmf.status(dev, "test-sleep")["counters"] is None, "test-sleep keeps no counters"
    sh("fio --name=v --filename=%s --rw=randwrite --bs=4k --size=4M --direct=1 --ioengine=libaio"
       " --iodepth=8 --verify=crc32c --verify_fatal=1 --output=/dev/null" % loop)
    dmf.detach(dev, "test-sleep")  # its cleanup entry then finds nothing, harmlessly
    before = dmf.status(dev, "stat")["counters"]["write_bios"]
    dd_direct(loop, 5)  # back to the in-hook path
    assert dmf.status(dev, "stat")["counters"]["write_bios"] == before + 5


def test_skipped_bio_fails_and_is_counted(s):
    load_test_type(s)
    loop = s.loop()
    dev = s.attach(loop, "stat")
    s.attach(loop, "test-sleep", "skip-writes")
    r = sh("dd if=/dev/urandom of=%s bs=4096 count=1 oflag=direct status=none" % loop, check=False)
    assert r.returncode != 0 and "Input/output error" in r.stderr, (r.returncode, r.stderr)
    c = dmf.status(dev, "stat")["counters"]
    assert c["write_bios"] == 1 and c["skipped_bios"] == 1, c
    assert dmf.status(dev, "test-sleep")["text"].endswith("skipped=1")
    with open(loop, "rb") as f:
        assert f.read(4096) == bytes(4096), "a skipped write reached the device"
    expect_errno(errno.EINVAL, dmf.attach, dmf.dev_of(s.loop()), "test-sleep", "bogus")


def reload_dm_mod(stock=False):
    """Swaps dm-mod under the suite; needs no dm device and no attachment left."""
    for mod in ("dm_flt_stat", "dm_mod"):
        if os.path.isdir("/sys/module/" + mod):
            r = sh("rmmod " + mod, check=False)
            assert r.returncode == 0, "cannot unload %s (dm devices or attachments left?): %s" % (
                mod, r.stderr.strip())
    if stock:
        sh("modprobe dm_mod")
    else:
        sh("insmod %s/dm-mod.ko" % MODULES)
        sh("insmod %s/dm-flt-stat.ko" % MODULES)


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
    sh("rmmod dm_flt_stat && rmmod dm_mod")
    sh("insmod %s/dmflt-hook-holder.ko" % MODULES)
    s.later(reload_dm_mod)
    sh("insmod %s/dm-mod.ko && insmod %s/dm-flt-stat.ko" % (MODULES, MODULES))
    expect_errno(errno.EBUSY, dmf.attach, dev, "stat")
    assert "another IPMODIFY ftrace user" in sh("dmesg").stdout
    assert not attached(dev)
    sh("rmmod dmflt_hook_holder")
    dmf.attach(dev, "stat")
    s.later(lambda: dmf.detach(dev, "stat"))
    dd_direct(loop, 3)
    assert dmf.status(dev, "stat")["counters"]["write_bios"] == 3


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
    passed, failed = suite_runner.run(tests, Scope)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print("kernel: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
