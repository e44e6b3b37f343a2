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
#include "dm-filter-compat.h"

/* What a filter decides for one bio. */
enum dm_filter_verdict {
	DM_FILTER_PASS,		/* hand the bio on, unchanged, to the next filter or the device */
	DM_FILTER_SKIP,		/* the filter owns the bio now: it completed or will resubmit it */
	DM_FILTER_HOLD,		/* the filter keeps the bio and hands it on later (dm_filter_pass_on) */
};

/* One attachment of a filter type to a block device, as the type sees it. */
struct dm_filter {
	struct dm_filter_type *type;
	struct block_device *bdev;
	dev_t dev;
	void *private;		/* the type's own state, set by ->attach */
	const char *error;	/* set by ->attach, ->message or ->query to explain a refusal */
	/*
	 * Set before ->detach when the device is being deleted: ->detach then runs under the
	 * block class's mutex and must not add or delete a disk itself (defer that).
	 */
	bool removed;
};

/*
 * Where a status, message reply or query answer is written. It has no size limit: what
 * does not fit in the caller's buffer is only measured, and the caller retries with a
 * bigger one (DM_BUFFER_FULL_FLAG). A type may therefore be called again for the same
 * request and must produce the same bytes from the same state.
 */
struct dm_filter_out;

/* Appends one record of a QUERY answer (counted in the reply's count). */
void dm_filter_out_record(struct dm_filter_out *out, const void *rec, size_t len);
/* Appends text to a status or message reply (the core adds the final NUL). */
__printf(2, 3) void dm_filter_out_printf(struct dm_filter_out *out, const char *fmt, ...);

/*
 * ->submit_bio never sleeps: it may run inside the bio hook itself, with preemption
 * disabled, which saves a redirect per bio when every filter of a device has it.
 */
#define DM_FILTER_TYPE_ATOMIC	(1U << 0)

/*
 * The ops table of a filter type. ->submit_bio runs in the submitter's context for every
 * bio of the device before the device sees it; it may sleep only if the bio lacks
 * REQ_NOWAIT. A filter that skips a bio owns it: it completes it (bio_endio) exactly
 * once, or resubmits it with dm_filter_submit_bio() so that it is not filtered again.
 * The type's module is pinned while it has attachments. Every op but ->submit_bio and
 * ->bio_skipped runs under the registry's mutex, one at a time per host.
 *
 * A sleeping type may also hold a bio (DM_FILTER_HOLD): filters earlier in the chain
 * have passed it and are not told; the type later calls dm_filter_pass_on(), from any
 * process context, which runs the filters after it and then sends the bio to the
 * device. A held bio must be handed on by the end of ->detach at the latest.
 */
struct dm_filter_type {
	const char *name;
	struct module *module;
	unsigned int version[3];
	unsigned int features;	/* DM_FILTER_TYPE_* */

	/* argv: the attach text split into words; dm_filter_parse_options() reads them */
	int (*attach)(struct dm_filter *f, unsigned int argc, char **argv);
	/* optional: the filter is in the chain now and sees every bio that enters it */
	void (*attached)(struct dm_filter *f);
	/* optional: 0, or why a detach asked for is refused (-EBUSY); device removal never asks */
	int (*may_detach)(struct dm_filter *f);
	void (*detach)(struct dm_filter *f);
	enum dm_filter_verdict (*submit_bio)(struct dm_filter *f, struct bio *bio);
	/*
	 * optional, for sleeping types: whether ->submit_bio would pass this bio untouched,
	 * answered in atomic context without side effects. When every sleeping filter of a
	 * device says so, the chain runs in the hook as an atomic one does, without them:
	 * no redirect for the bios they have nothing to do with.
	 */
	bool (*passes)(struct dm_filter *f, struct bio *bio);
	/* optional: a filter later in the chain skipped a bio this filter passed */
	void (*bio_skipped)(struct dm_filter *f);
	/* one line of space-separated name=value words */
	void (*status)(struct dm_filter *f, struct dm_filter_out *out);
	/* optional: words, like dmsetup message; reply text (may be empty) */
	int (*message)(struct dm_filter *f, unsigned int argc, char **argv,
		       struct dm_filter_out *out);
	/* optional: structured answers of any size, as records the type defines */
	int (*query)(struct dm_filter *f, unsigned int argc, char **argv,
		     struct dm_filter_out *out);

