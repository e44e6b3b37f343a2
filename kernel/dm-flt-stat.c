// SPDX-License-Identifier: GPL-2.0
/*
 * dm-flt-stat.c - the "stat" device filter: counts bios and bytes per operation, exactly, and never changes a bio.
 *
 * Counters are per-cpu and only ever grow, so concurrent bios never lose a count;
 * "reset" records the current sums as a baseline that reports subtract.
 */
#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include "dm-filter-type.h"

#define DM_MSG_PREFIX "flt-stat"

/* One cpu's counts; every field a u64, in status order (stat_sum adds them as an array). */
struct stat_counters {
	u64 read_bios;
	u64 read_bytes;
	u64 write_bios;
	u64 write_bytes;
	u64 discard_bios;
	u64 discard_bytes;
	u64 write_zeroes_bios;
	u64 write_zeroes_bytes;
	u64 flush_bios;
	u64 skipped_bios;
};

struct stat_filter {
	struct stat_counters __percpu *counters;
	struct stat_counters baseline;
	spinlock_t baseline_lock;
};

static int stat_attach(struct dm_filter *f, unsigned int argc, char **argv)
{
	struct stat_filter *s;
	int r;

	/* no options: the shared parser still words the refusal as every type's */
	r = dm_filter_parse_options(f, argc, argv, NULL, 0, NULL);
	if (r)
		return r;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s) {
		f->error = "out of memory";
		return -ENOMEM;
	}
	s->counters = alloc_percpu(struct stat_counters);
	if (!s->counters) {
		kfree(s);
		f->error = "out of memory";
		return -ENOMEM;
	}
	spin_lock_init(&s->baseline_lock);
	f->private = s;
	return 0;
}

static void stat_detach(struct dm_filter *f)
{
	struct stat_filter *s = f->private;

	free_percpu(s->counters);
	kfree(s);
}

static enum dm_filter_verdict stat_submit_bio(struct dm_filter *f, struct bio *bio)
{
	struct stat_filter *s = f->private;
	unsigned int bytes = bio->bi_iter.bi_size;

	/* an empty PREFLUSH write is only a flush; one with data is a write too */
	if (bio->bi_opf & REQ_PREFLUSH) {
		this_cpu_inc(s->counters->flush_bios);
		if (!bytes)
			return DM_FILTER_PASS;
	}

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		this_cpu_inc(s->counters->read_bios);
		this_cpu_add(s->counters->read_bytes, bytes);
		break;
	case REQ_OP_WRITE:
		this_cpu_inc(s->counters->write_bios);
		this_cpu_add(s->counters->write_bytes, bytes);
		break;
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		this_cpu_inc(s->counters->discard_bios);
		this_cpu_add(s->counters->discard_bytes, bytes);
		break;
	case REQ_OP_WRITE_ZEROES:
		this_cpu_inc(s->counters->write_zeroes_bios);
		this_cpu_add(s->counters->write_zeroes_bytes, bytes);
		break;
	case REQ_OP_FLUSH:
		if (!(bio->bi_opf & REQ_PREFLUSH))
			this_cpu_inc(s->counters->flush_bios);
		break;
	default:
		break;	/* zone management: not counted */
	}
	return DM_FILTER_PASS;
}

static void stat_bio_skipped(struct dm_filter *f)
{
	struct stat_filter *s = f->private;

	this_cpu_inc(s->counters->skipped_bios);
}

#define STAT_FIELDS (sizeof(struct stat_counters) / sizeof(u64))

static void stat_sum(struct stat_filter *s, struct stat_counters *sum)
{
	u64 *out = (u64 *)sum;
	int cpu, i;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		u64 *c = (u64 *)per_cpu_ptr(s->counters, cpu);

		for (i = 0; i < STAT_FIELDS; i++)
			out[i] += READ_ONCE(c[i]);
	}
}

static void stat_read(struct dm_filter *f, struct stat_counters *c)
{
	struct stat_filter *s = f->private;
	u64 *out = (u64 *)c, *base = (u64 *)&s->baseline;
	int i;

	spin_lock(&s->baseline_lock);
	stat_sum(s, c);
	for (i = 0; i < STAT_FIELDS; i++)
		out[i] -= base[i];
	spin_unlock(&s->baseline_lock);
}

/* The engine reads stat's counters from these words: their names and order are the ABI. */
static void stat_status(struct dm_filter *f, struct dm_filter_out *out)
{
	struct stat_counters c;

	stat_read(f, &c);
	dm_filter_out_printf(out,
		 "read_bios=%llu read_bytes=%llu write_bios=%llu write_bytes=%llu discard_bios=%llu discard_bytes=%llu write_zeroes_bios=%llu write_zeroes_bytes=%llu flush_bios=%llu skipped_bios=%llu",
		 c.read_bios, c.read_bytes, c.write_bios, c.write_bytes,
		 c.discard_bios, c.discard_bytes, c.write_zeroes_bios, c.write_zeroes_bytes,
		 c.flush_bios, c.skipped_bios);
}

static int stat_message(struct dm_filter *f, unsigned int argc, char **argv,
			struct dm_filter_out *out)
{
	struct stat_filter *s = f->private;

	if (argc == 1 && !strcasecmp(argv[0], "reset")) {
		spin_lock(&s->baseline_lock);
		stat_sum(s, &s->baseline);
		spin_unlock(&s->baseline_lock);
		return 0;
	}
	f->error = "unknown message (stat understands: reset)";
	return -EINVAL;
}

static struct dm_filter_type stat_filter_type = {
	.name = "stat",
	.module = THIS_MODULE,
	.version = {1, 0, 0},
	.features = DM_FILTER_TYPE_ATOMIC,
	.attach = stat_attach,
	.detach = stat_detach,
	.submit_bio = stat_submit_bio,
	.bio_skipped = stat_bio_skipped,
	.status = stat_status,
	.message = stat_message,
};

static int __init dm_flt_stat_init(void)
{
	return dm_filter_register_type(&stat_filter_type);
}

static void __exit dm_flt_stat_exit(void)
{
	dm_filter_unregister_type(&stat_filter_type);
}

module_init(dm_flt_stat_init);
module_exit(dm_flt_stat_exit);

MODULE_DESCRIPTION("stat device filter: exact per-operation bio counters");
MODULE_LICENSE("GPL");
