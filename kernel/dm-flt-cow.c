// SPDX-License-Identifier: GPL-2.0
/*
 * dm-flt-cow.c - the "cow" device filter: backup-on-write snapshots with a read-only image device.
 *
 * Attach words:
 *   diff-storage=MAJOR:MINOR	required: a block device opened exclusively for writing,
 *				on another disk than the snapshotted device
 *   diff-storage-limit=BYTES	optional: how much of it to use (default and cap: its size)
 *   chunk-size=BYTES		optional: a power of two from 65536 to 16777216 (default 65536)
 *
 * The snapshot is taken at attach. The first write after it to each chunk of the device
 * waits while kcopyd copies the chunk's old data to the next free slot of the diff
 * storage; the chunk's slot goes in an in-memory map, then the write goes on. The image,
 * a read-only bio-based disk dmflt-cow-N, reads a copied chunk from its slot and an
 * uncopied one from the device itself; such a read neither waits for nor delays a copy:
 * it is checked when it completes and read again (from the slot) if a copy raced it.
 *
 * When the diff storage is full (overflowed), a copy fails or memory runs out (failed),
 * or on message "invalidate", copying stops: every write goes on as if there were no
 * filter, and every image read fails with EIO.
 *
 * Status, one line:
 *   state=active|overflowed|failed taken_at=NS chunk_size=N device_size=N chunks=N
 *   copied_chunks=N diff_storage=MAJ:MIN diff_storage_limit=N diff_storage_used=N
 *   image=NAME image_dev=MAJ:MIN image_openers=N cbt_sequence=N|none
 *   cbt_generation=UUID|none error=none|diff-storage-full|diff-storage-write-failed|
 *   device-read-failed|out-of-memory|invalidated warned_at=NS|none stopped_at=NS|none
 * (warned_at: when the diff storage use first reached 80 % of the limit, logged once;
 * stopped_at: when the snapshot overflowed or failed.)
 */
#include <linux/bio.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-io.h>
#include <linux/dm-kcopyd.h>
#include <linux/hashtable.h>
#include <linux/idr.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include "dm-filter-type.h"

#define DM_MSG_PREFIX "flt-cow"

#define COW_MIN_CHUNK		(64ULL << 10)
#define COW_MAX_CHUNK		(16ULL << 20)
#define COW_DRAIN_MS		5000	/* longest wait for a bio-based device's writes at the take */

enum cow_state { COW_TAKING, COW_ACTIVE, COW_OVERFLOWED, COW_FAILED };
static const char *const cow_states[] = { "active", "active", "overflowed", "failed" };

enum cow_error { COW_OK, COW_FULL, COW_WRITE_FAILED, COW_READ_FAILED, COW_NOMEM, COW_INVALIDATED };
static const char *const cow_errors[] = {
	"none", "diff-storage-full", "diff-storage-write-failed", "device-read-failed",
	"out-of-memory", "invalidated",
};

struct cow_config {
	dev_t diff_dev;
	u64 limit;		/* 0: the diff storage's size */
	u64 chunk_size;
};

static const struct dm_filter_opt cow_opts[] = {
	{ .name = "diff-storage", .kind = DM_FILTER_OPT_DEV,
	  .offset = offsetof(struct cow_config, diff_dev) },
	{ .name = "diff-storage-limit", .kind = DM_FILTER_OPT_U64,
	  .offset = offsetof(struct cow_config, limit), .min = 1 },
	{ .name = "chunk-size", .kind = DM_FILTER_OPT_U64,
	  .offset = offsetof(struct cow_config, chunk_size),
	  .min = COW_MIN_CHUNK, .max = COW_MAX_CHUNK },
};

struct cow;

/* A chunk being copied: its slot is reserved, and the writes to it wait. */
struct cow_busy {
	struct hlist_node node;
	struct cow *c;
	u64 chunk;
	u32 slot;
	struct bio_list writes;		/* held until the copy completed */
};

/* The image's own part, alive as long as its gendisk (openers may outlive the filter). */
struct cow_image {
	struct gendisk *disk;
	struct cow *c;
	atomic_t openers;
	int id;
};

/* An image read sent to the device or the diff storage. */
struct cow_io {
	struct cow *c;
	u64 first, last;		/* its chunks */
	bool from_device;		/* uncopied when sent: valid only if still uncopied */
	struct bio *parent;
	struct bio clone;
};

