// SPDX-License-Identifier: GPL-2.0
/*
 * dm-flt-guard.c - the "guard" device filter: access checks that deny bios (read-only, deny) or record them (audit).
 *
 * Attach words, all optional:
 *   mode=read-only|deny|audit	default read-only
 *   ranges=OFFSET+LENGTH[,...]	bytes, multiples of 512, LENGTH > 0; default the whole device
 *   error=eio|target		a denied bio's status: BLK_STS_IOERR (default) or BLK_STS_TARGET
 *
 * read-only denies every bio but reads and empty flushes: writes (with or without
 * PREFLUSH/FUA), discards, secure erase (counted as discard), write-zeroes, and zone
 * management (counted as write). deny denies every bio. audit passes every bio and
 * records those read-only would deny. With ranges, the mode applies only to bios that
 * meet a range; one straddling a range edge is denied whole. Empty flushes meet no
 * range, so with ranges they pass; deny without ranges denies them too. Empty bios
 * that are not flushes (zone management) count as meeting every range. A denied bio
 * completes once, with the chosen status, and never reaches the device.
 *
 * A bio counts under one op: read, write, discard, write_zeroes, or flush (an empty
 * bio: REQ_OP_FLUSH, or a write with PREFLUSH and no data; its bytes are 0).
 *
 * Status, one line:
 *   mode=M error=E ranges=all|O+L,O+L... events=TOTAL dropped=OVERWRITTEN
 *   denied_read_bios=N denied_read_bytes=N ... denied_flush_bytes=N
 *   audited_read_bios=N ... audited_flush_bytes=N
 * (ops in the order read write discard write_zeroes flush; ranges as merged).
 *
 * The last GUARD_EVENTS denials (audit: would-be denials) are kept in a ring, each with
 * a sequence number from 1. QUERY "events [SINCE]" (SINCE decimal, default 0) answers
 * 1 + n records, little-endian:
 *   struct guard_events_head { u64 total; u64 dropped; }		16 bytes, first
 *   struct guard_event { u64 seq; u64 time_ns; u64 offset; u32 length;
 *			  u8 op; u8 verdict; u16 reserved; }		32 bytes each
 * total is the newest sequence number ever recorded, dropped how many events with
 * seq > SINCE were overwritten and are missing; then the events with seq > SINCE,
 * oldest first. time_ns is CLOCK_REALTIME, offset and length bytes, op 0 read 1 write
 * 2 discard 3 write_zeroes 4 flush, verdict 0 denied 1 audited, reserved 0.
 *
 * The bio path never sleeps and takes no lock shared between attachments: per-cpu
 * counters, and a per-attachment spinlock around the event ring. A read in read-only
 * or audit mode returns after the op check.
 */
#include <linux/bio.h>
#include <linux/build_bug.h>
#include <linux/device-mapper.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/ratelimit.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include "dm-filter-type.h"

#define DM_MSG_PREFIX "flt-guard"

#define GUARD_EVENTS 256	/* a power of two: seq indexes the ring */

enum guard_mode { GUARD_READ_ONLY, GUARD_DENY, GUARD_AUDIT };
enum guard_error { GUARD_EIO, GUARD_TARGET };
enum guard_op { GUARD_OP_READ, GUARD_OP_WRITE, GUARD_OP_DISCARD, GUARD_OP_WRITE_ZEROES,
		GUARD_OP_FLUSH, GUARD_NR_OPS };
enum guard_verdict { GUARD_DENIED, GUARD_AUDITED, GUARD_NR_VERDICTS };

static const char *const guard_modes[] = { "read-only", "deny", "audit", NULL };
static const char *const guard_errors[] = { "eio", "target", NULL };
static const char *const guard_op_names[GUARD_NR_OPS] = {
	"read", "write", "discard", "write_zeroes", "flush"
};
static const char *const guard_verdict_names[GUARD_NR_VERDICTS] = { "denied", "audited" };

/* QUERY "events": the layout the engine decodes (see the header comment). */
struct guard_events_head {
	__le64 total;
	__le64 dropped;
};

struct guard_event {
	__le64 seq;
	__le64 time_ns;
	__le64 offset;
	__le32 length;
	u8 op;
	u8 verdict;
	__le16 reserved;
};

struct guard_config {
	unsigned int mode;
	unsigned int error;
	struct dm_filter_ranges ranges;
};

static const struct dm_filter_opt guard_opts[] = {
	{ .name = "mode", .kind = DM_FILTER_OPT_ENUM,
	  .offset = offsetof(struct guard_config, mode), .choices = guard_modes },
	{ .name = "ranges", .kind = DM_FILTER_OPT_RANGES,
	  .offset = offsetof(struct guard_config, ranges), .align = SECTOR_SIZE },
	{ .name = "error", .kind = DM_FILTER_OPT_ENUM,
	  .offset = offsetof(struct guard_config, error), .choices = guard_errors },
};

struct guard_counts {
	u64 bios[GUARD_NR_VERDICTS][GUARD_NR_OPS];
	u64 bytes[GUARD_NR_VERDICTS][GUARD_NR_OPS];
};

