// SPDX-License-Identifier: GPL-2.0
/*
 * dm-flt-cbt.c - the "cbt" device filter: changed-block tracking with marks, for incremental backup.
 *
 * Attach words, all optional:
 *   block-size=BYTES		a power of two from 4096 to 67108864; default 65536, doubled
 *				until the device has at most 2097152 blocks
 *   track-discards=true|false	whether discards mark blocks (default true)
 *
 * The map has one byte per block: the interval of the block's last change, 0 for none.
 * Intervals are numbered from 1; "sequence" is the number of marks taken in this
 * generation, and a change is recorded as interval sequence + 1. Writes with data,
 * write-zeroes, and (with track-discards) discards and secure erase mark every block
 * they touch; reads, empty flushes and zone commands mark nothing.
 *
 * A generation is a random UUID naming one continuous history of the map. A new one
 * (map cleared, sequence 0) is made at attach, by the "reset" message, by a mark that
 * would need interval 256 (the byte wraps), and when the device's size has changed
 * (seen by the next control call: status, message or query).
 *
 * Marks: message "mark" ends the current interval. Its reply text is
 *   generation=UUID sequence=N time=NS
 * (N the new sequence, NS CLOCK_REALTIME). The sequence is raised first, then the mark
 * waits for an RCU grace period: the bio path reads the sequence and stores its marks
 * inside one RCU read-side section, so when the grace period ends every bio that saw the
 * old sequence has stored it, and every later one sees the new one. A byte only grows
 * (compare-and-exchange to the larger value), so a slow bio never hides a newer change.
 *
 * Status, one line:
 *   generation=UUID generation_reason=attach|reset|wrap|resize generation_ns=NS
 *   sequence=N block_size=N blocks=N device_size=N changed_blocks=N memory_bytes=N
 *   track_discards=true|false
 * changed_blocks counts the blocks changed in this generation; memory_bytes is the map's.
 *
 * QUERY answers, little-endian records; the first is always this head (64 bytes):
 *   struct cbt_head { u8 generation[16]; u64 sequence; u64 since; u64 block_size;
 *		       u64 device_size; u64 blocks; u64 generation_ns; }
 * "changes SINCE" (decimal): then one record per run of adjacent blocks changed after
 *   mark SINCE (byte > SINCE), in block order:
 *   struct cbt_extent { u64 offset; u64 length; }	bytes; the last block ends at the
 *							device's end
 * "map": then one record of `blocks` bytes, the per-block interval map itself.
 *
 * The bio path never sleeps, allocates nothing and takes no lock: an RCU-protected map
 * pointer, one sequence load, and one compare-and-exchange per block whose byte grows.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/build_bug.h>
#include <linux/device-mapper.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uuid.h>
#include "dm-filter-type.h"

#define DM_MSG_PREFIX "flt-cbt"

#define CBT_MIN_BLOCK		4096ULL
#define CBT_MAX_BLOCK		(64ULL << 20)
#define CBT_DEFAULT_BLOCK	(64ULL << 10)
#define CBT_DEFAULT_BLOCKS	2097152ULL	/* the default block size keeps a map near 2 MiB */
#define CBT_MAX_BLOCKS		(1ULL << 28)	/* 256 MiB of map: refuse a block size below that */
#define CBT_MAX_SEQUENCE	254U		/* interval 255 is the largest a byte holds */

enum cbt_reason { CBT_ATTACH, CBT_RESET, CBT_WRAP, CBT_RESIZE };
static const char *const cbt_reasons[] = { "attach", "reset", "wrap", "resize" };

struct cbt_head {
	u8 generation[16];
	__le64 sequence;
	__le64 since;
	__le64 block_size;
	__le64 device_size;
	__le64 blocks;
	__le64 generation_ns;
};

struct cbt_extent {
	__le64 offset;
	__le64 length;
};

/* One generation: replaced whole (RCU) when continuity is lost, never resized in place. */
struct cbt_map {
	uuid_t generation;
	enum cbt_reason reason;
	u64 generation_ns;
	unsigned int sequence;	/* marks taken; written under the registry mutex only */
	unsigned int shift;	/* log2 of the block size */
	u64 device_size;	/* bytes, when the generation began */
	u64 blocks;
	struct rcu_head rcu;
	u8 *seqs;		/* kvmalloc'ed, one byte per block */
};