struct cow {
	struct dm_filter *f;
	struct cow_config cfg;
	struct dmf_bdev_handle diff;
	unsigned int shift;		/* log2 of the chunk size in sectors */
	sector_t dev_sectors;		/* at the take */
	u64 chunks;
	u64 max_slots;
	u32 *slots;			/* per chunk: slot + 1, 0 while not copied */

	spinlock_t lock;		/* state, busy, slots, next_slot, take_held, retry */
	enum cow_state state;
	enum cow_error error;
	u64 next_slot;
	DECLARE_HASHTABLE(busy, 8);
	struct bio_list take_held;	/* writes that came while the take was under way */
	struct bio_list retry;		/* image reads that raced a copy, read again */
	atomic64_t copied;

	struct dm_kcopyd_client *kc;
	struct workqueue_struct *wq;
	struct work_struct retry_work;
	struct bio_set clone_bs;
	struct bio_set split_bs;
	atomic_t image_inflight;
	wait_queue_head_t wait;
	struct cow_image *img;

	struct work_struct teardown_work;
	u64 taken_at;
	u64 warned_at;			/* CLOCK_REALTIME ns: use reached 80 % of the limit; 0: not yet */
	u64 stopped_at;			/* CLOCK_REALTIME ns: overflowed or failed; 0: active */
	bool frozen;
	bool cbt;
	u64 cbt_sequence;
	char cbt_generation[40];
};

static DEFINE_IDA(cow_ida);
/* Tears down the images of deleted devices, away from the block class's mutex. */
static struct workqueue_struct *cow_teardown_wq;

static sector_t cow_chunk_sectors(struct cow *c)
{
	return (sector_t)1 << c->shift;
}

/*
 * A chunk's slot + 1, or 0 while it is not copied. Pairs with the store-release in
 * cow_copy_done(): who sees the slot sees the copy complete in the diff storage.
 */
static u32 cow_slot(struct cow *c, u64 chunk)
{
	/* acquire: pairs with the release of a completed copy */
	return smp_load_acquire(&c->slots[chunk]);
}

static bool cow_stopped(enum cow_state s)
{
	return s >= COW_OVERFLOWED;
}

/* Called with c->lock held. */
static struct cow_busy *cow_busy_find(struct cow *c, u64 chunk)
{
	struct cow_busy *b;

	hash_for_each_possible(c->busy, b, node, chunk)
		if (b->chunk == chunk)
			return b;
	return NULL;
}

static struct cow_busy *cow_busy_init(struct cow *c, struct cow_busy *b, u64 chunk)
{
	memset(b, 0, sizeof(*b));
	b->c = c;
	b->chunk = chunk;
	bio_list_init(&b->writes);
	hash_add(c->busy, &b->node, chunk);
	return b;
}

/* Sends on the writes whose chunk is copied, or that the snapshot no longer protects. */
static void cow_release(struct cow *c, struct bio_list *writes)
{
	struct bio *bio;

	while ((bio = bio_list_pop(writes)))
		dm_filter_pass_on(c->f, bio);
}

/*
 * Stops the snapshot: copying ends, waiting writes go on, image reads fail. Only the
 * first reason is kept. Process context (it hands bios on).
 */
static void cow_stop(struct cow *c, enum cow_state state, enum cow_error error, bool log)
{
	struct bio_list writes = BIO_EMPTY_LIST;
	bool stopped = false;

	spin_lock_irq(&c->lock);
	if (!cow_stopped(c->state)) {
		c->state = state;
		c->error = error;
		c->stopped_at = ktime_get_real_ns();
		stopped = true;
		/* copies in flight finish on their own and hand their writes on */
		bio_list_merge(&writes, &c->take_held);
		bio_list_init(&c->take_held);
	}
	spin_unlock_irq(&c->lock);
	if (stopped && log)
		DMERR("%u:%u: snapshot %s (%s): writes go on without copies, image %s reads fail",
		      MAJOR(c->f->dev), MINOR(c->f->dev), cow_states[state], cow_errors[error],
		      c->img->disk->disk_name);
	cow_release(c, &writes);
}

static void cow_copy_done(int read_err, unsigned long write_err, void *context)
{
	struct cow_busy *b = context;
	struct cow *c = b->c;
	struct bio_list writes;

	if (read_err)
		cow_stop(c, COW_FAILED, COW_READ_FAILED, true);
	else if (write_err)
		cow_stop(c, COW_FAILED, COW_WRITE_FAILED, true);

	spin_lock_irq(&c->lock);
	if (!read_err && !write_err) {
		/* pairs with the lockless loads: a reader of the slot sees the copy complete */
		smp_store_release(&c->slots[b->chunk], b->slot + 1);
		atomic64_inc(&c->copied);
	}
	hash_del(&b->node);
	writes = b->writes;
	spin_unlock_irq(&c->lock);
	kfree(b);
	cow_release(c, &writes);
}