struct guard_filter {
	struct guard_config cfg;
	blk_status_t status;
	dev_t dev;
	struct guard_counts __percpu *counts;
	struct ratelimit_state log_limit;

	spinlock_t ring_lock;	/* seq and ring; taken with irqs off (bios end in irq context) */
	u64 seq;		/* of the newest event, 0 before the first */
	struct guard_event ring[GUARD_EVENTS];
};

static int guard_attach(struct dm_filter *f, unsigned int argc, char **argv)
{
	struct guard_config cfg = { .mode = GUARD_READ_ONLY, .error = GUARD_EIO };
	struct guard_filter *g;
	int r;

	BUILD_BUG_ON(sizeof(struct guard_events_head) != 16);
	BUILD_BUG_ON(sizeof(struct guard_event) != 32);
	BUILD_BUG_ON(GUARD_EVENTS & (GUARD_EVENTS - 1));

	r = dm_filter_parse_options(f, argc, argv, guard_opts, ARRAY_SIZE(guard_opts), &cfg);
	if (r)
		return r;
	r = -ENOMEM;
	g = kzalloc(sizeof(*g), GFP_KERNEL);
	if (!g)
		goto bad;
	g->counts = alloc_percpu(struct guard_counts);
	if (!g->counts)
		goto bad_counts;
	g->cfg = cfg;
	g->status = cfg.error == GUARD_TARGET ? BLK_STS_TARGET : BLK_STS_IOERR;
	g->dev = f->dev;
	ratelimit_state_init(&g->log_limit, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);
	spin_lock_init(&g->ring_lock);
	f->private = g;
	return 0;

bad_counts:
	kfree(g);
bad:
	dm_filter_ranges_free(&cfg.ranges);
	f->error = "out of memory";
	return r;
}

static void guard_detach(struct dm_filter *f)
{
	struct guard_filter *g = f->private;

	free_percpu(g->counts);
	dm_filter_ranges_free(&g->cfg.ranges);
	kfree(g);
}

/* The op a bio counts under: its data op, or flush when it is an empty flush. */
static enum guard_op guard_classify(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		return GUARD_OP_READ;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		return GUARD_OP_DISCARD;
	case REQ_OP_WRITE_ZEROES:
		return GUARD_OP_WRITE_ZEROES;
	case REQ_OP_FLUSH:
		return GUARD_OP_FLUSH;
	case REQ_OP_WRITE:
		return bio->bi_iter.bi_size ? GUARD_OP_WRITE : GUARD_OP_FLUSH;
	default:
		return GUARD_OP_WRITE;	/* zone management and the rest change data: fail closed */
	}
}

static void guard_record(struct guard_filter *g, struct bio *bio, enum guard_op op,
			 enum guard_verdict verdict)
{
	u64 offset = bio->bi_iter.bi_sector << SECTOR_SHIFT;
	u32 length = bio->bi_iter.bi_size;
	u64 now = ktime_get_real_ns();
	struct guard_event *e;
	unsigned long flags;

	this_cpu_inc(g->counts->bios[verdict][op]);
	this_cpu_add(g->counts->bytes[verdict][op], length);

	spin_lock_irqsave(&g->ring_lock, flags);
	e = &g->ring[g->seq % GUARD_EVENTS];
	e->seq = cpu_to_le64(++g->seq);
	e->time_ns = cpu_to_le64(now);
	e->offset = cpu_to_le64(offset);
	e->length = cpu_to_le32(length);
	e->op = op;
	e->verdict = verdict;
	e->reserved = 0;
	spin_unlock_irqrestore(&g->ring_lock, flags);

	if (__ratelimit(&g->log_limit))
		DMWARN("%u:%u: %s %s of %u bytes at byte %llu", MAJOR(g->dev), MINOR(g->dev),
		       verdict == GUARD_DENIED ? "denied" : "audit: would deny",
		       guard_op_names[op], length, offset);
}

static enum dm_filter_verdict guard_submit_bio(struct dm_filter *f, struct bio *bio)
{
	struct guard_filter *g = f->private;
	enum guard_op op;

	/* the benchmarked case, a read in read-only (or audit) mode, ends here */
	if (likely(bio_op(bio) == REQ_OP_READ) && g->cfg.mode != GUARD_DENY)
		return DM_FILTER_PASS;

	op = guard_classify(bio);
	if (g->cfg.mode != GUARD_DENY && (op == GUARD_OP_READ || op == GUARD_OP_FLUSH))
		return DM_FILTER_PASS;
	if (g->cfg.ranges.count) {
		/* an empty flush meets no range; other empty bios (zones) meet them all */
		if (op == GUARD_OP_FLUSH)
			return DM_FILTER_PASS;
		if (bio->bi_iter.bi_size &&
		    !dm_filter_ranges_meet(&g->cfg.ranges, bio->bi_iter.bi_sector << SECTOR_SHIFT,
					   bio->bi_iter.bi_size))
			return DM_FILTER_PASS;
	}

