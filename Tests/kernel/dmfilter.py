#!/usr/bin/env python3
"""Raw client of the DM_DEV_FILTER ioctl (kernel/include/uapi/linux/dm-filter.h), as a library and a command line."""
import errno
import fcntl
import os
import struct
import sys

CONTROL = "/dev/mapper/control"

DM_FILTER_MAGIC = 0x444D464C
DM_FILTER_ABI_VERSION = 2
DM_DEV_FILTER_CMD = 18
DM_FILTER_NAME_LEN = 32
DM_FILTER_TEXT_MAX = 4096
DM_BUFFER_FULL_FLAG = 1 << 8
REPLY_MAX = 16 << 20  # the engine's cap on a retried buffer; ours too

OP_LIST_TYPES, OP_ATTACH, OP_DETACH, OP_LIST, OP_STATUS, OP_MESSAGE, OP_QUERY = range(1, 8)
OP_COUNT = 8

# struct dm_ioctl: version[3], data_size, data_start, target_count, open_count, flags,
# event_nr, padding, dev, name[128], uuid[129], data[7]
DM_IOCTL = struct.Struct("=3IIIIiIIIQ128s129s7s")
assert DM_IOCTL.size == 312
MSG = struct.Struct("=IIIIQ32sII")  # magic abi op flags dev type text_len reserved
REPLY = struct.Struct("=6I")  # magic abi op count data_len flags
TYPE_INFO = struct.Struct("=32s3II")
ATTACHMENT_INFO = struct.Struct("=Q32sQII")
STATUS_TAIL = struct.Struct("=II")  # status_len reserved, after the attachment info
# guard's QUERY "events" records (kernel/dm-flt-guard.c)
GUARD_EVENTS_HEAD = struct.Struct("<QQ")  # total dropped
GUARD_EVENT = struct.Struct("<QQQIBBH")  # seq time_ns offset length op verdict reserved
GUARD_OPS = ("read", "write", "discard", "write_zeroes", "flush")
GUARD_VERDICTS = ("denied", "audited")
# cbt's QUERY records (kernel/dm-flt-cbt.c): the head, then extents or the byte map
CBT_HEAD = struct.Struct("<16sQQQQQQ")  # generation sequence since block_size device_size blocks generation_ns
CBT_EXTENT = struct.Struct("<QQ")  # offset length, bytes


def ioc_iowr(type_, nr, size):
    return (3 << 30) | (size << 16) | (type_ << 8) | nr


DM_DEV_FILTER = ioc_iowr(0xFD, DM_DEV_FILTER_CMD, DM_IOCTL.size)


def makedev(major, minor):
    """glibc makedev(), which the ABI says equals huge_encode_dev()."""
    return (((major & 0xFFFFF000) << 32) | ((major & 0xFFF) << 8) |
            ((minor & 0xFFFFFF00) << 12) | (minor & 0xFF))


def dev_of(path):
    st = os.stat(path)
    return makedev(os.major(st.st_rdev), os.minor(st.st_rdev))


def cstr(raw):
    return raw.split(b"\0", 1)[0].decode()


class FilterError(OSError):
    pass


def build(op, dev=0, type_name="", text=None, *, magic=DM_FILTER_MAGIC,
          abi=DM_FILTER_ABI_VERSION, flags=0, reserved=0, text_len=None, raw_type=None,
          raw_text=None, size=16384, data_start=DM_IOCTL.size, data_size=None, name=b"",
          dm_version=(4, 0, 0)):
    """A request buffer; every field can be forced wrong for the error-path tests."""
    if raw_text is None:
        raw_text = b"" if text is None else text.encode() + b"\0"
    if text_len is None:
        text_len = len(raw_text)
    type_raw = raw_type if raw_type is not None else type_name.encode()
    buf = bytearray(max(size, data_start + MSG.size + len(raw_text)))
    if data_size is None:
        data_size = len(buf)
    DM_IOCTL.pack_into(buf, 0, *dm_version, data_size, data_start, 0, 0, 0, 0, 0, 0,
                       name, b"", b"")
    if data_start + MSG.size <= len(buf):
        MSG.pack_into(buf, data_start, magic, abi, op, flags, dev, type_raw, text_len, reserved)
        buf[data_start + MSG.size:data_start + MSG.size + len(raw_text)] = raw_text
    return buf


