/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-filter-internal.h - what the parts of the dm filter core (registry, attachments, interposer, ioctl) share.
 */
#ifndef DM_FILTER_INTERNAL_H
#define DM_FILTER_INTERNAL_H

#include <linux/blkdev.h>
#include <linux/hashtable.h>
#include <linux/mutex.h>
#include <linux/rculist.h>
#include "dm-filter-type.h"

/* Serialises every change to types and attachments; never taken on the bio path. */
extern struct mutex dm_filter_lock;

/* One attachment: a filter type's instance on one block device. */
struct dmf_attachment {
	struct dm_filter filter;
	struct dmf_device *device;
	struct list_head device_entry;	/* in device->chain, RCU/SRCU */
	struct list_head all_entry;	/* in dmf_attachments, attach order */
	u64 attached_ns;
	char error[128];		/* filter.error may point here (the option parser's refusals) */
};

/*
 * The reply sink: bytes go to buf while they fit in room; past it they are only
 * counted, so used is what the whole answer needs.
 */
struct dm_filter_out {
	char *buf;
	size_t room;
	size_t used;
	u32 count;		/* records (QUERY) */
};

/* A block device with at least one attachment; found by bdev pointer on the bio path. */
struct dmf_device {
	struct hlist_node hash_entry;
	struct block_device *bdev;	/* kept alive by a reference on bdev->bd_device */
	struct list_head chain;		/* attachments, attach order */
	bool atomic;			/* every filter in chain is DM_FILTER_TYPE_ATOMIC */
};

extern struct list_head dmf_attachments;

/* registry */
struct dm_filter_type *dmf_type_get(const char *name);
void dmf_type_put(struct dm_filter_type *type);
struct list_head *dmf_types(void);

/* attachments */
int dmf_attach(dev_t dev, const char *type_name, char *options);
int dmf_detach(dev_t dev, const char *type_name);
struct dmf_attachment *dmf_attachment_find(dev_t dev, const char *type_name);
void dmf_reap_dead_devices(void);
int dmf_attachments_init(void);
void dmf_attachments_exit(void);

/* interposer */
struct dmf_device *dmf_device_lookup(struct block_device *bdev);
void dmf_device_publish(struct dmf_device *d);
void dmf_device_unpublish(struct dmf_device *d);
void dmf_drain(void);
enum dm_filter_verdict dmf_run_chain(struct dmf_device *d, struct bio *bio);
enum dm_filter_verdict dmf_run_chain_after(struct dmf_device *d, struct dmf_attachment *after,
					   struct bio *bio);
int dmf_hook_enable(void);
void dmf_hook_exit(void);

#endif /* DM_FILTER_INTERNAL_H */
