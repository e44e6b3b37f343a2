// SPDX-License-Identifier: GPL-2.0
/*
 * dm-flt-mirror.c - the "mirror" device filter: live migration of a device in use onto another device, then cutover.
 *
 * Attach words:
 *   target=MAJOR:MINOR	required: a block device at least as large as the source (the
 *			filtered device), opened exclusively for writing; not the source,
 *			nor on the source's disk
 *   rate-limit=BYTES	optional: background copy bytes per second (default 0: unlimited)
 *   region-size=BYTES	optional: the copy unit, a power of two from 65536 to 1073741824
 *			(default 1048576)
 *
 * A background copy runs through the source region by region, MIRROR_WINDOW regions at a
 * time, with dm-kcopyd. A write to a copied region goes to both devices and completes when
 * both are done; one to a region being copied waits for that copy; one to a region not yet
 * copied goes to the source only (the copy carries it), and the copy of a region waits for
 * the writes in flight to it. Flush and FUA go to both devices, discards and write-zeroes
 * too where a region is copied. Reads go to the source. An error of the source fails the
 * bio as it would without the filter; an error of the target, or of a copy, fails the
 * mirror and never a bio: writes then go to the source only, as without the filter.
 * The copy yields to foreground IO: while the device has seen IO in the last
 * MIRROR_BUSY_MS, one region is copied at a time. The copy's own reads of the source pass
 * through this filter too, so foreground reads are known by their bytes: more read bytes
 * seen than the copy has asked for.
 *
 * Message "cutover", accepted only when synchronized (else -EBUSY): new bios are held,
 * bios already on their way to the source are drained, and from then on every bio of the
 * source, read or write, is redirected to the target. The source's media gets no more IO.
 * After cutover a detach is refused (-EBUSY, "cutover-active") until message "release".
 *
 * Status, one line:
 *   state=copying|synchronized|cutover|failed copied_bytes=N total_bytes=N region_size=N
 *   regions=N copied_regions=N bytes_per_second=N target=MAJ:MIN rate_limit=N write_waits=N
 *   started_at=NS synchronized_at=NS|none cutover_at=NS|none failed_at=NS|none
 *   error=none|target-write-failed|source-read-failed|out-of-memory|source-did-not-drain
 * (write_waits: how often a write waited for the copy of its region.)
 */
#include <linux/bio.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-kcopyd.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include "dm-filter-type.h"

#define DM_MSG_PREFIX "flt-mirror"

#define MIRROR_MIN_REGION	(64ULL << 10)
#define MIRROR_MAX_REGION	(1ULL << 30)
#define MIRROR_DEFAULT_REGION	(1ULL << 20)
#define MIRROR_MAX_REGIONS	(1ULL << 26)	/* 64M regions: 320 MiB of region state at most */
#define MIRROR_WINDOW		8		/* regions copied at once on an idle device */
#define MIRROR_BUSY_MS		20		/* foreground IO this recent: one region at a time */
#define MIRROR_DRAIN_MS		10000		/* longest wait for the source's IO at cutover */

/*
 * STARTING: attached, writes held until those already in flight to the source are done, so
 * that the copy never reads a region under a write it did not see. CUTTING: every bio held
 * while the source drains for the cutover.
 */
enum mirror_state {
	MIRROR_STARTING, MIRROR_COPYING, MIRROR_SYNCHRONIZED, MIRROR_CUTTING, MIRROR_CUTOVER,
	MIRROR_FAILED,
};
static const char *const mirror_states[] = {
	"copying", "copying", "synchronized", "synchronized", "cutover", "failed",
};

enum mirror_error { MIRROR_OK, MIRROR_TARGET_FAILED, MIRROR_SOURCE_FAILED, MIRROR_NOMEM, MIRROR_UNDRAINED };
static const char *const mirror_errors[] = {
	"none", "target-write-failed", "source-read-failed", "out-of-memory", "source-did-not-drain",
};

/* A region's copy state; under m->lock. */
enum region_state {
	R_UNCOPIED,
	R_WAITING,	/* its copy is due: new writes wait, the copy waits for writes in flight */
	R_COPYING,	/* kcopyd has it; new writes wait */
	R_COPIED,
};

struct mirror_config {
	dev_t target;
	u64 rate_limit;
	u64 region_size;
};

static const struct dm_filter_opt mirror_opts[] = {
	{ .name = "target", .kind = DM_FILTER_OPT_DEV,
	  .offset = offsetof(struct mirror_config, target) },
	{ .name = "rate-limit", .kind = DM_FILTER_OPT_U64,
	  .offset = offsetof(struct mirror_config, rate_limit) },
	{ .name = "region-size", .kind = DM_FILTER_OPT_U64,
	  .offset = offsetof(struct mirror_config, region_size),
	  .min = MIRROR_MIN_REGION, .max = MIRROR_MAX_REGION },
};

struct mirror;

/* One region copy in flight (or due, waiting for writes to it to finish). */
struct mirror_copy {
	struct mirror *m;
	u64 region;
	bool busy;
};

