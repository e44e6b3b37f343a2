/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-filter-type.h - what a device filter type module implements and calls (the dm filter registry).
 */
#ifndef DM_FILTER_TYPE_H
#define DM_FILTER_TYPE_H

#include <linux/blk_types.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/dm-filter.h>

/* What a filter decides for one bio. */
enum dm_filter_verdict {
	DM_FILTER_PASS,		/* hand the bio on, unchanged, to the next filter or the device */
	DM_FILTER_SKIP,		/* the filter owns the bio now: it completed or will resubmit it */
};

/* One attachment of a filter type to a block device, as the type sees it. */
struct dm_filter {
	struct dm_filter_type *type;
	struct block_device *bdev;
	dev_t dev;
	void *private;		/* the type's own state, set by ->attach */
	const char *error;	/* set by ->attach or ->message to explain a refusal */
};

/*
 * ->submit_bio never sleeps: it may run inside the bio hook itself, with preemption
 * disabled, which saves a redirect per bio when every filter of a device has it.
 */
#define DM_FILTER_TYPE_ATOMIC	(1U << 0)

/*
 * The ops table of a filter type. ->submit_bio runs in the submitter's context for every
 * bio of the device before the device sees it; it may sleep only if the bio lacks
 * REQ_NOWAIT. A filter that resubmits a bio it skipped does so with dm_filter_submit_bio()
 * so that the bio is not filtered again. The type's module is pinned while it has
 * attachments.
 */
struct dm_filter_type {
	const char *name;
	struct module *module;
	unsigned int version[3];
	unsigned int features;	/* DM_FILTER_TYPE_* */

	int (*attach)(struct dm_filter *f, unsigned int argc, char **argv);
	void (*detach)(struct dm_filter *f);
	enum dm_filter_verdict (*submit_bio)(struct dm_filter *f, struct bio *bio);
	/* optional: a filter later in the chain skipped a bio this filter passed */
	void (*bio_skipped)(struct dm_filter *f);
	/* optional: cumulative counters; without it STATUS reports none */
	void (*counters)(struct dm_filter *f, struct dm_filter_counters *c);
	/* one line of text, NUL-terminated within maxlen */
	void (*status)(struct dm_filter *f, char *result, unsigned int maxlen);
	/* optional: words, like dmsetup message; reply text NUL-terminated within maxlen */
	int (*message)(struct dm_filter *f, unsigned int argc, char **argv,
		       char *result, unsigned int maxlen);

	/* private to the registry */
	struct list_head list;
	unsigned int attachments;
};

int dm_filter_register_type(struct dm_filter_type *type);
void dm_filter_unregister_type(struct dm_filter_type *type);
void dm_filter_submit_bio(struct bio *bio);

#endif /* DM_FILTER_TYPE_H */