struct cbt_config {
	u64 block_size;		/* 0: the default rule */
	bool track_discards;
};

static const struct dm_filter_opt cbt_opts[] = {
	{ .name = "block-size", .kind = DM_FILTER_OPT_U64,
	  .offset = offsetof(struct cbt_config, block_size),
	  .min = CBT_MIN_BLOCK, .max = CBT_MAX_BLOCK, .align = CBT_MIN_BLOCK },
	{ .name = "track-discards", .kind = DM_FILTER_OPT_BOOL,
	  .offset = offsetof(struct cbt_config, track_discards) },
};

struct cbt_filter {
	struct cbt_config cfg;
	struct cbt_map __rcu *map;
};

static unsigned int cbt_shift_for(const struct cbt_config *cfg, u64 device_size)
{
	u64 bs = cfg->block_size;

	if (!bs) {
		bs = CBT_DEFAULT_BLOCK;
		while (bs < CBT_MAX_BLOCK && DIV_ROUND_UP_ULL(device_size, bs) > CBT_DEFAULT_BLOCKS)
			bs <<= 1;
	}
	return ilog2(bs);
}

static struct cbt_map *cbt_map_alloc(struct dm_filter *f, const struct cbt_config *cfg,
				     enum cbt_reason reason)
{
	u64 size = bdev_nr_bytes(f->bdev);
	unsigned int shift = cbt_shift_for(cfg, size);
	u64 blocks = max_t(u64, 1, DIV_ROUND_UP_ULL(size, 1ULL << shift));
	struct cbt_map *m;

	if (blocks > CBT_MAX_BLOCKS) {
		f->error = "block-size too small: the map would exceed 268435456 blocks";
		return ERR_PTR(-EINVAL);
	}
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		goto nomem;
	m->seqs = kvzalloc(blocks, GFP_KERNEL);
	if (!m->seqs) {
		kfree(m);
		goto nomem;
	}
	uuid_gen(&m->generation);
	m->reason = reason;
	m->generation_ns = ktime_get_real_ns();
	m->shift = shift;
	m->device_size = size;
	m->blocks = blocks;
	return m;
nomem:
	f->error = "out of memory for the block map";
	return ERR_PTR(-ENOMEM);
}

static void cbt_map_free(struct cbt_map *m)
{
	kvfree(m->seqs);
	kfree(m);
}

/* Under the registry mutex: the map the control calls use. */
static struct cbt_map *cbt_map(struct cbt_filter *c)
{
	return rcu_dereference_protected(c->map, true);
}

/* A new generation in place of the current one; bios still on the old map finish first. */
static int cbt_new_generation(struct dm_filter *f, enum cbt_reason reason)
{
	struct cbt_filter *c = f->private;
	struct cbt_map *old = cbt_map(c);
	struct cbt_map *m = cbt_map_alloc(f, &c->cfg, reason);

	if (IS_ERR(m))
		return PTR_ERR(m);
	rcu_assign_pointer(c->map, m);
	synchronize_rcu();
	cbt_map_free(old);
	return 0;
}

/* A resize breaks the map's geometry: every control call looks first. */
static int cbt_check_size(struct dm_filter *f)
{
	struct cbt_filter *c = f->private;

	if (bdev_nr_bytes(f->bdev) == cbt_map(c)->device_size)
		return 0;
	DMINFO("%u:%u: device size changed from %llu to %llu bytes: new generation",
	       MAJOR(f->dev), MINOR(f->dev), cbt_map(c)->device_size, bdev_nr_bytes(f->bdev));
	return cbt_new_generation(f, CBT_RESIZE);
}

