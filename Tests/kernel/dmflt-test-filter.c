// SPDX-License-Identifier: GPL-2.0
/*
 * dmflt-test-filter.c - test module: a filter type "test-sleep" that may sleep and, with "skip-writes", fails writes;
 * "attach-sleep-ms=N" makes its attach hold the registry mutex for N ms.
 */
#include <linux/bio.h>
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "dm-filter-type.h"

struct test_filter {
	atomic64_t seen;
	atomic64_t skipped;
	bool skip_writes;
};

static int test_attach(struct dm_filter *f, unsigned int argc, char **argv)
{
	struct test_filter *t;
	unsigned int i, sleep_ms = 0;
	bool skip_writes = false;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "skip-writes")) {
			skip_writes = true;
		} else if (!strncmp(argv[i], "attach-sleep-ms=", 16) &&
			   !kstrtouint(argv[i] + 16, 10, &sleep_ms) && sleep_ms <= 10000) {
			continue;
		} else {
			f->error = "test-sleep takes only: skip-writes attach-sleep-ms=N";
			return -EINVAL;
		}
	}
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	t->skip_writes = skip_writes;
	f->private = t;
	if (sleep_ms) {
		pr_info("test-sleep: attach sleeps %u ms holding the registry mutex\n", sleep_ms);
		msleep(sleep_ms);	/* as a slow take does */
	}
	return 0;
}

static void test_detach(struct dm_filter *f)
{
	kfree(f->private);
}

static enum dm_filter_verdict test_submit_bio(struct dm_filter *f, struct bio *bio)
{
	struct test_filter *t = f->private;

	/* proves the chain runs where sleeping is allowed: might_sleep() warns otherwise */
	if (!(bio->bi_opf & REQ_NOWAIT)) {
		might_sleep();
		cond_resched();
	}
	atomic64_inc(&t->seen);
	if (t->skip_writes && bio_op(bio) == REQ_OP_WRITE) {
		atomic64_inc(&t->skipped);
		bio_io_error(bio);
		return DM_FILTER_SKIP;
	}
	return DM_FILTER_PASS;
}

static void test_status(struct dm_filter *f, struct dm_filter_out *out)
{
	struct test_filter *t = f->private;

	dm_filter_out_printf(out, "seen=%lld skipped=%lld", atomic64_read(&t->seen),
			     atomic64_read(&t->skipped));
}

static struct dm_filter_type test_filter_type = {
	.name = "test-sleep",
	.module = THIS_MODULE,
	.version = {0, 0, 1},
	.attach = test_attach,
	.detach = test_detach,
	.submit_bio = test_submit_bio,
	.status = test_status,
};

static int __init test_filter_init(void)
{
	return dm_filter_register_type(&test_filter_type);
}

static void __exit test_filter_exit(void)
{
	dm_filter_unregister_type(&test_filter_type);
}

module_init(test_filter_init);
module_exit(test_filter_exit);
MODULE_DESCRIPTION("dmflt test: a filter type that sleeps and can skip writes");
MODULE_LICENSE("GPL");