/* Process context: kcopyd may sleep for its job. */
static void cow_start_copy(struct cow *c, struct cow_busy *b)
{
	sector_t start = b->chunk << c->shift;
	struct dm_io_region from = {
		.bdev = c->f->bdev,
		.sector = start,
		.count = min(cow_chunk_sectors(c), c->dev_sectors - start),
	};
	struct dm_io_region to = {
		.bdev = c->diff.bdev,
		.sector = (sector_t)b->slot << c->shift,
		.count = from.count,
	};

	dm_kcopyd_copy(c->kc, &from, 1, &to, 0, cow_copy_done, b);
}

/*
 * A write within one chunk: passes when the chunk is copied (or the snapshot stopped),
 * else is held until the chunk's copy completes.
 */
static enum dm_filter_verdict cow_write_chunk(struct cow *c, struct bio *bio, u64 chunk)
{
	bool nowait = bio->bi_opf & REQ_NOWAIT;
	struct cow_busy *b, *new = NULL;
	bool start = false, warn = false;

	if (cow_slot(c, chunk))
		return DM_FILTER_PASS;
	if (!nowait)
		new = kmalloc(sizeof(*new), GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN);

	spin_lock_irq(&c->lock);
	if (cow_stopped(c->state) || cow_slot(c, chunk))
		goto pass;
	b = cow_busy_find(c, chunk);
	if (nowait)
		goto would_block;	/* the chunk needs a copy, or waits for one */
	if (b) {
		bio_list_add(&b->writes, bio);	/* its copy is in flight */
		goto held;
	}
	if (c->next_slot >= c->max_slots) {
		spin_unlock_irq(&c->lock);
		kfree(new);
		cow_stop(c, COW_OVERFLOWED, COW_FULL, true);
		return DM_FILTER_PASS;
	}
	if (!b) {
		if (!new) {
			spin_unlock_irq(&c->lock);
			cow_stop(c, COW_FAILED, COW_NOMEM, true);
			return DM_FILTER_PASS;
		}
		b = cow_busy_init(c, new, chunk);
		new = NULL;
	}
	b->slot = c->next_slot++;
	if (!c->warned_at && c->next_slot * 5 >= c->max_slots * 4) {
		c->warned_at = ktime_get_real_ns();
		warn = true;
	}
	bio_list_add(&b->writes, bio);
	start = true;
held:
	spin_unlock_irq(&c->lock);
	kfree(new);
	if (warn)
		DMWARN("%u:%u: diff storage 80%% used (%llu of %llu bytes)", MAJOR(c->f->dev),
		       MINOR(c->f->dev), c->next_slot << (c->shift + SECTOR_SHIFT), c->cfg.limit);
	if (start)
		cow_start_copy(c, b);
	return DM_FILTER_HOLD;
pass:
	spin_unlock_irq(&c->lock);
	kfree(new);
	return DM_FILTER_PASS;
would_block:
	spin_unlock_irq(&c->lock);
	bio_wouldblock_error(bio);
	return DM_FILTER_SKIP;
}

/* A write that changes data: each chunk it meets is copied before the write reaches it. */
static enum dm_filter_verdict cow_write(struct cow *c, struct bio *bio)
{
	for (;;) {
		sector_t start = bio->bi_iter.bi_sector;
		sector_t end = min(bio_end_sector(bio), c->dev_sectors);
		u64 first, last, i;
		struct bio *split;
		gfp_t gfp;

		if (start >= c->dev_sectors)
			return DM_FILTER_PASS;	/* beyond the device as it was at the take */
		first = start >> c->shift;
		last = (end - 1) >> c->shift;
		if (first == last || bio_end_sector(bio) <= ((first + 1) << c->shift))
			return cow_write_chunk(c, bio, first);
		for (i = first; i <= last; i++)
			if (!cow_slot(c, i))
				break;
		if (i > last)
			return DM_FILTER_PASS;

		gfp = bio->bi_opf & REQ_NOWAIT ? GFP_NOWAIT : GFP_NOIO;
		split = bio_split(bio, ((first + 1) << c->shift) - start, gfp, &c->split_bs);
		if (!split) {
			bio_wouldblock_error(bio);
			return DM_FILTER_SKIP;
		}
		bio_chain(split, bio);
		if (cow_write_chunk(c, split, first) == DM_FILTER_PASS)
			dm_filter_pass_on(c->f, split);
	}
}