	if (g->cfg.mode == GUARD_AUDIT) {
		guard_record(g, bio, op, GUARD_AUDITED);
		return DM_FILTER_PASS;
	}
	guard_record(g, bio, op, GUARD_DENIED);
	bio->bi_status = g->status;
	bio_endio(bio);
	return DM_FILTER_SKIP;
}

static void guard_sum(struct guard_filter *g, struct guard_counts *sum)
{
	int cpu, v, op;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		struct guard_counts *c = per_cpu_ptr(g->counts, cpu);

		for (v = 0; v < GUARD_NR_VERDICTS; v++) {
			for (op = 0; op < GUARD_NR_OPS; op++) {
				sum->bios[v][op] += READ_ONCE(c->bios[v][op]);
				sum->bytes[v][op] += READ_ONCE(c->bytes[v][op]);
			}
		}
	}
}

static void guard_status(struct dm_filter *f, struct dm_filter_out *out)
{
	struct guard_filter *g = f->private;
	const struct dm_filter_ranges *ranges = &g->cfg.ranges;
	struct guard_counts sum;
	unsigned long flags;
	unsigned int i;
	int v, op;
	u64 total;

	spin_lock_irqsave(&g->ring_lock, flags);
	total = g->seq;
	spin_unlock_irqrestore(&g->ring_lock, flags);
	guard_sum(g, &sum);

	dm_filter_out_printf(out, "mode=%s error=%s ranges=", guard_modes[g->cfg.mode],
			     guard_errors[g->cfg.error]);
	if (!ranges->count)
		dm_filter_out_printf(out, "all");
	for (i = 0; i < ranges->count; i++)
		dm_filter_out_printf(out, "%s%llu+%llu", i ? "," : "", ranges->r[i].start,
				     ranges->r[i].len);
	dm_filter_out_printf(out, " events=%llu dropped=%llu", total,
			     total > GUARD_EVENTS ? total - GUARD_EVENTS : 0);
	for (v = 0; v < GUARD_NR_VERDICTS; v++)
		for (op = 0; op < GUARD_NR_OPS; op++)
			dm_filter_out_printf(out, " %s_%s_bios=%llu %s_%s_bytes=%llu",
					     guard_verdict_names[v], guard_op_names[op],
					     sum.bios[v][op], guard_verdict_names[v],
					     guard_op_names[op], sum.bytes[v][op]);
}

/* QUERY "events [SINCE]": the head, then the kept events newer than SINCE, oldest first. */
static int guard_query_events(struct dm_filter *f, struct guard_filter *g, u64 since,
			      struct dm_filter_out *out)
{
	struct guard_events_head head;
	struct guard_event *copy;
	u64 total, oldest, first, seq;
	unsigned long flags;
	unsigned int n = 0;

	/* copied out first: the ring lock is taken with irqs off, the reply may be large */
	copy = kmalloc_array(GUARD_EVENTS, sizeof(*copy), GFP_KERNEL);
	if (!copy) {
		f->error = "out of memory";
		return -ENOMEM;
	}
	spin_lock_irqsave(&g->ring_lock, flags);
	total = g->seq;
	oldest = total > GUARD_EVENTS ? total - GUARD_EVENTS + 1 : 1;
	first = max(since + 1, oldest);
	for (seq = first; since < total && seq <= total; seq++)
		copy[n++] = g->ring[(seq - 1) % GUARD_EVENTS];
	spin_unlock_irqrestore(&g->ring_lock, flags);

	head.total = cpu_to_le64(total);
	head.dropped = cpu_to_le64(since < total && since + 1 < oldest ? oldest - since - 1 : 0);
	dm_filter_out_record(out, &head, sizeof(head));
	for (seq = 0; seq < n; seq++)
		dm_filter_out_record(out, &copy[seq], sizeof(copy[seq]));
	kfree(copy);
	return 0;
}

static int guard_query(struct dm_filter *f, unsigned int argc, char **argv,
		       struct dm_filter_out *out)
{
	struct guard_filter *g = f->private;
	u64 since = 0;

	if (strcmp(argv[0], "events")) {
		f->error = "unknown query (guard answers: events [SINCE])";
		return -EINVAL;
	}
	if (argc > 2 || (argc == 2 && kstrtou64(argv[1], 10, &since))) {
		f->error = "events takes one decimal sequence number: events [SINCE]";
		return -EINVAL;
	}
	return guard_query_events(f, g, since, out);
}

static struct dm_filter_type guard_filter_type = {
	.name = "guard",
	.module = THIS_MODULE,
	.version = {1, 0, 0},
	.features = DM_FILTER_TYPE_ATOMIC,
	.attach = guard_attach,
	.detach = guard_detach,
	.submit_bio = guard_submit_bio,
	.status = guard_status,
	.query = guard_query,
};

static int __init dm_flt_guard_init(void)
{
	return dm_filter_register_type(&guard_filter_type);
}

static void __exit dm_flt_guard_exit(void)
{
	dm_filter_unregister_type(&guard_filter_type);
}

module_init(dm_flt_guard_init);
module_exit(dm_flt_guard_exit);

MODULE_DESCRIPTION("guard device filter: read-only, deny and audit access checks");
MODULE_LICENSE("GPL");