/* A clone the mirror sent: to the target (a mirrored write) or to the source (counted). */
struct mirror_io {
	struct mirror *m;
	struct bio *orig;
	u64 first, last;	/* regions whose pending count this source write holds */
	sector_t sector;	/* where the clone wrote, kept for a redo */
	unsigned int sectors;
	bool to_target;
	bool counted;
	struct bio clone;
};

struct mirror {
	struct dm_filter *f;
	struct mirror_config cfg;
	struct dmf_bdev_handle target;
	unsigned int shift;		/* log2 of the region size in sectors */
	sector_t dev_sectors;
	u64 regions;

	spinlock_t lock;		/* everything below up to copied_regions */
	enum mirror_state state;
	enum mirror_error error;
	u8 *region;			/* enum region_state, per region */
	u32 *pending;			/* per region: source writes in flight while not copied */
	u64 next;			/* the next region to copy */
	unsigned int in_flight_copies;
	struct mirror_copy copies[MIRROR_WINDOW];
	struct bio_list waiting;	/* writes to regions being copied */
	struct bio_list held;		/* writes while STARTING, every bio while CUTTING */
	u64 copied_regions;
	u64 copy_started;		/* bytes whose copy began, for the rate limit */
	u64 write_waits;		/* times a write waited for a region's copy */

	atomic_t clones;		/* clones in flight (they point at m) */
	atomic64_t copied_bytes;
	atomic64_t read_bytes;		/* reads of the source seen, the copy's own among them */
	s64 foreground_mark;		/* the most read_bytes ever exceeded copy_started by */
	unsigned long last_io;		/* jiffies of the last foreground bio */
	u64 start_ns;			/* monotonic, for the rate limit */
	u64 rate_mark_ns, rate_mark_bytes, bytes_per_second;

	struct dm_kcopyd_client *kc;
	struct workqueue_struct *wq;
	struct delayed_work kick;
	struct work_struct retry;
	struct bio_list redo;		/* target write-zeroes it refused, to write as zeroes */
	struct work_struct redo_work;
	bool target_lacks_zeroes;	/* it said so for a write-zeroes it had claimed to take */
	struct bio_set clone_bs;
	wait_queue_head_t wait;
	bool stopping;			/* detach: no new copies */
	bool released;			/* "release" after cutover: detach allowed */

	u64 started_at, synchronized_at, cutover_at, failed_at;	/* CLOCK_REALTIME ns */
};

static sector_t mirror_region_sectors(struct mirror *m)
{
	return (sector_t)1 << m->shift;
}

static u64 mirror_region_bytes(struct mirror *m, u64 r)
{
	sector_t start = r << m->shift;

	return (u64)min(mirror_region_sectors(m), m->dev_sectors - start) << SECTOR_SHIFT;
}

static void mirror_queue_kick(struct mirror *m, unsigned long delay)
{
	mod_delayed_work(m->wq, &m->kick, delay);
}

/* Fails the mirror (before cutover): the source goes on alone. Any context. */
static void mirror_fail(struct mirror *m, enum mirror_error error)
{
	unsigned long flags;
	bool failed = false;

	spin_lock_irqsave(&m->lock, flags);
	if (m->state == MIRROR_COPYING || m->state == MIRROR_SYNCHRONIZED) {
		m->state = MIRROR_FAILED;
		m->error = error;
		m->failed_at = ktime_get_real_ns();
		failed = true;
	}
	spin_unlock_irqrestore(&m->lock, flags);
	if (failed) {
		DMERR("%u:%u: mirror to %u:%u failed (%s): the source goes on alone",
		      MAJOR(m->f->dev), MINOR(m->f->dev), MAJOR(m->cfg.target),
		      MINOR(m->cfg.target), mirror_errors[error]);
		/* held writes go on to the source only */
		queue_work(m->wq, &m->retry);
	}
}

static void mirror_clone_put(struct mirror *m, struct bio *clone)
{
	bio_put(clone);
	if (atomic_dec_and_test(&m->clones))
		wake_up(&m->wait);
}

/* Drops the pending counts of a source write that was not sent after all. */
static void mirror_uncount(struct mirror *m, u64 first, u64 last)
{
	bool kick = false;
	unsigned long flags;
	u64 r;

	spin_lock_irqsave(&m->lock, flags);
	for (r = first; r <= last; r++)
		if (!--m->pending[r] && m->region[r] == R_WAITING)
			kick = true;
	spin_unlock_irqrestore(&m->lock, flags);
	if (kick)
		mirror_queue_kick(m, 0);
}

static void mirror_target_done(struct bio *clone)
{
	struct mirror_io *io = container_of(clone, struct mirror_io, clone);
	struct mirror *m = io->m;
	struct bio *orig = io->orig;

	unsigned long flags;

	if (clone->bi_status == BLK_STS_NOTSUPP) {
		switch (bio_op(clone)) {
		case REQ_OP_WRITE_ZEROES:
			/* loop over tmpfs, say: the zeroes are written as data instead */
			WRITE_ONCE(m->target_lacks_zeroes, true);
			spin_lock_irqsave(&m->lock, flags);
			bio_list_add(&m->redo, clone);
			spin_unlock_irqrestore(&m->lock, flags);
			queue_work(m->wq, &m->redo_work);
			return;
		case REQ_OP_DISCARD:
		case REQ_OP_SECURE_ERASE:
			clone->bi_status = BLK_STS_OK;	/* discarded data is undefined anyway */
			break;
		default:
			break;
		}
	}
	/* the target's error is the mirror's, never the bio's */
	if (clone->bi_status)
		mirror_fail(m, MIRROR_TARGET_FAILED);
	mirror_clone_put(m, clone);
	bio_endio(orig);
}