static bool cow_changes_data(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_WRITE_ZEROES:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		return bio->bi_iter.bi_size;
	default:
		return false;
	}
}

/* Atomic and without side effects: reads, stopped snapshots, writes to copied chunks. */
static bool cow_passes(struct dm_filter *f, struct bio *bio)
{
	struct cow *c = f->private;
	enum cow_state state = READ_ONCE(c->state);
	sector_t start = bio->bi_iter.bi_sector, end;
	u64 i, last;

	if (cow_stopped(state) || !cow_changes_data(bio))
		return true;
	if (state == COW_TAKING)
		return false;
	if (start >= c->dev_sectors)
		return true;
	end = min(bio_end_sector(bio), c->dev_sectors);
	last = (end - 1) >> c->shift;
	for (i = start >> c->shift; i <= last; i++)
		if (!cow_slot(c, i))
			return false;
	return true;	/* a copied chunk stays copied */
}

static enum dm_filter_verdict cow_submit_bio(struct dm_filter *f, struct bio *bio)
{
	struct cow *c = f->private;
	enum cow_state state = READ_ONCE(c->state);

	if (cow_stopped(state) || !cow_changes_data(bio))
		return DM_FILTER_PASS;
	if (unlikely(state == COW_TAKING)) {
		spin_lock_irq(&c->lock);
		if (c->state == COW_TAKING) {
			if (bio->bi_opf & REQ_NOWAIT) {
				spin_unlock_irq(&c->lock);
				bio_wouldblock_error(bio);
				return DM_FILTER_SKIP;
			}
			bio_list_add(&c->take_held, bio);
			spin_unlock_irq(&c->lock);
			return DM_FILTER_HOLD;
		}
		spin_unlock_irq(&c->lock);
	}
	return cow_write(c, bio);
}

/* ---------------------------------------------------------------- the image */

static void cow_image_read(struct cow *c, struct bio *bio);

/* Image reads that read the device while a chunk of theirs was copied, read again. */
static void cow_retry_work(struct work_struct *work)
{
	struct cow *c = container_of(work, struct cow, retry_work);
	struct bio_list bios;
	struct bio *bio;

	spin_lock_irq(&c->lock);
	bios = c->retry;
	bio_list_init(&c->retry);
	spin_unlock_irq(&c->lock);
	while ((bio = bio_list_pop(&bios))) {
		cow_image_read(c, bio);	/* from the diff storage now, or EIO once stopped */
		spin_lock_irq(&c->lock);
		if (atomic_dec_and_test(&c->image_inflight))
			wake_up(&c->wait);
		spin_unlock_irq(&c->lock);
	}
}