static int cbt_attach(struct dm_filter *f, unsigned int argc, char **argv)
{
	struct cbt_config cfg = { .block_size = 0, .track_discards = true };
	struct cbt_filter *c;
	struct cbt_map *m;
	int r;

	BUILD_BUG_ON(sizeof(struct cbt_head) != 64);
	BUILD_BUG_ON(sizeof(struct cbt_extent) != 16);

	r = dm_filter_parse_options(f, argc, argv, cbt_opts, ARRAY_SIZE(cbt_opts), &cfg);
	if (r)
		return r;
	if (cfg.block_size && !is_power_of_2(cfg.block_size)) {
		f->error = "option block-size: not a power of two";
		DMERR("%u:%u: block-size %llu is not a power of two", MAJOR(f->dev), MINOR(f->dev),
		      cfg.block_size);
		return -EINVAL;
	}
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c) {
		f->error = "out of memory";
		return -ENOMEM;
	}
	c->cfg = cfg;
	m = cbt_map_alloc(f, &cfg, CBT_ATTACH);
	if (IS_ERR(m)) {
		kfree(c);
		DMERR("%u:%u: %s", MAJOR(f->dev), MINOR(f->dev), f->error);
		return PTR_ERR(m);
	}
	RCU_INIT_POINTER(c->map, m);
	f->private = c;
	return 0;
}

static void cbt_detach(struct dm_filter *f)
{
	struct cbt_filter *c = f->private;

	/* the core waited for every bio path user before calling detach */
	cbt_map_free(cbt_map(c));
	kfree(c);
}

/* Raises the bytes of blocks [first, last] to tag; a byte never goes down. */
static void cbt_mark(u8 *seqs, u64 first, u64 last, u8 tag)
{
	u64 b;

	for (b = first; b <= last; b++) {
		u8 old = READ_ONCE(seqs[b]);

		while (old < tag) {
			u8 seen = cmpxchg(&seqs[b], old, tag);

			if (seen == old)
				break;
			old = seen;
		}
	}
}

static enum dm_filter_verdict cbt_submit_bio(struct dm_filter *f, struct bio *bio)
{
	struct cbt_filter *c = f->private;
	struct cbt_map *m;
	u64 start, end;

	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_WRITE_ZEROES:
		break;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		if (!c->cfg.track_discards)
			return DM_FILTER_PASS;
		break;
	default:
		return DM_FILTER_PASS;
	}
	if (unlikely(!bio->bi_iter.bi_size))
		return DM_FILTER_PASS;	/* an empty flush */

	start = (u64)bio->bi_iter.bi_sector << SECTOR_SHIFT;
	end = start + bio->bi_iter.bi_size;
	/* the sequence load and the stores share one section: a mark waits for it */
	rcu_read_lock();
	m = rcu_dereference(c->map);
	start >>= m->shift;
	end = (end - 1) >> m->shift;
	if (start < m->blocks)
		cbt_mark(m->seqs, start, min(end, m->blocks - 1), READ_ONCE(m->sequence) + 1);
	rcu_read_unlock();
	return DM_FILTER_PASS;
}

static u64 cbt_changed_blocks(const struct cbt_map *m)
{
	u64 b, n = 0;

	for (b = 0; b < m->blocks; b++)
		n += READ_ONCE(m->seqs[b]) != 0;
	return n;
}

static void cbt_status(struct dm_filter *f, struct dm_filter_out *out)
{
	struct cbt_filter *c = f->private;
	struct cbt_map *m;

	/* a failed allocation keeps the old map; the next call tries again */
	cbt_check_size(f);
	m = cbt_map(c);
	dm_filter_out_printf(out, "generation=%pUb generation_reason=%s generation_ns=%llu",
			     &m->generation, cbt_reasons[m->reason], m->generation_ns);
	dm_filter_out_printf(out, " sequence=%u block_size=%llu blocks=%llu device_size=%llu",
			     m->sequence, 1ULL << m->shift, m->blocks, m->device_size);
	dm_filter_out_printf(out, " changed_blocks=%llu memory_bytes=%llu track_discards=%s",
			     cbt_changed_blocks(m), (u64)(sizeof(*m) + m->blocks),
			     c->cfg.track_discards ? "true" : "false");
}

static int cbt_message(struct dm_filter *f, unsigned int argc, char **argv,
		       struct dm_filter_out *out)
{
	struct cbt_filter *c = f->private;
	struct cbt_map *m;
	int r;

	if (argc != 1 || (strcmp(argv[0], "mark") && strcmp(argv[0], "reset"))) {
		f->error = "unknown message (cbt takes: mark, reset)";
		return -EINVAL;
	}
	r = cbt_check_size(f);
	if (r)
		return r;
	if (!strcmp(argv[0], "reset"))
		return cbt_new_generation(f, CBT_RESET);

