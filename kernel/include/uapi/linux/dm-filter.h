/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * dm-filter.h - the dm filter IOCTL ABI, shared unchanged by dm-mod and the dmflt engine.
 *
 * One new dm command, DM_DEV_FILTER, on /dev/mapper/control. The buffer is a normal
 * struct dm_ioctl (version 4.x.x, name and uuid empty) whose data_start points at one
 * struct dm_filter_msg, followed by options_len bytes of NUL-terminated option or message
 * text. The kernel answers in the same buffer, at data_start: one struct dm_filter_reply,
 * then the records of the operation. A reply that does not fit sets DM_BUFFER_FULL_FLAG,
 * leaves only the reply header (data_len tells the size needed) and returns 0; the caller
 * retries with a bigger buffer, as libdevmapper does for every dm command. Replies have no
 * size limit of their own: status text and QUERY records are as long as the type needs.
 *
 * This file knows no filter type. What a type keeps (counters, events, maps) reaches the
 * caller as its status text and as the records of its QUERY answers, whose layout the
 * type defines next to its code (kernel/dm-flt-<name>.c) as fixed little-endian structs.
 *
 * Command number 18 is free on Linux 6.1 but newer kernels give it to
 * DM_MPATH_PROBE_PATHS_CMD: a caller trusts a reply only when it carries DM_FILTER_MAGIC.
 * Every change to this file bumps DM_FILTER_ABI_VERSION; DM_VERSION_MINOR is never touched.
 *
 * Errors are negative errnos, as dm gives them:
 *   ENOTTY   the kernel's dm-mod has no filter command
 *   EACCES   the caller lacks CAP_SYS_ADMIN
 *   EINVAL   malformed message (bad magic, version, op, flags, lengths, unterminated
 *            strings), or options/message text the filter type refuses
 *   ENODEV   no such block device
 *   ENOENT   no such filter type registered (its module is not loaded)
 *   EEXIST   this filter type is already attached to this device
 *   ENXIO    no such attachment (detach, status or message of nothing)
 *   EBUSY    the bio hook is owned by someone else, or the device is going away
 *   ENOMEM   out of memory
 */
#ifndef _LINUX_DM_FILTER_H
#define _LINUX_DM_FILTER_H

#include <linux/types.h>
#include <linux/dm-ioctl.h>

#define DM_FILTER_MAGIC		0x444d464cU	/* "DMFL" */
#define DM_FILTER_ABI_VERSION	2U

/*
 * The dm ioctl command number, one constant for the kernel, dmfltd and the tests. 18 is the
 * first number dm-ioctl leaves free on 6.1 (4.47, commands 0 to 17) and on 6.12 (4.48, still
 * 0 to 17). Linux 6.16 gives 18 to DM_MPATH_PROBE_PATHS_CMD: supporting such a kernel means
 * moving to a number it leaves free, for every kernel at once (an ABI change dmfltd sees
 * as DM_FILTER_ABI_VERSION), never a second number per kernel.
 */
#define DM_DEV_FILTER_CMD	18
#define DM_DEV_FILTER		_IOWR(DM_IOCTL, DM_DEV_FILTER_CMD, struct dm_ioctl)

#define DM_FILTER_NAME_LEN	32	/* type name, NUL included */
#define DM_FILTER_TEXT_MAX	4096	/* request text (options, message, query), NUL included */

enum dm_filter_op {
	DM_FILTER_OP_LIST_TYPES	= 1,	/* reply: count x struct dm_filter_type_info */
	DM_FILTER_OP_ATTACH	= 2,	/* dev, type, options text; reply: header only */
	DM_FILTER_OP_DETACH	= 3,	/* dev, type; reply: header only */
	DM_FILTER_OP_LIST	= 4,	/* reply: count x struct dm_filter_attachment_info */
	DM_FILTER_OP_STATUS	= 5,	/* dev, type; reply: see struct dm_filter_status */
	DM_FILTER_OP_MESSAGE	= 6,	/* dev, type, message text; reply: NUL-terminated text */
	DM_FILTER_OP_QUERY	= 7,	/* dev, type, query words; reply: count records, type-defined */
	DM_FILTER_OP_COUNT		/* one past the last operation */
};

/* The request, at data_start. */
struct dm_filter_msg {
	__u32 magic;		/* DM_FILTER_MAGIC */
	__u32 abi_version;	/* DM_FILTER_ABI_VERSION the caller speaks */
	__u32 op;		/* enum dm_filter_op */
	__u32 flags;		/* none defined yet: must be 0 */
	__u64 dev;		/* target block device, encoded as huge_encode_dev() (== glibc makedev()) */
	char type[DM_FILTER_NAME_LEN];	/* filter type name, NUL-terminated; "" where unused */
	__u32 text_len;		/* bytes of text after this struct, NUL included; 0: no text */
	__u32 reserved;		/* must be 0 */
};

/* The reply header, at data_start. */
struct dm_filter_reply {
	__u32 magic;		/* DM_FILTER_MAGIC */
	__u32 abi_version;	/* DM_FILTER_ABI_VERSION the kernel speaks */
	__u32 op;		/* the operation answered */
	__u32 count;		/* records after this header */
	__u32 data_len;		/* bytes after this header; with DM_BUFFER_FULL_FLAG, bytes needed */
	__u32 flags;		/* none defined yet: 0 */
};


/* One registered filter type (LIST_TYPES). */
struct dm_filter_type_info {
	char name[DM_FILTER_NAME_LEN];
	__u32 version[3];
	__u32 attachments;	/* how many attachments use it now */
};

/* One attachment (LIST, and the start of a STATUS reply). */
struct dm_filter_attachment_info {
	__u64 dev;		/* huge_encode_dev() */
	char type[DM_FILTER_NAME_LEN];
	__u64 attached_ns;	/* CLOCK_REALTIME when attached */
	__u32 flags;		/* none defined yet */
	__u32 reserved;
};

/*
 * STATUS reply: header (count 1), then this struct, then status_len bytes of the filter
 * type's one-line status text (space-separated name=value words), NUL included.
 */
struct dm_filter_status {
	struct dm_filter_attachment_info attachment;
	__u32 status_len;
	__u32 reserved;
};

/*
 * MESSAGE reply: count 1 and data_len bytes of NUL-terminated reply text.
 * QUERY reply: count records in data_len bytes; the query's words name what is asked
 * ("events 17") and the filter type defines the records' layout.
 */

#endif /* _LINUX_DM_FILTER_H */