static void mirror_source_done(struct bio *clone)
{
	struct mirror_io *io = container_of(clone, struct mirror_io, clone);
	struct mirror *m = io->m;
	struct bio *orig = io->orig;

	if (clone->bi_status)
		orig->bi_status = clone->bi_status;
	if (io->counted)
		mirror_uncount(m, io->first, io->last);
	mirror_clone_put(m, clone);
	bio_endio(orig);
}

static struct bio *mirror_clone(struct mirror *m, struct bio *orig, struct block_device *bdev,
				bool to_target, gfp_t gfp)
{
	struct bio *clone = bio_alloc_clone(bdev, orig, gfp, &m->clone_bs);
	struct mirror_io *io;

	if (!clone)
		return NULL;
	io = container_of(clone, struct mirror_io, clone);
	io->m = m;
	io->orig = orig;
	io->sector = orig->bi_iter.bi_sector;
	io->sectors = bio_sectors(orig);
	io->to_target = to_target;
	io->counted = false;
	clone->bi_end_io = to_target ? mirror_target_done : mirror_source_done;
	atomic_inc(&m->clones);
	return clone;
}

/* Whether the target takes this operation (a write always; the others if it says so). */
static bool mirror_target_takes(struct mirror *m, struct bio *bio)
{
	/* what the source refuses must not change the target */
	switch (bio_op(bio)) {
	case REQ_OP_DISCARD:
		return bdev_max_discard_sectors(m->f->bdev) &&
		       bdev_max_discard_sectors(m->target.bdev);
	case REQ_OP_SECURE_ERASE:
		return bdev_max_secure_erase_sectors(m->f->bdev) &&
		       bdev_max_secure_erase_sectors(m->target.bdev);
	case REQ_OP_WRITE_ZEROES:
		return bdev_write_zeroes_sectors(m->f->bdev);
	default:
		return true;
	}
}

static bool mirror_changes_data(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_WRITE_ZEROES:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
		return true;
	default:
		return false;
	}
}

/*
 * For a target without write-zeroes: writes of the zero page over the same range, chained
 * to one bio that completes as a target clone does. The bios come from the mempool and
 * each but the first is submitted at once, so the allocations always make progress.
 */
static struct bio *mirror_zero_writes(struct mirror *m, struct bio *orig, sector_t sector,
				      sector_t left)
{
	blk_opf_t opf = REQ_OP_WRITE | (orig->bi_opf & (REQ_PREFLUSH | REQ_FUA | REQ_SYNC));
	struct bio *parent = NULL, *bio;
	struct mirror_io *io;

	while (left) {
		unsigned int vecs = min_t(sector_t, BIO_MAX_VECS, DIV_ROUND_UP(left, PAGE_SECTORS));

		bio = bio_alloc_bioset(m->target.bdev, vecs, opf, GFP_NOIO, &m->clone_bs);
		bio->bi_iter.bi_sector = sector;
		while (left && bio->bi_vcnt < vecs) {
			unsigned int len = min_t(sector_t, left, PAGE_SECTORS) << SECTOR_SHIFT;

			__bio_add_page(bio, ZERO_PAGE(0), len, 0);
			sector += len >> SECTOR_SHIFT;
			left -= len >> SECTOR_SHIFT;
		}
		if (!parent) {
			parent = bio;
			io = container_of(parent, struct mirror_io, clone);
			io->m = m;
			io->orig = orig;
			io->to_target = true;
			io->counted = false;
			parent->bi_end_io = mirror_target_done;
			atomic_inc(&m->clones);
			continue;
		}
		bio_chain(bio, parent);
		submit_bio_noacct(bio);
	}
	return parent;
}

/* After cutover: the bio goes to the target instead, as it is. */
static enum dm_filter_verdict mirror_redirect(struct mirror *m, struct bio *bio)
{
	bio_set_dev(bio, m->target.bdev);
	submit_bio_noacct(bio);
	return DM_FILTER_SKIP;
}

/*
 * A write, discard, write-zeroes or flush while the mirror copies or is synchronized. Process
 * context; returns PASS when the original bio goes on to the source as it is.
 */
static enum dm_filter_verdict mirror_write(struct mirror *m, struct bio *bio)
{
	bool nowait = bio->bi_opf & REQ_NOWAIT;
	gfp_t gfp = nowait ? GFP_NOWAIT : GFP_NOIO;
	bool flush = bio->bi_opf & (REQ_PREFLUSH | REQ_FUA);
	bool any_copied = false, all_copied = true, to_target;
	sector_t start = bio->bi_iter.bi_sector, end = bio_end_sector(bio);
	u64 first = 0, last = 0, r;
	struct bio *tclone, *sclone;
	struct mirror_io *io;

