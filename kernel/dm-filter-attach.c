// SPDX-License-Identifier: GPL-2.0
/*
 * dm-filter-attach.c - attaching filter types to block devices, detaching them, and dropping them when a device goes away.
 *
 * An attachment holds a reference on its block device's struct device, not an open:
 * an open would keep loop devices from being removed. A class interface on the block
 * class tells us when a disk or partition is deleted; its attachments are dropped then.
 * Attachments whose device died in the window before the interface saw it are reaped
 * at the next control operation.
 */
#include <linux/device-mapper.h>
#include <linux/blkdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <linux/timekeeping.h>
#include "dm-filter-internal.h"
#include "dm.h"

#define DM_MSG_PREFIX "filter"

LIST_HEAD(dmf_attachments);

static DEFINE_MUTEX(dmf_class_lock);
static struct class_interface dmf_block_interface;
static bool dmf_block_interface_registered;
/* The task inside a type's ->attach or ->detach: a disk it deletes is not ours to drop. */
static struct task_struct *dmf_type_op_task;

static bool dmf_bdev_dead(struct block_device *bdev)
{
	return inode_unhashed(dmf_bdev_inode(bdev)) || !device_is_registered(&bdev->bd_device);
}

static struct dmf_device *dmf_device_find(dev_t dev)
{
	struct dmf_attachment *a;

	list_for_each_entry(a, &dmf_attachments, all_entry)
		if (a->filter.dev == dev && !dmf_bdev_dead(a->filter.bdev))
			return a->device;
	return NULL;
}

/* Called with dm_filter_lock held. */
struct dmf_attachment *dmf_attachment_find(dev_t dev, const char *type_name)
{
	struct dmf_attachment *a;

	list_for_each_entry(a, &dmf_attachments, all_entry)
		if (a->filter.dev == dev && !strcmp(a->filter.type->name, type_name) &&
		    !dmf_bdev_dead(a->filter.bdev))
			return a;
	return NULL;
}

/* Called with dm_filter_lock held. */
static void dmf_device_update_atomic(struct dmf_device *d)
{
	struct dmf_attachment *a;
	bool atomic = true;

	list_for_each_entry(a, &d->chain, device_entry)
		atomic &= !!(a->filter.type->features & DM_FILTER_TYPE_ATOMIC);
	WRITE_ONCE(d->atomic, atomic);
}

/* Called with dm_filter_lock held. */
static void dmf_attachment_destroy(struct dmf_attachment *a)
{
	struct dmf_device *d = a->device;
	struct dm_filter_type *type = a->filter.type;

	bool last;

	list_del_rcu(&a->device_entry);
	list_del(&a->all_entry);
	last = list_empty(&d->chain);
	if (last)
		dmf_device_unpublish(d);

	/* chains entered before now, in the hook (RCU) or redirected (SRCU), are done */
	dmf_drain();
	synchronize_rcu();
	WRITE_ONCE(dmf_type_op_task, current);
	type->detach(&a->filter);
	WRITE_ONCE(dmf_type_op_task, NULL);
	type->attachments--;
	put_device(&a->filter.bdev->bd_device);
	kfree(a);
	if (last)
		kfree(d);
	else
		dmf_device_update_atomic(d);	/* safe only now that no chain holds a */
	dmf_type_put(type);
	module_put(THIS_MODULE);
}

/* Called with dm_filter_lock held. */
static void dmf_drop_filters_of(struct block_device *bdev)
{
	struct dmf_attachment *a, *next;

	list_for_each_entry_safe(a, next, &dmf_attachments, all_entry) {
		if (a->filter.bdev != bdev)
			continue;
		DMINFO("%s: dropping filter of removed device %u:%u", a->filter.type->name,
		       MAJOR(a->filter.dev), MINOR(a->filter.dev));
		a->filter.removed = true;
		dmf_attachment_destroy(a);
	}
}

/* A removal whose filters are dropped by a worker: the registry mutex was taken. */
struct dmf_removal {
	struct work_struct work;
	struct block_device *bdev;	/* its struct device is held, so the address is not reused */
};

static struct workqueue_struct *dmf_removal_wq;

static void dmf_removal_work(struct work_struct *work)
{
	struct dmf_removal *r = container_of(work, struct dmf_removal, work);

	mutex_lock(&dm_filter_lock);
	DMINFO("%u:%u was removed during a control call: dropping its filters now",
	       MAJOR(r->bdev->bd_dev), MINOR(r->bdev->bd_dev));
	dmf_drop_filters_of(r->bdev);
	mutex_unlock(&dm_filter_lock);
	put_device(&r->bdev->bd_device);
	kfree(r);
}