def call(buf, path=CONTROL):
    """Issues the ioctl; returns (dm_ioctl flags, reply header tuple, records bytes)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.ioctl(fd, DM_DEV_FILTER, buf, True)
    except OSError as e:
        raise FilterError(e.errno, os.strerror(e.errno)) from None
    finally:
        os.close(fd)
    fields = DM_IOCTL.unpack_from(buf, 0)
    data_size, data_start, flags = fields[3], fields[4], fields[7]
    reply = REPLY.unpack_from(buf, data_start)
    if reply[0] != DM_FILTER_MAGIC:
        raise RuntimeError("reply without DM_FILTER_MAGIC: not a filter-capable dm-mod")
    body = bytes(buf[data_start + REPLY.size:data_size])
    return flags, reply, body


def request(op, dev=0, type_name="", text=None, size=16384, retries=None):
    """Issues op, growing the buffer while the kernel says it is full (as the engine does,
    up to REPLY_MAX); retries, a list, gets the size of every buffer that was too small."""
    while True:
        flags, reply, body = call(build(op, dev, type_name, text, size=size))
        if not flags & DM_BUFFER_FULL_FLAG:
            return reply, body
        if retries is not None:
            retries.append(size)
        size = DM_IOCTL.size + REPLY.size + reply[4] + 64
        if size > REPLY_MAX:
            raise FilterError(errno.E2BIG, "reply of %d bytes exceeds %d" % (reply[4], REPLY_MAX))


def list_types():
    reply, body = request(OP_LIST_TYPES)
    out = []
    for i in range(reply[3]):
        name, v0, v1, v2, n = TYPE_INFO.unpack_from(body, i * TYPE_INFO.size)
        out.append({"name": cstr(name), "version": (v0, v1, v2), "attachments": n})
    return out


def attach(dev, type_name, options=None):
    request(OP_ATTACH, dev, type_name, options)


def detach(dev, type_name):
    request(OP_DETACH, dev, type_name)


def list_attachments():
    reply, body = request(OP_LIST)
    out = []
    for i in range(reply[3]):
        dev, t, ns, flags, _ = ATTACHMENT_INFO.unpack_from(body, i * ATTACHMENT_INFO.size)
        out.append({"dev": dev, "type": cstr(t), "attached_ns": ns, "flags": flags})
    return out


def words(text):
    """A status line's name=value words as a dict, numbers as ints."""
    out = {}
    for w in text.split():
        k, _, v = w.partition("=")
        out[k] = int(v) if v.isdigit() else v
    return out


def status(dev, type_name, size=16384, retries=None):
    """STATUS; "words" is the status text as a dict (stat's counters are its words)."""
    reply, body = request(OP_STATUS, dev, type_name, size=size, retries=retries)
    adev, t, ns, flags, _ = ATTACHMENT_INFO.unpack_from(body, 0)
    status_len, reserved = STATUS_TAIL.unpack_from(body, ATTACHMENT_INFO.size)
    off = ATTACHMENT_INFO.size + STATUS_TAIL.size
    raw_text = body[off:off + status_len]
    assert len(body) == reply[4] == off + status_len, (len(body), reply, status_len)
    assert raw_text.endswith(b"\0") and raw_text.count(b"\0") == 1, raw_text[-16:]
    text = cstr(raw_text)
    return {"dev": adev, "type": cstr(t), "attached_ns": ns, "flags": flags,
            "reserved": reserved, "text": text, "words": words(text),
            "status_len": status_len, "count": reply[3]}


def counters(dev, type_name="stat"):
    """stat's counters, read from its status words as the engine reads them."""
    return status(dev, type_name)["words"]


def message(dev, type_name, text):
    reply, body = request(OP_MESSAGE, dev, type_name, text)
    return cstr(body)


def query(dev, type_name, text, size=16384, retries=None):
    """QUERY: (record count, raw records) as the type lays them out."""
    reply, body = request(OP_QUERY, dev, type_name, text, size=size, retries=retries)
    assert len(body) == reply[4], (len(body), reply)
    return reply[3], body


def guard_events(dev, since=None, size=16384, retries=None):
    """guard's QUERY "events [SINCE]": {"total", "dropped", "items": [...]}."""
    count, body = query(dev, "guard", "events" if since is None else "events %d" % since,
                        size=size, retries=retries)
    assert count >= 1 and len(body) == GUARD_EVENTS_HEAD.size + (count - 1) * GUARD_EVENT.size, (
        count, len(body))
    total, dropped = GUARD_EVENTS_HEAD.unpack_from(body, 0)
    items = []
    for i in range(count - 1):
        seq, ns, off, length, op, verdict, res = GUARD_EVENT.unpack_from(
            body, GUARD_EVENTS_HEAD.size + i * GUARD_EVENT.size)
        items.append({"seq": seq, "time_ns": ns, "offset": off, "length": length,
                      "op": GUARD_OPS[op], "verdict": GUARD_VERDICTS[verdict], "reserved": res})
    return {"total": total, "dropped": dropped, "items": items}