	spin_lock_irq(&m->lock);
	switch (m->state) {
	case MIRROR_FAILED:
		spin_unlock_irq(&m->lock);
		return DM_FILTER_PASS;
	case MIRROR_CUTOVER:
		spin_unlock_irq(&m->lock);
		return mirror_redirect(m, bio);
	case MIRROR_STARTING:
	case MIRROR_CUTTING:
		goto hold;
	case MIRROR_SYNCHRONIZED:
		break;
	case MIRROR_COPYING:
		if (!bio_sectors(bio) || start >= m->dev_sectors)
			break;
		end = min(end, m->dev_sectors);
		first = start >> m->shift;
		last = (end - 1) >> m->shift;
		for (r = first; r <= last; r++) {
			if (m->region[r] == R_WAITING || m->region[r] == R_COPYING)
				goto wait_for_copy;
			if (m->region[r] == R_COPIED)
				any_copied = true;
			else
				all_copied = false;
		}
		if (!all_copied)
			for (r = first; r <= last; r++)
				m->pending[r]++;
		break;
	default:
		break;
	}
	spin_unlock_irq(&m->lock);

	to_target = all_copied || any_copied || flush;
	if (to_target && bio_sectors(bio) && !mirror_target_takes(m, bio))
		to_target = false;	/* the target keeps its data where the source discarded */
	tclone = sclone = NULL;
	if (to_target && bio_op(bio) == REQ_OP_WRITE_ZEROES &&
	    (!bdev_write_zeroes_sectors(m->target.bdev) || READ_ONCE(m->target_lacks_zeroes))) {
		tclone = mirror_zero_writes(m, bio, bio->bi_iter.bi_sector, bio_sectors(bio));
	} else if (to_target) {
		tclone = mirror_clone(m, bio, m->target.bdev, true, gfp);
		if (!tclone)
			goto no_clone;
		/* the target's answer never reaches the bio: it must not refuse to wait either */
		tclone->bi_opf &= ~REQ_NOWAIT;
	}
	if (all_copied) {
		if (!tclone)
			return DM_FILTER_PASS;
		bio_inc_remaining(bio);
		submit_bio_noacct(tclone);
		return DM_FILTER_PASS;
	}
	/* a region not yet copied: the source write is counted until it completes */
	sclone = mirror_clone(m, bio, m->f->bdev, false, gfp);
	if (!sclone)
		goto no_clone;
	io = container_of(sclone, struct mirror_io, clone);
	io->counted = true;
	io->first = first;
	io->last = last;
	if (tclone) {
		bio_inc_remaining(bio);
		submit_bio_noacct(tclone);
	}
	dm_filter_pass_on(m->f, sclone);
	return DM_FILTER_SKIP;

no_clone:
	/* only a REQ_NOWAIT bio gets no clone: it is refused as it would block */
	if (tclone)
		mirror_clone_put(m, tclone);
	if (!all_copied)
		mirror_uncount(m, first, last);
	bio_wouldblock_error(bio);
	return DM_FILTER_SKIP;

wait_for_copy:
	if (nowait)
		goto would_block;
	m->write_waits++;
	bio_list_add(&m->waiting, bio);
	spin_unlock_irq(&m->lock);
	return DM_FILTER_HOLD;
hold:
	if (nowait)
		goto would_block;
	bio_list_add(&m->held, bio);
	spin_unlock_irq(&m->lock);
	return DM_FILTER_HOLD;
would_block:
	spin_unlock_irq(&m->lock);
	bio_wouldblock_error(bio);
	return DM_FILTER_SKIP;
}

static enum dm_filter_verdict mirror_submit_bio(struct dm_filter *f, struct bio *bio)
{
	struct mirror *m = f->private;
	enum mirror_state state = READ_ONCE(m->state);

	if (state == MIRROR_CUTOVER)
		return mirror_redirect(m, bio);
	if (mirror_changes_data(bio) || (bio->bi_opf & (REQ_PREFLUSH | REQ_FUA))) {
		if (state != MIRROR_FAILED)
			WRITE_ONCE(m->last_io, jiffies);
		return mirror_write(m, bio);
	}
	if (state == MIRROR_COPYING)
		atomic64_add(bio->bi_iter.bi_size, &m->read_bytes);
	if (state == MIRROR_CUTTING) {
		spin_lock_irq(&m->lock);
		if (m->state == MIRROR_CUTTING) {
			if (bio->bi_opf & REQ_NOWAIT) {
				spin_unlock_irq(&m->lock);
				bio_wouldblock_error(bio);
				return DM_FILTER_SKIP;
			}
			bio_list_add(&m->held, bio);
			spin_unlock_irq(&m->lock);
			return DM_FILTER_HOLD;
		}
		spin_unlock_irq(&m->lock);
		return mirror_submit_bio(f, bio);
	}
	return DM_FILTER_PASS;	/* reads go to the source */
}

/*
 * Only a failed mirror lets bios by in the hook: every other bio is seen where the chain
 * may sleep, so that the cutover can wait for all that went to the source before it.
 */