/* The block class tells us a disk or partition is being deleted. */
static void dmf_block_device_removed(DMF_CLASS_INTF_ARGS)
{
	struct block_device *bdev = dev_to_bdev(dev);
	struct dmf_removal *r;
	bool filtered;

	/*
	 * Most disks that go have no filter: leave them without the registry mutex, which a
	 * type may hold while it adds or deletes a disk of its own (cow's image) and so waits
	 * for the class mutex our caller holds. A disk a type's own ->attach or ->detach
	 * deletes is reaped by the next control call if it had filters.
	 */
	rcu_read_lock();
	filtered = dmf_device_lookup(bdev);
	rcu_read_unlock();
	if (!filtered || READ_ONCE(dmf_type_op_task) == current)
		return;

	/*
	 * A control call holding the registry mutex may itself wait for the class mutex our
	 * caller holds (a type adding or deleting a disk, cow's image): waiting for it here
	 * would deadlock. Then a worker drops the filters once the call is done; until then
	 * the device's bios fail in the block layer as for any deleted disk, and the next
	 * control call reaps the attachment if the worker has not yet.
	 */
	if (mutex_trylock(&dm_filter_lock)) {
		dmf_drop_filters_of(bdev);
		mutex_unlock(&dm_filter_lock);
		return;
	}
	r = kmalloc(sizeof(*r), GFP_NOIO);
	if (!r) {
		DMWARN("no memory to drop the filters of removed device %u:%u now; the next control call does",
		       MAJOR(bdev->bd_dev), MINOR(bdev->bd_dev));
		return;
	}
	INIT_WORK(&r->work, dmf_removal_work);
	get_device(&bdev->bd_device);
	r->bdev = bdev;
	queue_work(dmf_removal_wq, &r->work);
}

/* The block class is not exported; an open block device's struct device names it. */
static int dmf_watch_block_class(struct block_device *bdev)
{
	int r = 0;

	mutex_lock(&dmf_class_lock);
	if (!dmf_block_interface_registered) {
		dmf_block_interface.class = bdev->bd_device.class;
		dmf_block_interface.remove_dev = dmf_block_device_removed;
		r = class_interface_register(&dmf_block_interface);
		dmf_block_interface_registered = !r;
	}
	mutex_unlock(&dmf_class_lock);
	return r;
}

/* Called with dm_filter_lock held. */
void dmf_reap_dead_devices(void)
{
	struct dmf_attachment *a, *next;

	list_for_each_entry_safe(a, next, &dmf_attachments, all_entry)
		if (dmf_bdev_dead(a->filter.bdev))
			dmf_attachment_destroy(a);
}

/*
 * Whether dev names a block device at all: its bdev inode exists from add_disk (or
 * partition add) until the device is deleted.
 */
static bool dmf_dev_exists(dev_t dev)
{
	struct inode *inode = ilookup(blockdev_superblock, dev);

	iput(inode);
	return inode;
}

/*
 * Returns the block device with a reference on its struct device. When it cannot be
 * opened the caller gets the open's own errno (EACCES/EPERM, ENOMEDIUM, ENXIO for a disk
 * going away or an empty partition...) so it can tell "wait for the device" from "it
 * will not open"; only a number no device has is -ENODEV.
 */
static struct block_device *dmf_bdev_get(dev_t dev)
{
	struct dmf_bdev_handle h;
	struct block_device *bdev;
	int r = dmf_bdev_open(dev, NULL, &h);

	if (r) {
		if (r == -ENXIO && !dmf_dev_exists(dev))
			return ERR_PTR(-ENODEV);
		return ERR_PTR(r);
	}
	bdev = h.bdev;
	get_device(&bdev->bd_device);
	dmf_bdev_close(&h);
	return bdev;
}