static void cow_clone_done(struct bio *clone)
{
	struct cow_io *io = container_of(clone, struct cow_io, clone);
	struct bio *parent = io->parent;
	struct cow *c = io->c;
	blk_status_t status = clone->bi_status;
	bool from_device = io->from_device, retry = false;
	u64 chunk = io->first, last = io->last;
	unsigned long flags;

	bio_put(clone);
	spin_lock_irqsave(&c->lock, flags);
	/* data read after the snapshot stopped may be newer than the take */
	if (!status && cow_stopped(c->state))
		status = BLK_STS_IOERR;
	/*
	 * Read from the device, the data is the take's unless a chunk's copy completed since:
	 * a write to a chunk goes on only after cow_copy_done() set its slot under this lock,
	 * so a write this read may have seen is one whose slot is visible here.
	 */
	for (; !status && from_device && chunk <= last; chunk++) {
		if (c->slots[chunk]) {
			retry = true;
			break;
		}
	}
	if (retry) {
		/* it stays in flight until the work has read it again */
		bio_list_add(&c->retry, parent);
		queue_work(c->wq, &c->retry_work);
	} else if (atomic_dec_and_test(&c->image_inflight)) {
		/* under the lock: detach frees c once it has seen the count at 0 and taken the lock */
		wake_up(&c->wait);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	if (retry)
		return;
	if (status)
		parent->bi_status = status;
	bio_endio(parent);
}

static void cow_clone_submit(struct cow *c, struct bio *bio, struct block_device *bdev,
			     sector_t sector, bool from_device)
{
	struct bio *clone = bio_alloc_clone(bdev, bio, GFP_NOIO, &c->clone_bs);
	struct cow_io *io = container_of(clone, struct cow_io, clone);

	io->c = c;
	io->from_device = from_device;
	io->first = bio->bi_iter.bi_sector >> c->shift;
	io->last = (bio_end_sector(bio) - 1) >> c->shift;
	io->parent = bio;
	clone->bi_iter.bi_sector = sector;
	clone->bi_end_io = cow_clone_done;
	atomic_inc(&c->image_inflight);
	submit_bio_noacct(clone);
}

/* The front of *bio up to chunk `end`; *bio becomes the rest, or NULL when nothing is left. */
static struct bio *cow_front(struct cow *c, struct bio **bio, u64 end)
{
	struct bio *b = *bio, *split;
	sector_t edge = end << c->shift;

	if (bio_end_sector(b) <= edge) {
		*bio = NULL;
		return b;
	}
	split = bio_split(b, edge - b->bi_iter.bi_sector, GFP_NOIO, &c->split_bs);
	bio_chain(split, b);
	return split;
}

/*
 * An image read, in runs of chunks that read alike: copied ones in consecutive slots
 * (one read of the diff storage), or uncopied ones (one read of the device, checked at
 * completion and read again if a copy raced it). Neither waits for nor delays a write.
 */
static void cow_image_read(struct cow *c, struct bio *bio)
{
	while (bio) {
		sector_t start = bio->bi_iter.bi_sector;
		u64 first = start >> c->shift;
		u64 last = (bio_end_sector(bio) - 1) >> c->shift;
		struct bio *piece;
		u32 slot;
		u64 i;

		if (cow_stopped(READ_ONCE(c->state)))
			break;
		slot = cow_slot(c, first);
		if (slot) {
			for (i = first + 1; i <= last && cow_slot(c, i) == slot + (i - first); i++)
				;
			piece = cow_front(c, &bio, i);
			cow_clone_submit(c, piece, c->diff.bdev, ((sector_t)(slot - 1) << c->shift) +
					 (start - (first << c->shift)), false);
			continue;
		}
		for (i = first + 1; i <= last && !cow_slot(c, i); i++)
			;
		piece = cow_front(c, &bio, i);
		cow_clone_submit(c, piece, c->f->bdev, piece->bi_iter.bi_sector, true);
	}
	if (bio)
		bio_io_error(bio);
}

static void cow_image_submit_bio(struct bio *bio)
{
	struct cow_image *img = bio->bi_bdev->bd_disk->private_data;

	if (bio_op(bio) == REQ_OP_READ && bio->bi_iter.bi_size)
		cow_image_read(img->c, bio);
	else if (bio_op(bio) == REQ_OP_FLUSH || (bio_op(bio) == REQ_OP_READ))
		bio_endio(bio);
	else
		bio_io_error(bio);	/* the image is read-only */
}

static int cow_image_open(DMF_DISK_OPEN_ARGS)
{
	struct cow_image *img = DMF_DISK_OPEN_DISK->private_data;

	if (DMF_DISK_OPEN_WRITE)
		return -EROFS;
	atomic_inc(&img->openers);
	return 0;
}

static void cow_image_release(DMF_DISK_RELEASE_ARGS)
{
	struct cow_image *img = disk->private_data;

	atomic_dec(&img->openers);
}

/* The last reference to a deleted image: its openers are gone too. */
static void cow_image_free(struct gendisk *disk)
{
	struct cow_image *img = disk->private_data;

	ida_free(&cow_ida, img->id);
	kfree(img);
}

static const struct block_device_operations cow_image_fops = {
	.owner = THIS_MODULE,
	.submit_bio = cow_image_submit_bio,
	.open = cow_image_open,
	.release = cow_image_release,
	.free_disk = cow_image_free,
};

static int cow_image_create(struct dm_filter *f, struct cow *c)
{
	struct cow_image *img;
	struct gendisk *disk;
	int r = -ENOMEM;

	img = kzalloc(sizeof(*img), GFP_KERNEL);
	if (!img)
		goto nomem;
	img->c = c;
	img->id = ida_alloc(&cow_ida, GFP_KERNEL);
	if (img->id < 0)
		goto bad_img;
	disk = dmf_alloc_disk(bdev_logical_block_size(f->bdev), bdev_physical_block_size(f->bdev));
	if (IS_ERR(disk)) {
		r = PTR_ERR(disk);
		goto bad_id;
	}
	disk->fops = &cow_image_fops;
	disk->private_data = img;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "dmflt-cow-%d", img->id);
	set_capacity(disk, c->dev_sectors);
	set_disk_ro(disk, true);
	img->disk = disk;
	r = add_disk(disk);
	if (r) {
		f->error = "cannot add the image disk";
		put_disk(disk);		/* not added: free_disk is not called */
		goto bad_id;
	}
	c->img = img;
	return 0;

bad_id:
	ida_free(&cow_ida, img->id);
bad_img:
	kfree(img);
nomem:
	if (r == -ENOMEM)
		f->error = "out of memory for the image disk";
	return r;
}