static bool mirror_passes(struct dm_filter *f, struct bio *bio)
{
	struct mirror *m = f->private;

	return READ_ONCE(m->state) == MIRROR_FAILED;
}

/* Hands on the writes that waited for a copy (or for a failure), as if they came now. */
static void mirror_retry_work(struct work_struct *work)
{
	struct mirror *m = container_of(work, struct mirror, retry);
	struct bio_list bios;
	struct bio *bio;

	spin_lock_irq(&m->lock);
	bios = m->waiting;
	bio_list_init(&m->waiting);
	spin_unlock_irq(&m->lock);
	while ((bio = bio_list_pop(&bios)))
		if (mirror_write(m, bio) == DM_FILTER_PASS)
			dm_filter_pass_on(m->f, bio);
}

/* Writes the zeroes the target refused as write-zeroes; the original ends with them. */
static void mirror_redo_work(struct work_struct *work)
{
	struct mirror *m = container_of(work, struct mirror, redo_work);
	struct bio_list bios;
	struct bio *clone;

	spin_lock_irq(&m->lock);
	bios = m->redo;
	bio_list_init(&m->redo);
	spin_unlock_irq(&m->lock);
	while ((clone = bio_list_pop(&bios))) {
		struct mirror_io *io = container_of(clone, struct mirror_io, clone);

		submit_bio_noacct(mirror_zero_writes(m, io->orig, io->sector, io->sectors));
		mirror_clone_put(m, clone);
	}
}

/* ---------------------------------------------------------------- the background copy */

static void mirror_measure(struct mirror *m)
{
	u64 now = ktime_get_ns(), copied = atomic64_read(&m->copied_bytes);

	if (now - m->rate_mark_ns < NSEC_PER_SEC / 2)
		return;
	m->bytes_per_second = div64_u64((copied - m->rate_mark_bytes) * NSEC_PER_SEC,
					now - m->rate_mark_ns);
	m->rate_mark_ns = now;
	m->rate_mark_bytes = copied;
}

static void mirror_copy_done(int read_err, unsigned long write_err, void *context)
{
	struct mirror_copy *c = context;
	struct mirror *m = c->m;
	bool synced = false;

	if (read_err)
		mirror_fail(m, MIRROR_SOURCE_FAILED);
	else if (write_err)
		mirror_fail(m, MIRROR_TARGET_FAILED);

	spin_lock_irq(&m->lock);
	m->region[c->region] = R_COPIED;
	if (!read_err && !write_err) {
		m->copied_regions++;
		atomic64_add(mirror_region_bytes(m, c->region), &m->copied_bytes);
	}
	c->busy = false;
	m->in_flight_copies--;
	mirror_measure(m);
	if (m->state == MIRROR_COPYING && m->copied_regions == m->regions) {
		m->state = MIRROR_SYNCHRONIZED;
		m->synchronized_at = ktime_get_real_ns();
		m->bytes_per_second = 0;
		synced = true;
	}
	spin_unlock_irq(&m->lock);
	if (synced)
		DMINFO("%u:%u: synchronized with %u:%u", MAJOR(m->f->dev), MINOR(m->f->dev),
		       MAJOR(m->cfg.target), MINOR(m->cfg.target));
	queue_work(m->wq, &m->retry);
	mirror_queue_kick(m, 0);
	wake_up(&m->wait);
}

static void mirror_start_copy(struct mirror *m, struct mirror_copy *c)
{
	struct dm_io_region from = {
		.bdev = m->f->bdev,
		.sector = c->region << m->shift,
		.count = mirror_region_bytes(m, c->region) >> SECTOR_SHIFT,
	};
	struct dm_io_region to = {
		.bdev = m->target.bdev,
		.sector = from.sector,
		.count = from.count,
	};

	dm_kcopyd_copy(m->kc, &from, 1, &to, 0, mirror_copy_done, c);
}

/* Jiffies to wait before the rate limit lets `bytes` more be copied; 0: now. */
static unsigned long mirror_rate_delay(struct mirror *m)
{
	u64 ms = div64_u64(ktime_get_ns() - m->start_ns, NSEC_PER_MSEC), allowed, ahead;

	if (!m->cfg.rate_limit)
		return 0;
	allowed = m->cfg.rate_limit * div64_u64(ms, MSEC_PER_SEC) +
		  div64_u64(m->cfg.rate_limit * (ms % MSEC_PER_SEC), MSEC_PER_SEC);
	if (m->copy_started <= allowed)
		return 0;
	ahead = m->copy_started - allowed;
	return max_t(unsigned long, 1,
		     msecs_to_jiffies(div64_u64(ahead * MSEC_PER_SEC, m->cfg.rate_limit)));
}

/*
 * Starts the copies that are due: the next regions, up to the window (one region while the
 * device is busy with foreground IO), as the rate limit allows. A region with writes in
 * flight waits (R_WAITING) until they are done.
 */