static int dmf_attach_locked(struct block_device *bdev, dev_t dev, const char *type_name,
			     char *options)
{
	struct dm_filter_type *type;
	struct dmf_attachment *a;
	struct dmf_device *d;
	char **argv = NULL;
	int argc;
	bool new_device = false;
	int r;

	dmf_reap_dead_devices();
	type = dmf_type_get(type_name);
	if (!type)
		return -ENOENT;
	r = -EEXIST;
	if (dmf_attachment_find(dev, type_name))
		goto bad_type;
	r = -EBUSY;	/* being deleted */
	if (dmf_bdev_dead(bdev))
		goto bad_type;
	r = dmf_hook_enable();
	if (r)
		goto bad_type;

	r = -ENOMEM;
	a = kzalloc(sizeof(*a), GFP_KERNEL);
	if (!a)
		goto bad_type;
	d = dmf_device_find(dev);
	if (!d) {
		d = kzalloc(sizeof(*d), GFP_KERNEL);
		if (!d)
			goto bad_attachment;
		d->bdev = bdev;
		INIT_LIST_HEAD(&d->chain);
		d->atomic = true;
		new_device = true;
	}

	r = dm_split_args(&argc, &argv, options);
	if (r) {
		DMERR("%s: attach to %u:%u: cannot split options", type_name, MAJOR(dev), MINOR(dev));
		goto bad_device;
	}
	a->filter.type = type;
	a->filter.bdev = bdev;
	a->filter.dev = dev;
	a->device = d;
	a->attached_ns = ktime_get_real_ns();
	WRITE_ONCE(dmf_type_op_task, current);
	r = type->attach(&a->filter, argc, argv);
	WRITE_ONCE(dmf_type_op_task, NULL);
	kfree(argv);
	if (r) {
		DMERR("%s: attach to %u:%u: %s", type_name, MAJOR(dev), MINOR(dev),
		      a->filter.error ?: "refused");
		goto bad_device;
	}

	if (!(type->features & DM_FILTER_TYPE_ATOMIC) && d->atomic) {
		/* no hook may still run this chain in atomic context once a sleeper joins */
		WRITE_ONCE(d->atomic, false);
		synchronize_rcu();
	}
	__module_get(THIS_MODULE);
	type->attachments++;
	list_add_tail(&a->all_entry, &dmf_attachments);
	list_add_tail_rcu(&a->device_entry, &d->chain);
	if (new_device)
		dmf_device_publish(d);
	if (type->attached) {
		/* every bio that entered the chain before the link has left it */
		dmf_drain();
		synchronize_rcu();
		type->attached(&a->filter);
	}
	return 0;

bad_device:
	if (new_device)
		kfree(d);
bad_attachment:
	kfree(a);
bad_type:
	dmf_type_put(type);
	return r;
}

int dmf_attach(dev_t dev, const char *type_name, char *options)
{
	struct block_device *bdev = dmf_bdev_get(dev);
	int r;

	if (IS_ERR(bdev)) {
		r = PTR_ERR(bdev);
		if (r != -ENODEV)
			DMERR("%s: attach to %u:%u: cannot open the device: %d", type_name,
			      MAJOR(dev), MINOR(dev), r);
		return r;
	}
	r = dmf_watch_block_class(bdev);
	if (!r) {
		mutex_lock(&dm_filter_lock);
		r = dmf_attach_locked(bdev, dev, type_name, options);
		mutex_unlock(&dm_filter_lock);
	}
	if (r)
		put_device(&bdev->bd_device);	/* on success the attachment keeps it */
	return r;
}

/* Called with dm_filter_lock held. */
int dmf_detach(dev_t dev, const char *type_name)
{
	struct dmf_attachment *a;

	dmf_reap_dead_devices();
	a = dmf_attachment_find(dev, type_name);
	if (!a)
		return -ENXIO;
	if (a->filter.type->may_detach) {
		int r = a->filter.type->may_detach(&a->filter);

		if (r)
			return r;
	}
	dmf_attachment_destroy(a);
	return 0;
}

/* Called from a type's op, with dm_filter_lock held (attach, message, ...). */
int dm_filter_peer_message(struct dm_filter *f, const char *type, unsigned int argc, char **argv,
			   char *reply, size_t len)
{
	struct dmf_attachment *a;
	struct dm_filter_out out = { .buf = reply, .room = len };
	int r;

	lockdep_assert_held(&dm_filter_lock);
	if (!len)
		return -EINVAL;
	a = dmf_attachment_find(f->dev, type);
	if (!a || a->filter.bdev != f->bdev || &a->filter == f)
		return -ENXIO;
	if (!a->filter.type->message)
		return -EINVAL;
	r = a->filter.type->message(&a->filter, argc, argv, &out);
	reply[min(out.used, len - 1)] = '\0';
	return r;
}
EXPORT_SYMBOL_GPL(dm_filter_peer_message);

int dmf_attachments_init(void)
{
	dmf_removal_wq = alloc_workqueue("dmf_removal", WQ_MEM_RECLAIM, 0);
	return dmf_removal_wq ? 0 : -ENOMEM;
}

void dmf_attachments_exit(void)
{
	if (dmf_block_interface_registered)
		class_interface_unregister(&dmf_block_interface);
	destroy_workqueue(dmf_removal_wq);	/* waits for removals still being dropped */
}