def _cbt_head(body):
    gen, seq, since, bs, size, blocks, gen_ns = CBT_HEAD.unpack_from(body, 0)
    g = gen.hex()
    return {"generation": "%s-%s-%s-%s-%s" % (g[:8], g[8:12], g[12:16], g[16:20], g[20:]),
            "sequence": seq, "since": since, "block_size": bs, "device_size": size,
            "blocks": blocks, "generation_ns": gen_ns}


def cbt_changes(dev, since=0, size=16384, retries=None):
    """cbt's QUERY "changes SINCE": the head as a dict, with "extents": [(offset, length), ...]."""
    count, body = query(dev, "cbt", "changes %d" % since, size=size, retries=retries)
    assert count >= 1 and len(body) == CBT_HEAD.size + (count - 1) * CBT_EXTENT.size, (count, len(body))
    head = _cbt_head(body)
    head["extents"] = [CBT_EXTENT.unpack_from(body, CBT_HEAD.size + i * CBT_EXTENT.size)
                       for i in range(count - 1)]
    return head


def cbt_map(dev, size=16384, retries=None):
    """cbt's QUERY "map": the head as a dict, with "map": one byte per block (its interval)."""
    count, body = query(dev, "cbt", "map", size=size, retries=retries)
    head = _cbt_head(body)
    assert count == 2 and len(body) == CBT_HEAD.size + head["blocks"], (count, len(body), head)
    head["map"] = body[CBT_HEAD.size:]
    return head


def cbt_mark(dev):
    """cbt's "mark" message: {"generation", "sequence", "time"}."""
    w = words(message(dev, "cbt", "mark"))
    assert sorted(w) == ["generation", "sequence", "time"], w
    return w


def parse_dev(arg):
    if ":" in arg and not arg.startswith("/"):
        major, minor = arg.split(":")
        return makedev(int(major), int(minor))
    return dev_of(arg)


def main(argv):
    usage = ("usage: dmfilter.py types | list | attach DEV TYPE [OPTIONS...] | detach DEV TYPE"
             " | status DEV TYPE | message DEV TYPE WORDS... | query DEV TYPE WORDS..."
             "   (DEV: /dev/x or MAJ:MIN; query prints the records in hex, one a line,"
             " guard's events decoded)")
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    try:
        if cmd == "types":
            for t in list_types():
                print("%s %d.%d.%d attachments=%d" % ((t["name"],) + t["version"] + (t["attachments"],)))
        elif cmd == "list":
            for a in list_attachments():
                print("%d:%d %s" % (os.major(a["dev"]), os.minor(a["dev"]), a["type"]))
        elif cmd == "attach" and len(args) >= 2:
            attach(parse_dev(args[0]), args[1], " ".join(args[2:]) if len(args) > 2 else None)
        elif cmd == "detach" and len(args) == 2:
            detach(parse_dev(args[0]), args[1])
        elif cmd == "status" and len(args) == 2:
            print(status(parse_dev(args[0]), args[1])["text"])
        elif cmd == "message" and len(args) >= 3:
            print(message(parse_dev(args[0]), args[1], " ".join(args[2:])))
        elif cmd == "query" and len(args) >= 3 and args[1] == "guard" and args[2] == "events":
            ev = guard_events(parse_dev(args[0]), int(args[3]) if len(args) > 3 else None)
            print("total=%d dropped=%d" % (ev["total"], ev["dropped"]))
            for e in ev["items"]:
                print("%d %d %s %s offset=%d length=%d" % (e["seq"], e["time_ns"], e["verdict"],
                                                           e["op"], e["offset"], e["length"]))
        elif cmd == "query" and len(args) >= 3:
            count, body = query(parse_dev(args[0]), args[1], " ".join(args[2:]))
            print("count=%d data_len=%d" % (count, len(body)))
            print(body.hex())
        else:
            print(usage, file=sys.stderr)
            return 2
    except FilterError as e:
        print("dmfilter: %s: %s (%s)" % (cmd, e.strerror, errno.errorcode.get(e.errno, e.errno)),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