static void mirror_kick_work(struct work_struct *work)
{
	struct mirror *m = container_of(to_delayed_work(work), struct mirror, kick);
	struct mirror_copy *start[MIRROR_WINDOW];
	unsigned int n = 0, i, window;
	unsigned long delay = 0;
	bool copying;
	s64 foreground;

	spin_lock_irq(&m->lock);
	copying = m->state == MIRROR_COPYING && !m->stopping;
	/* read bytes beyond all the copy asked for are someone else's */
	foreground = atomic64_read(&m->read_bytes) - (s64)m->copy_started;
	if (foreground > m->foreground_mark) {
		m->foreground_mark = foreground;
		WRITE_ONCE(m->last_io, jiffies);
	}
	/* due copies whose writes have finished */
	for (i = 0; i < MIRROR_WINDOW && copying; i++) {
		struct mirror_copy *c = &m->copies[i];

		if (c->busy && m->region[c->region] == R_WAITING && !m->pending[c->region]) {
			m->region[c->region] = R_COPYING;
			start[n++] = c;
		}
	}
	window = time_before(jiffies, READ_ONCE(m->last_io) + msecs_to_jiffies(MIRROR_BUSY_MS)) ?
		 1 : MIRROR_WINDOW;
	while (copying && m->next < m->regions && m->in_flight_copies < window) {
		struct mirror_copy *c = NULL;

		delay = mirror_rate_delay(m);
		if (delay)
			break;
		for (i = 0; i < MIRROR_WINDOW && !c; i++)
			if (!m->copies[i].busy)
				c = &m->copies[i];
		c->busy = true;
		c->region = m->next++;
		m->in_flight_copies++;
		m->copy_started += mirror_region_bytes(m, c->region);
		if (m->pending[c->region]) {
			m->region[c->region] = R_WAITING;
			continue;
		}
		m->region[c->region] = R_COPYING;
		start[n++] = c;
	}
	spin_unlock_irq(&m->lock);

	for (i = 0; i < n; i++)
		mirror_start_copy(m, start[i]);
	if (delay)
		mirror_queue_kick(m, delay);
}

/* ---------------------------------------------------------------- cutover */

/* Waits for the mirrored writes in flight, then for all the source's IO. */
static bool mirror_drain_source(struct mirror *m)
{
	if (!wait_event_timeout(m->wait, !atomic_read(&m->clones),
				msecs_to_jiffies(MIRROR_DRAIN_MS)))
		return false;
	return dm_filter_drain_device(m->f->bdev, true, MIRROR_DRAIN_MS);
}

static int mirror_cutover(struct dm_filter *f, struct mirror *m)
{
	struct bio_list bios;
	enum mirror_state was;
	struct bio *bio;
	bool drained;

	spin_lock_irq(&m->lock);
	was = m->state;
	if (was == MIRROR_SYNCHRONIZED)
		m->state = MIRROR_CUTTING;
	spin_unlock_irq(&m->lock);
	if (was != MIRROR_SYNCHRONIZED) {
		f->error = was == MIRROR_CUTOVER ? "the mirror is cut over already" :
			   "cutover needs a synchronized mirror";
		return -EBUSY;
	}
	/* every bio that saw the old state is at the source now; the drain waits for it */
	dm_filter_wait_submitters();
	drained = mirror_drain_source(m);

	spin_lock_irq(&m->lock);
	if (drained) {
		m->state = MIRROR_CUTOVER;
		m->cutover_at = ktime_get_real_ns();
	} else {
		m->state = MIRROR_SYNCHRONIZED;
	}
	bios = m->held;
	bio_list_init(&m->held);
	spin_unlock_irq(&m->lock);
	while ((bio = bio_list_pop(&bios)))
		if (mirror_submit_bio(f, bio) == DM_FILTER_PASS)
			dm_filter_pass_on(f, bio);
	if (!drained) {
		f->error = "the source's IO did not drain in time; still synchronized";
		return -EBUSY;
	}
	DMINFO("%u:%u: cut over to %u:%u: every bio goes to the target", MAJOR(f->dev),
	       MINOR(f->dev), MAJOR(m->cfg.target), MINOR(m->cfg.target));
	return 0;
}

/* ---------------------------------------------------------------- attach, detach */

static int mirror_refuse(struct dm_filter *f, const char *why, int r)
{
	f->error = why;
	return r;
}

static int mirror_open_target(struct dm_filter *f, struct mirror *m)
{
	struct dmf_bdev_handle h = {};
	int r;

	if (!m->cfg.target)
		return mirror_refuse(f, "mirror needs target=MAJOR:MINOR", -EINVAL);
	if (m->cfg.target == f->dev)
		return mirror_refuse(f, "the target is the source itself", -EINVAL);
	r = dmf_bdev_open(m->cfg.target, NULL, &h);
	if (r)
		return mirror_refuse(f, "cannot open the target device", r);
	if (h.bdev->bd_disk == f->bdev->bd_disk) {
		dmf_bdev_close(&h);
		return mirror_refuse(f, "the target is on the source's disk (a partition of it, or the disk it is on)",
				     -EINVAL);
	}
	if (bdev_nr_sectors(h.bdev) < bdev_nr_sectors(f->bdev)) {
		dmf_bdev_close(&h);
		return mirror_refuse(f, "the target is smaller than the source", -EINVAL);
	}
	if (bdev_logical_block_size(h.bdev) > bdev_logical_block_size(f->bdev)) {
		dmf_bdev_close(&h);
		return mirror_refuse(f, "the target's logical block size is larger than the source's",
				     -EINVAL);
	}
	dmf_bdev_close(&h);
	r = dmf_bdev_open(m->cfg.target, m, &m->target);
	if (r)
		return mirror_refuse(f, "cannot open the target exclusively for writing (in use?)", r);
	return 0;
}

