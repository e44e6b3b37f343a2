/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-filter-compat.h - one spelling of the kernel interfaces that changed between the kernels dmflt builds for (6.1, 6.12).
 *
 * Each choice rests on a feature test of the kernel's own headers (probe-features writes
 * dm-filter-features.h), not on a version number, so a kernel with a backport gets the
 * interface it has. The core and the filter types use only these helpers for the things
 * below; everything else they use is the same on every supported kernel.
 */
#ifndef DM_FILTER_COMPAT_H
#define DM_FILTER_COMPAT_H

#include <linux/blkdev.h>
#include <linux/device/class.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ftrace.h>
#include "dm-filter-features.h"

#ifndef CONFIG_DYNAMIC_FTRACE_WITH_REGS
#error "dmflt's bio hook needs CONFIG_DYNAMIC_FTRACE_WITH_REGS (IPMODIFY ftrace with saved registers)"
#endif

/* ------------------------------------------------------------- opening block devices */

/*
 * An open block device. Since 6.9 an open is a struct file and closing is fput() of it;
 * before, it was the block_device itself, closed with the mode it was opened with.
 */
struct dmf_bdev_handle {
	struct block_device *bdev;
#ifdef DMF_HAVE_BDEV_FILE_OPEN
	struct file *file;
#else
	fmode_t mode;
#endif
};

/*
 * Opens dev for reading, or with holder set for reading and writing, exclusively for that
 * holder (a mounted device, or one another holder has, is refused with -EBUSY).
 * Returns 0 or the open's errno.
 */
static inline int dmf_bdev_open(dev_t dev, void *holder, struct dmf_bdev_handle *h)
{
#ifdef DMF_HAVE_BDEV_FILE_OPEN
	blk_mode_t mode = holder ? BLK_OPEN_READ | BLK_OPEN_WRITE : BLK_OPEN_READ;
	struct file *file = bdev_file_open_by_dev(dev, mode, holder, NULL);

	if (IS_ERR(file))
		return PTR_ERR(file);
	h->file = file;
	h->bdev = file_bdev(file);
#else
	fmode_t mode = holder ? FMODE_READ | FMODE_WRITE | FMODE_EXCL : FMODE_READ;
	struct block_device *bdev = blkdev_get_by_dev(dev, mode, holder);

	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	h->mode = mode;
	h->bdev = bdev;
#endif
	return 0;
}

static inline void dmf_bdev_close(struct dmf_bdev_handle *h)
{
	if (!h->bdev)
		return;
#ifdef DMF_HAVE_BDEV_FILE_OPEN
#ifdef DMF_HAVE_BDEV_FPUT
	bdev_fput(h->file);	/* gives the exclusive claim up now, not at the deferred fput */
#else
	fput(h->file);
#endif
#else
	blkdev_put(h->bdev, h->mode);
#endif
	h->bdev = NULL;
}

/* The block device's inode (unhashed once its disk or partition is deleted). */
static inline struct inode *dmf_bdev_inode(struct block_device *bdev)
{
#ifdef DMF_HAVE_BD_INODE
	return bdev->bd_inode;
#else
	return bdev->bd_mapping->host;
#endif
}

/* Freezes (and thaws) a filesystem on the device, as for a snapshot; nested calls count. */
static inline int dmf_bdev_freeze(struct block_device *bdev)
{
#ifdef DMF_HAVE_BDEV_FREEZE
	return bdev_freeze(bdev);
#else
	return freeze_bdev(bdev);
#endif
}

static inline int dmf_bdev_thaw(struct block_device *bdev)
{
#ifdef DMF_HAVE_BDEV_FREEZE
	return bdev_thaw(bdev);
#else
	return thaw_bdev(bdev);
#endif
}

/* ---------------------------------------------------------------------- the bio hook */

/* The first argument of the traced function (submit_bio_noacct's bio). */
static __always_inline void *dmf_ftrace_first_argument(struct ftrace_regs *fregs)
{
#ifdef DMF_HAVE_FTRACE_REGS_GET_ARGUMENT
	return (void *)ftrace_regs_get_argument(fregs, 0);
#elif defined(CONFIG_HAVE_REGS_AND_STACK_ACCESS_API)
	/* FTRACE_OPS_FL_SAVE_REGS: the whole pt_regs were saved */
	return (void *)regs_get_kernel_argument(ftrace_get_regs(fregs), 0);
#else
#error "dmflt: this architecture has no way to read a traced function's argument"
#endif
}

static __always_inline void dmf_ftrace_set_ip(struct ftrace_regs *fregs, unsigned long ip)
{
#ifdef DMF_HAVE_FTRACE_REGS_SET_IP
	ftrace_regs_set_instruction_pointer(fregs, ip);
#else
	ftrace_instruction_pointer_set(fregs, ip);
#endif
}

/* ------------------------------------------------------------------ image disks */

/*
 * A bio-based disk with the given block sizes, not yet added. Returns an ERR_PTR.
 * Since 6.9 the limits are given to blk_alloc_disk(); before, they were set on the queue.
 */
static inline struct gendisk *dmf_alloc_disk(unsigned int logical_block_size,
					     unsigned int physical_block_size)
{
#ifdef DMF_HAVE_BLK_ALLOC_DISK_LIMITS
	struct queue_limits lim = {
		.logical_block_size = logical_block_size,
		.physical_block_size = physical_block_size,
	};

	return blk_alloc_disk(&lim, NUMA_NO_NODE);
#else
	struct gendisk *disk = blk_alloc_disk(NUMA_NO_NODE);

	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, logical_block_size);
	blk_queue_physical_block_size(disk->queue, physical_block_size);
	return disk;
#endif
}

/*
 * block_device_operations ->open and ->release: since 6.5 open gets the gendisk and a
 * blk_mode_t, release only the gendisk. DMF_DISK_OPEN_WRITE tells a writer.
 */
#ifdef DMF_HAVE_DISK_OPEN_GENDISK
#define DMF_DISK_OPEN_ARGS	struct gendisk *disk, blk_mode_t mode
#define DMF_DISK_OPEN_DISK	disk
#define DMF_DISK_OPEN_WRITE	(mode & BLK_OPEN_WRITE)
#define DMF_DISK_RELEASE_ARGS	struct gendisk *disk
#else
#define DMF_DISK_OPEN_ARGS	struct block_device *bdev, fmode_t mode
#define DMF_DISK_OPEN_DISK	(bdev->bd_disk)
#define DMF_DISK_OPEN_WRITE	(mode & FMODE_WRITE)
#define DMF_DISK_RELEASE_ARGS	struct gendisk *disk, fmode_t mode
#endif

/* ----------------------------------------------------------------- class interfaces */

/* Since 6.4 a class_interface callback gets only the device. */
#ifdef DMF_HAVE_CLASS_INTF_DEV_ONLY
#define DMF_CLASS_INTF_ARGS	struct device *dev
#else
#define DMF_CLASS_INTF_ARGS	struct device *dev, struct class_interface *intf
#endif

#endif