static void cow_image_destroy(struct cow *c)
{
	/* new image bios fail from here on; those inside submit_bio are waited for */
	del_gendisk(c->img->disk);
	wait_event(c->wait, !atomic_read(&c->image_inflight));
	spin_lock_irq(&c->lock);	/* the last completion has left its section */
	spin_unlock_irq(&c->lock);
	c->img->c = NULL;
	put_disk(c->img->disk);		/* freed with its last opener */
}

/* ---------------------------------------------------------------- attach, take, detach */

static int cow_refuse(struct dm_filter *f, const char *why, int r)
{
	f->error = why;
	return r;
}

/* Opens the diff storage, refusing the snapshotted disk and devices below one chunk. */
static int cow_open_diff(struct dm_filter *f, struct cow *c)
{
	struct dmf_bdev_handle h;
	u64 size;
	int r;

	if (!c->cfg.diff_dev)
		return cow_refuse(f, "cow needs diff-storage=MAJOR:MINOR", -EINVAL);
	/* looked at before the exclusive open, which a mounted device would refuse as busy */
	r = dmf_bdev_open(c->cfg.diff_dev, NULL, &h);
	if (r)
		return cow_refuse(f, "cannot open the diff-storage device", r);
	if (h.bdev->bd_disk == f->bdev->bd_disk) {
		dmf_bdev_close(&h);
		return cow_refuse(f, "diff-storage is on the snapshotted disk", -EINVAL);
	}
	dmf_bdev_close(&h);

	r = dmf_bdev_open(c->cfg.diff_dev, c, &h);
	if (r)
		return cow_refuse(f, "cannot open the diff-storage device exclusively for writing", r);
	size = bdev_nr_bytes(h.bdev);
	if (size < c->cfg.chunk_size) {
		dmf_bdev_close(&h);
		return cow_refuse(f, "diff-storage is smaller than one chunk", -EINVAL);
	}
	if (!c->cfg.limit || c->cfg.limit > size)
		c->cfg.limit = size;
	if (c->cfg.limit < c->cfg.chunk_size) {
		dmf_bdev_close(&h);
		return cow_refuse(f, "diff-storage-limit is below one chunk", -EINVAL);
	}
	c->max_slots = min_t(u64, div64_u64(c->cfg.limit, c->cfg.chunk_size), U32_MAX - 1);
	c->diff = h;
	return 0;
}

/* Marks the device's cbt, if it has one, under the take's freeze. */
static int cow_mark_cbt(struct dm_filter *f, struct cow *c)
{
	char mark[] = "mark";
	char *argv[] = { mark };
	char reply[128];
	int r;

	r = dm_filter_peer_message(f, "cbt", 1, argv, reply, sizeof(reply));
	if (r == -ENXIO)
		return 0;
	if (r)
		return cow_refuse(f, "the cbt mark at the take failed", r);
	if (sscanf(reply, "generation=%36s sequence=%llu", c->cbt_generation, &c->cbt_sequence) != 2)
		return cow_refuse(f, "cannot read the cbt mark's reply", -EINVAL);
	c->cbt = true;
	return 0;
}

static void cow_free(struct cow *c)
{
	if (c->wq)
		destroy_workqueue(c->wq);
	if (c->kc)
		dm_kcopyd_client_destroy(c->kc);
	bioset_exit(&c->clone_bs);
	bioset_exit(&c->split_bs);
	kvfree(c->slots);
	dmf_bdev_close(&c->diff);
	kfree(c);
}