static void mirror_free(struct mirror *m)
{
	if (m->wq)
		destroy_workqueue(m->wq);
	if (m->kc)
		dm_kcopyd_client_destroy(m->kc);
	bioset_exit(&m->clone_bs);
	kvfree(m->region);
	kvfree(m->pending);
	dmf_bdev_close(&m->target);
	kfree(m);
}

static int mirror_attach(struct dm_filter *f, unsigned int argc, char **argv)
{
	struct mirror_config cfg = { .region_size = MIRROR_DEFAULT_REGION };
	struct mirror *m;
	int r;

	r = dm_filter_parse_options(f, argc, argv, mirror_opts, ARRAY_SIZE(mirror_opts), &cfg);
	if (r)
		return r;
	if (!is_power_of_2(cfg.region_size))
		return mirror_refuse(f, "option region-size: not a power of two", -EINVAL);
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return mirror_refuse(f, "out of memory", -ENOMEM);
	m->f = f;
	m->cfg = cfg;
	m->shift = ilog2(cfg.region_size >> SECTOR_SHIFT);
	m->dev_sectors = bdev_nr_sectors(f->bdev);
	m->regions = DIV_ROUND_UP_ULL(m->dev_sectors, mirror_region_sectors(m));
	spin_lock_init(&m->lock);
	bio_list_init(&m->waiting);
	bio_list_init(&m->held);
	INIT_DELAYED_WORK(&m->kick, mirror_kick_work);
	INIT_WORK(&m->retry, mirror_retry_work);
	INIT_WORK(&m->redo_work, mirror_redo_work);
	bio_list_init(&m->redo);
	init_waitqueue_head(&m->wait);
	m->state = MIRROR_STARTING;
	m->last_io = jiffies - msecs_to_jiffies(MIRROR_BUSY_MS) - 1;

	r = -EINVAL;
	if (!m->regions || m->regions > MIRROR_MAX_REGIONS) {
		f->error = m->regions ? "too many regions: choose a larger region-size" :
			   "the source is empty";
		goto bad;
	}
	r = mirror_open_target(f, m);
	if (r)
		goto bad;
	r = -ENOMEM;
	f->error = "out of memory";
	m->region = kvcalloc(m->regions, sizeof(*m->region), GFP_KERNEL);
	m->pending = kvcalloc(m->regions, sizeof(*m->pending), GFP_KERNEL);
	if (!m->region || !m->pending)
		goto bad;
	if (bioset_init(&m->clone_bs, BIO_POOL_SIZE, offsetof(struct mirror_io, clone),
			BIOSET_NEED_BVECS))
		goto bad;
	m->wq = alloc_workqueue("dmflt-mirror-%u:%u", WQ_MEM_RECLAIM, 0, MAJOR(f->dev),
				MINOR(f->dev));
	if (!m->wq)
		goto bad;
	m->kc = dm_kcopyd_client_create(NULL);
	if (IS_ERR(m->kc)) {
		r = PTR_ERR(m->kc);
		m->kc = NULL;
		f->error = "cannot create a kcopyd client";
		goto bad;
	}
	for (r = 0; r < MIRROR_WINDOW; r++)
		m->copies[r].m = m;
	f->error = NULL;
	f->private = m;
	return 0;
bad:
	mirror_free(m);
	return r;
}

/*
 * In the chain now, so every new write is seen (and held): once the writes that reached the
 * source before are done, the copy may begin.
 */
static void mirror_attached(struct dm_filter *f)
{
	struct mirror *m = f->private;
	bool drained = dm_filter_drain_device(f->bdev, false, MIRROR_DRAIN_MS);
	struct bio_list bios;
	struct bio *bio;

	spin_lock_irq(&m->lock);
	if (drained) {
		m->state = MIRROR_COPYING;
	} else {
		m->state = MIRROR_FAILED;
		m->error = MIRROR_UNDRAINED;
		m->failed_at = ktime_get_real_ns();
	}
	bios = m->held;
	bio_list_init(&m->held);
	spin_unlock_irq(&m->lock);
	while ((bio = bio_list_pop(&bios)))
		if (mirror_write(m, bio) == DM_FILTER_PASS)
			dm_filter_pass_on(f, bio);
	if (!drained)
		DMERR("%u:%u: writes in flight did not finish within %u ms: mirror failed",
		      MAJOR(f->dev), MINOR(f->dev), MIRROR_DRAIN_MS);

	m->started_at = ktime_get_real_ns();
	m->start_ns = ktime_get_ns();
	m->rate_mark_ns = m->start_ns;
	DMINFO("%u:%u: mirroring to %u:%u, %llu regions of %llu bytes", MAJOR(f->dev),
	       MINOR(f->dev), MAJOR(m->cfg.target), MINOR(m->cfg.target), m->regions,
	       m->cfg.region_size);
	mirror_queue_kick(m, 0);
}