	m = cbt_map(c);
	if (m->sequence >= CBT_MAX_SEQUENCE) {
		r = cbt_new_generation(f, CBT_WRAP);
		if (r)
			return r;
		m = cbt_map(c);
	} else {
		WRITE_ONCE(m->sequence, m->sequence + 1);
		/* every bio that read the old sequence has stored its marks when this returns */
		synchronize_rcu();
	}
	dm_filter_out_printf(out, "generation=%pUb sequence=%u time=%llu", &m->generation,
			     m->sequence, ktime_get_real_ns());
	return 0;
}

static void cbt_head(struct cbt_map *m, u64 since, struct dm_filter_out *out)
{
	struct cbt_head head;

	memcpy(head.generation, &m->generation, sizeof(head.generation));
	head.sequence = cpu_to_le64(m->sequence);
	head.since = cpu_to_le64(since);
	head.block_size = cpu_to_le64(1ULL << m->shift);
	head.device_size = cpu_to_le64(m->device_size);
	head.blocks = cpu_to_le64(m->blocks);
	head.generation_ns = cpu_to_le64(m->generation_ns);
	dm_filter_out_record(out, &head, sizeof(head));
}

static void cbt_extent(struct cbt_map *m, u64 first, u64 end, struct dm_filter_out *out)
{
	struct cbt_extent e;
	u64 offset = first << m->shift;

	e.offset = cpu_to_le64(offset);
	e.length = cpu_to_le64(min(end << m->shift, m->device_size) - offset);
	dm_filter_out_record(out, &e, sizeof(e));
}

static void cbt_query_changes(struct cbt_map *m, u64 since, struct dm_filter_out *out)
{
	u64 b, first = 0;
	bool in_run = false;

	cbt_head(m, since, out);
	for (b = 0; b < m->blocks; b++) {
		bool changed = READ_ONCE(m->seqs[b]) > since;

		if (changed && !in_run) {
			first = b;
			in_run = true;
		} else if (!changed && in_run) {
			cbt_extent(m, first, b, out);
			in_run = false;
		}
		if (!(b & 0xfffff))
			cond_resched();
	}
	if (in_run)
		cbt_extent(m, first, m->blocks, out);
}

static int cbt_query(struct dm_filter *f, unsigned int argc, char **argv,
		     struct dm_filter_out *out)
{
	struct cbt_filter *c = f->private;
	u64 since = 0;
	int r;

	if (!strcmp(argv[0], "changes")) {
		if (argc != 2 || kstrtou64(argv[1], 10, &since)) {
			f->error = "changes takes one decimal sequence number: changes SINCE";
			return -EINVAL;
		}
	} else if (!strcmp(argv[0], "map")) {
		if (argc != 1) {
			f->error = "map takes no words";
			return -EINVAL;
		}
	} else {
		f->error = "unknown query (cbt answers: changes SINCE, map)";
		return -EINVAL;
	}
	r = cbt_check_size(f);
	if (r)
		return r;
	if (argv[0][0] == 'c') {
		cbt_query_changes(cbt_map(c), since, out);
	} else {
		cbt_head(cbt_map(c), 0, out);
		dm_filter_out_record(out, cbt_map(c)->seqs, cbt_map(c)->blocks);
	}
	return 0;
}

static struct dm_filter_type cbt_filter_type = {
	.name = "cbt",
	.module = THIS_MODULE,
	.version = {1, 0, 0},
	.features = DM_FILTER_TYPE_ATOMIC,
	.attach = cbt_attach,
	.detach = cbt_detach,
	.submit_bio = cbt_submit_bio,
	.status = cbt_status,
	.message = cbt_message,
	.query = cbt_query,
};

static int __init dm_flt_cbt_init(void)
{
	return dm_filter_register_type(&cbt_filter_type);
}

static void __exit dm_flt_cbt_exit(void)
{
	dm_filter_unregister_type(&cbt_filter_type);
}

module_init(dm_flt_cbt_init);
module_exit(dm_flt_cbt_exit);

MODULE_DESCRIPTION("cbt device filter: changed-block tracking with marks and generations");
MODULE_LICENSE("GPL");