static int cow_attach(struct dm_filter *f, unsigned int argc, char **argv)
{
	struct cow_config cfg = { .chunk_size = COW_MIN_CHUNK };
	struct cow *c;
	int r;

	r = dm_filter_parse_options(f, argc, argv, cow_opts, ARRAY_SIZE(cow_opts), &cfg);
	if (r)
		return r;
	if (!is_power_of_2(cfg.chunk_size)) {
		f->error = "option chunk-size: not a power of two";
		return -EINVAL;
	}
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return cow_refuse(f, "out of memory", -ENOMEM);
	c->f = f;
	c->cfg = cfg;
	c->shift = ilog2(cfg.chunk_size >> SECTOR_SHIFT);
	c->dev_sectors = bdev_nr_sectors(f->bdev);
	c->chunks = DIV_ROUND_UP_ULL(c->dev_sectors, cow_chunk_sectors(c));
	spin_lock_init(&c->lock);
	hash_init(c->busy);
	bio_list_init(&c->take_held);
	bio_list_init(&c->retry);
	INIT_WORK(&c->retry_work, cow_retry_work);
	init_waitqueue_head(&c->wait);
	c->state = COW_TAKING;

	r = cow_open_diff(f, c);
	if (r)
		goto bad;
	r = -EINVAL;
	if (!c->chunks || c->chunks > U32_MAX) {
		f->error = c->chunks ? "the device has too many chunks" : "the device is empty";
		goto bad;
	}
	r = -ENOMEM;
	f->error = "out of memory";
	c->slots = kvcalloc(c->chunks, sizeof(*c->slots), GFP_KERNEL);
	if (!c->slots)
		goto bad;
	if (bioset_init(&c->clone_bs, BIO_POOL_SIZE, offsetof(struct cow_io, clone), 0) ||
	    bioset_init(&c->split_bs, BIO_POOL_SIZE, 0, 0))
		goto bad;
	c->wq = alloc_workqueue("dmflt-cow-%u:%u", WQ_MEM_RECLAIM, 0, MAJOR(f->dev),
				MINOR(f->dev));
	if (!c->wq)
		goto bad;
	c->kc = dm_kcopyd_client_create(NULL);
	if (IS_ERR(c->kc)) {
		r = PTR_ERR(c->kc);
		c->kc = NULL;
		f->error = "cannot create a kcopyd client";
		goto bad;
	}
	f->error = NULL;
	r = cow_image_create(f, c);
	if (r)
		goto bad;

	/* a filesystem on the device writes back and stays still until the take is done */
	r = dmf_bdev_freeze(f->bdev);
	if (r) {
		f->error = "cannot freeze the device's filesystem";
		goto bad_image;
	}
	c->frozen = true;
	/* before the take: a write cbt counts in the old interval is in the image */
	r = cow_mark_cbt(f, c);
	if (r)
		goto bad_thaw;
	f->private = c;
	return 0;

bad_thaw:
	dmf_bdev_thaw(f->bdev);
bad_image:
	cow_image_destroy(c);
bad:
	cow_free(c);	/* the core logs f->error */
	return r;
}

/* The take: the filter holds every write from here, so the device is still. */
static void cow_attached(struct dm_filter *f)
{
	struct cow *c = f->private;
	struct bio_list held;
	u64 began = ktime_get_ns();
	struct bio *bio;

	/* the writes that reached the device before the filter held new ones */
	dm_filter_drain_device(f->bdev, false, COW_DRAIN_MS);
	spin_lock_irq(&c->lock);
	c->taken_at = ktime_get_real_ns();
	c->state = COW_ACTIVE;
	held = c->take_held;
	bio_list_init(&c->take_held);
	spin_unlock_irq(&c->lock);

	while ((bio = bio_list_pop(&held)))
		if (cow_write(c, bio) == DM_FILTER_PASS)
			dm_filter_pass_on(f, bio);
	if (c->frozen)
		dmf_bdev_thaw(f->bdev);
	c->frozen = false;
	DMINFO("%u:%u: snapshot taken (drain %llu us), image %s", MAJOR(f->dev), MINOR(f->dev),
	       div_u64(ktime_get_ns() - began, 1000), c->img->disk->disk_name);
}

static int cow_may_detach(struct dm_filter *f)
{
	struct cow *c = f->private;

	if (!atomic_read(&c->img->openers) || READ_ONCE(c->state) == COW_FAILED)
		return 0;
	pr_err("cow: detach of %u:%u refused: the image %s is open\n", MAJOR(f->dev),
	       MINOR(f->dev), c->img->disk->disk_name);
	f->error = "the image is open";
	return -EBUSY;
}

static void cow_teardown(struct work_struct *work)
{
	struct cow *c = container_of(work, struct cow, teardown_work);

	cow_image_destroy(c);
	flush_workqueue(c->wq);
	WARN_ON(!hash_empty(c->busy));
	cow_free(c);
}

