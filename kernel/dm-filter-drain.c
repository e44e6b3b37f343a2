// SPDX-License-Identifier: GPL-2.0
/*
 * dm-filter-drain.c - waits for the IO a device already has in flight, for the filter types that must start from a still device.
 *
 * A type that holds new bios (cow's take, mirror's start and cutover) calls this to wait
 * for the bios that reached the device before it held them. A request-based queue is frozen
 * and unfrozen: every request is out then. A bio-based device (dm) is watched until its
 * accounted IO in flight is done, for at most the time given.
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/delay.h>
#include <linux/part_stat.h>
#include "dm-filter-internal.h"

static unsigned long dmf_in_flight(struct block_device *bdev, bool reads)
{
	long n = 0;
	int cpu;

	for_each_possible_cpu(cpu) {
		n += part_stat_local_read_cpu(bdev, in_flight[WRITE], cpu);
		if (reads)
			n += part_stat_local_read_cpu(bdev, in_flight[READ], cpu);
	}
	return n > 0 ? n : 0;
}

bool dm_filter_drain_device(struct block_device *bdev, bool reads, unsigned int timeout_ms)
{
	struct request_queue *q = bdev_get_queue(bdev);
	unsigned long deadline = jiffies + msecs_to_jiffies(timeout_ms);

	if (queue_is_mq(q)) {
		blk_mq_freeze_queue(q);
		blk_mq_unfreeze_queue(q);
		return true;
	}
	while (dmf_in_flight(bdev, reads)) {
		if (time_after(jiffies, deadline))
			return false;
		usleep_range(100, 200);
	}
	return true;
}
EXPORT_SYMBOL_GPL(dm_filter_drain_device);