	/* private to the registry */
	struct list_head list;
	unsigned int attachments;
};

int dm_filter_register_type(struct dm_filter_type *type);
void dm_filter_unregister_type(struct dm_filter_type *type);
void dm_filter_submit_bio(struct bio *bio);
void dm_filter_pass_on(struct dm_filter *f, struct bio *bio);
/*
 * Waits until every bio that entered a sleeping chain before the call has been submitted
 * to its device. A type whose ->passes is false for every bio then knows that no bio it
 * did not see can still reach the device later.
 */
void dm_filter_wait_submitters(void);
/*
 * Waits until bdev has no write (and, with reads, no read) in flight: a request-based queue
 * is frozen once; a bio-based device's accounted IO is watched for at most timeout_ms.
 * Returns false when that time ran out. Process context.
 */
bool dm_filter_drain_device(struct block_device *bdev, bool reads, unsigned int timeout_ms);

/*
 * Sends a message to the attachment of type `type` on f's device, from a type's op (the
 * registry mutex is held). The reply text, NUL-terminated, goes to reply (at most len
 * bytes). -ENXIO when the device has no such attachment.
 */
int dm_filter_peer_message(struct dm_filter *f, const char *type, unsigned int argc, char **argv,
			   char *reply, size_t len);

/*
 * The shared option parser: every type reads its attach words, "name=value", the same
 * way. Each option is written at .offset of the type's config struct, which the caller
 * fills with defaults first. An unknown or repeated name, a missing '=', or a value out
 * of bounds is -EINVAL with f->error set and the reason in the kernel log; ranges the
 * parser filled are freed again then, so a refused attach has nothing to undo. A type
 * without options passes an empty table (opts NULL, nopts 0): "T takes no options".
 */
enum dm_filter_opt_kind {
	DM_FILTER_OPT_BOOL,	/* bool: true|false */
	DM_FILTER_OPT_U64,	/* u64: decimal, within [min, max], a multiple of align */
	DM_FILTER_OPT_ENUM,	/* unsigned int: the index of the value in choices */
	DM_FILTER_OPT_RANGES,	/* struct dm_filter_ranges: OFFSET+LENGTH[,OFFSET+LENGTH...] */
	DM_FILTER_OPT_DEV,	/* dev_t: MAJOR:MINOR */
};

struct dm_filter_opt {
	const char *name;
	enum dm_filter_opt_kind kind;
	size_t offset;
	u64 min, max;			/* U64 (max 0: no upper bound) */
	u64 align;			/* U64 and RANGES: values are multiples of it (0: any) */
	const char *const *choices;	/* ENUM: NULL-terminated */
};

/* Byte ranges, sorted by start, overlapping and adjacent ones merged. */
struct dm_filter_range {
	u64 start;
	u64 len;
};

struct dm_filter_ranges {
	unsigned int count;		/* 0: none given */
	struct dm_filter_range *r;	/* kmalloc'ed; free with dm_filter_ranges_free() */
};

int dm_filter_parse_options(struct dm_filter *f, unsigned int argc, char **argv,
			    const struct dm_filter_opt *opts, unsigned int nopts, void *config);
void dm_filter_ranges_free(struct dm_filter_ranges *ranges);
/* Whether [start, start + len) meets any range (binary search; safe in atomic context). */
bool dm_filter_ranges_meet(const struct dm_filter_ranges *ranges, u64 start, u64 len);

#endif /* DM_FILTER_TYPE_H */