static int mirror_may_detach(struct dm_filter *f)
{
	struct mirror *m = f->private;

	if (READ_ONCE(m->state) != MIRROR_CUTOVER || READ_ONCE(m->released))
		return 0;
	DMERR("%u:%u: detach refused (cutover-active): IO would go back to the stale source",
	      MAJOR(f->dev), MINOR(f->dev));
	f->error = "cutover-active: detaching would send IO back to the stale source";
	return -EBUSY;
}

static void mirror_detach(struct dm_filter *f)
{
	struct mirror *m = f->private;

	/* the core waited for the bio path: only copies, held writes and clones remain */
	spin_lock_irq(&m->lock);
	m->stopping = true;
	if (m->state == MIRROR_COPYING || m->state == MIRROR_SYNCHRONIZED)
		m->state = MIRROR_FAILED;	/* held writes go on to the source alone */
	spin_unlock_irq(&m->lock);
	/*
	 * A kick that chose its copies before `stopping` may still be handing them to kcopyd:
	 * it finishes before the client goes. Later kicks (a copy's completion queues one) start
	 * nothing.
	 */
	cancel_delayed_work_sync(&m->kick);
	/* copies due but not started never will be; those in flight are waited for */
	dm_kcopyd_client_destroy(m->kc);
	m->kc = NULL;
	/* the kick no longer starts or re-arms anything: one last run of each work */
	flush_workqueue(m->wq);
	cancel_delayed_work_sync(&m->kick);
	mirror_retry_work(&m->retry);
	wait_event(m->wait, !atomic_read(&m->clones));
	WARN_ON(!bio_list_empty(&m->waiting) || !bio_list_empty(&m->held));
	mirror_free(m);
}

static void mirror_print_instant(struct dm_filter_out *out, const char *name, u64 ns)
{
	if (ns)
		dm_filter_out_printf(out, " %s=%llu", name, ns);
	else
		dm_filter_out_printf(out, " %s=none", name);
}

static void mirror_status(struct dm_filter *f, struct dm_filter_out *out)
{
	struct mirror *m = f->private;
	enum mirror_state state;
	enum mirror_error error;
	u64 copied_regions, rate, synced_at, cut_at, failed_at, waits;

	spin_lock_irq(&m->lock);
	state = m->state;
	error = m->error;
	copied_regions = m->copied_regions;
	waits = m->write_waits;
	if (state == MIRROR_COPYING)
		mirror_measure(m);
	rate = state == MIRROR_COPYING ? m->bytes_per_second : 0;
	synced_at = m->synchronized_at;
	cut_at = m->cutover_at;
	failed_at = m->failed_at;
	spin_unlock_irq(&m->lock);

	dm_filter_out_printf(out, "state=%s copied_bytes=%lld total_bytes=%llu region_size=%llu",
			     mirror_states[state], (long long)atomic64_read(&m->copied_bytes),
			     (u64)m->dev_sectors << SECTOR_SHIFT, m->cfg.region_size);
	dm_filter_out_printf(out, " regions=%llu copied_regions=%llu bytes_per_second=%llu",
			     m->regions, copied_regions, rate);
	dm_filter_out_printf(out, " target=%u:%u rate_limit=%llu write_waits=%llu",
			     MAJOR(m->cfg.target), MINOR(m->cfg.target), m->cfg.rate_limit, waits);
	mirror_print_instant(out, "started_at", m->started_at);
	mirror_print_instant(out, "synchronized_at", synced_at);
	mirror_print_instant(out, "cutover_at", cut_at);
	mirror_print_instant(out, "failed_at", failed_at);
	dm_filter_out_printf(out, " error=%s", mirror_errors[error]);
}

static int mirror_message(struct dm_filter *f, unsigned int argc, char **argv,
			  struct dm_filter_out *out)
{
	struct mirror *m = f->private;

	if (argc == 1 && !strcmp(argv[0], "cutover"))
		return mirror_cutover(f, m);
	if (argc == 1 && !strcmp(argv[0], "release")) {
		WRITE_ONCE(m->released, true);
		return 0;
	}
	f->error = "unknown message (mirror takes: cutover, release)";
	return -EINVAL;
}

static struct dm_filter_type mirror_filter_type = {
	.name = "mirror",
	.module = THIS_MODULE,
	.version = {1, 0, 0},
	.attach = mirror_attach,
	.attached = mirror_attached,
	.may_detach = mirror_may_detach,
	.detach = mirror_detach,
	.submit_bio = mirror_submit_bio,
	.passes = mirror_passes,
	.status = mirror_status,
	.message = mirror_message,
};

static int __init dm_flt_mirror_init(void)
{
	return dm_filter_register_type(&mirror_filter_type);
}

static void __exit dm_flt_mirror_exit(void)
{
	dm_filter_unregister_type(&mirror_filter_type);
}

module_init(dm_flt_mirror_init);
module_exit(dm_flt_mirror_exit);

MODULE_DESCRIPTION("mirror device filter: live migration onto another device, with cutover");
MODULE_LICENSE("GPL");