static void cow_detach(struct dm_filter *f)
{
	struct cow *c = f->private;

	/* the core waited for the bio path: only held bios, copies and image reads remain */
	cow_stop(c, COW_FAILED, COW_INVALIDATED, false);
	/* copies in flight hand their writes on as they complete */
	dm_kcopyd_client_destroy(c->kc);
	c->kc = NULL;
	flush_workqueue(c->wq);
	if (f->removed) {
		/* under the block class's mutex, which deleting the image needs */
		INIT_WORK(&c->teardown_work, cow_teardown);
		queue_work(cow_teardown_wq, &c->teardown_work);
		return;
	}
	cow_teardown(&c->teardown_work);
}

/* A status word that is a CLOCK_REALTIME instant, or none when it has not happened. */
static void cow_print_instant(struct dm_filter_out *out, const char *name, u64 ns)
{
	if (ns)
		dm_filter_out_printf(out, " %s=%llu", name, ns);
	else
		dm_filter_out_printf(out, " %s=none", name);
}

static void cow_status(struct dm_filter *f, struct dm_filter_out *out)
{
	struct cow *c = f->private;
	struct gendisk *disk = c->img->disk;
	enum cow_state state;
	enum cow_error error;
	u64 used, warned_at, stopped_at;

	spin_lock_irq(&c->lock);
	state = c->state;
	error = c->error;
	used = c->next_slot << (c->shift + SECTOR_SHIFT);
	warned_at = c->warned_at;
	stopped_at = c->stopped_at;
	spin_unlock_irq(&c->lock);

	dm_filter_out_printf(out, "state=%s taken_at=%llu chunk_size=%llu device_size=%llu",
			     cow_states[state], c->taken_at, c->cfg.chunk_size,
			     (u64)c->dev_sectors << SECTOR_SHIFT);
	dm_filter_out_printf(out, " chunks=%llu copied_chunks=%lld diff_storage=%u:%u",
			     c->chunks, (long long)atomic64_read(&c->copied),
			     MAJOR(c->cfg.diff_dev), MINOR(c->cfg.diff_dev));
	dm_filter_out_printf(out, " diff_storage_limit=%llu diff_storage_used=%llu",
			     c->cfg.limit, used);
	dm_filter_out_printf(out, " image=%s image_dev=%u:%u image_openers=%d", disk->disk_name,
			     disk->major, disk->first_minor, atomic_read(&c->img->openers));
	if (c->cbt)
		dm_filter_out_printf(out, " cbt_sequence=%llu cbt_generation=%s", c->cbt_sequence,
				     c->cbt_generation);
	else
		dm_filter_out_printf(out, " cbt_sequence=none cbt_generation=none");
	dm_filter_out_printf(out, " error=%s", cow_errors[error]);
	cow_print_instant(out, "warned_at", warned_at);
	cow_print_instant(out, "stopped_at", stopped_at);
}

static int cow_message(struct dm_filter *f, unsigned int argc, char **argv,
		       struct dm_filter_out *out)
{
	struct cow *c = f->private;

	if (argc != 1 || strcmp(argv[0], "invalidate")) {
		f->error = "unknown message (cow takes: invalidate)";
		return -EINVAL;
	}
	cow_stop(c, COW_FAILED, COW_INVALIDATED, true);
	return 0;
}

static struct dm_filter_type cow_filter_type = {
	.name = "cow",
	.module = THIS_MODULE,
	.version = {1, 0, 0},
	.attach = cow_attach,
	.attached = cow_attached,
	.may_detach = cow_may_detach,
	.detach = cow_detach,
	.submit_bio = cow_submit_bio,
	.passes = cow_passes,
	.status = cow_status,
	.message = cow_message,
};

static int __init dm_flt_cow_init(void)
{
	int r;

	cow_teardown_wq = alloc_workqueue("dmflt-cow-teardown", WQ_MEM_RECLAIM, 0);
	if (!cow_teardown_wq)
		return -ENOMEM;
	r = dm_filter_register_type(&cow_filter_type);
	if (r)
		destroy_workqueue(cow_teardown_wq);
	return r;
}

static void __exit dm_flt_cow_exit(void)
{
	dm_filter_unregister_type(&cow_filter_type);
	destroy_workqueue(cow_teardown_wq);	/* the last teardowns run first */
}

module_init(dm_flt_cow_init);
module_exit(dm_flt_cow_exit);

MODULE_DESCRIPTION("cow device filter: backup-on-write snapshots with a read-only image");
MODULE_LICENSE("GPL");
