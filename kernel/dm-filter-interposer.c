// SPDX-License-Identifier: GPL-2.0
/*
 * dm-filter-interposer.c - routes bios of filtered block devices through their filter chain (ftrace on submit_bio_noacct).
 *
 * Neither 6.1 nor 6.12 has a bio interposer, so the entry of submit_bio_noacct() is hooked with
 * an IPMODIFY ftrace handler. The handler looks a bio's bdev up in an RCU hash. When all
 * of the device's filters are atomic it runs the chain right there and lets the call go
 * on (or, for a skipped bio, return at once). Otherwise it sends the call to
 * dmf_filter_submit(), which runs the chain where it may sleep and re-calls
 * submit_bio_noacct() from dm_filter_submit_bio(), whose call site the handler
 * recognises, so the bio goes on to the device. Bios submitted while
 * current->bio_list is set (a stacked driver such as dm remapping, or blk-mq splitting a
 * bio already seen) are not filtered: a filter sees what is submitted to its device from
 * above, once.
 */
#include <linux/device-mapper.h>
#include <linux/ftrace.h>
#include <linux/hash.h>
#include <linux/sched.h>
#include <linux/srcu.h>
#include "dm-filter-internal.h"

#define DM_MSG_PREFIX "filter"

/*
 * Return addresses inside dm_filter_submit_bio() lie within this many bytes of its
 * start: it is a call and a return.
 */
#define DMF_RESUBMIT_SPAN 64

static DEFINE_HASHTABLE(dmf_devices, 7);
static unsigned int dmf_nr_devices;
static bool dmf_hooked;

/* Readers: every task inside dmf_filter_submit(). Detach and unload wait for them. */
DEFINE_STATIC_SRCU(dmf_srcu);

/* Called under RCU or dmf_srcu. */
struct dmf_device *dmf_device_lookup(struct block_device *bdev)
{
	struct dmf_device *d;

	hash_for_each_possible_rcu_notrace(dmf_devices, d, hash_entry, (unsigned long)bdev)
		if (d->bdev == bdev)
			return d;
	return NULL;
}

/* Called with dm_filter_lock held. */
void dmf_device_publish(struct dmf_device *d)
{
	hash_add_rcu(dmf_devices, &d->hash_entry, (unsigned long)d->bdev);
	WRITE_ONCE(dmf_nr_devices, dmf_nr_devices + 1);
}

/* Called with dm_filter_lock held; free d only after dmf_drain() and an RCU grace period. */
void dmf_device_unpublish(struct dmf_device *d)
{
	hash_del_rcu(&d->hash_entry);
	WRITE_ONCE(dmf_nr_devices, dmf_nr_devices - 1);
}

/* Waits until no task still runs a filter chain it entered before the call. */
void dmf_drain(void)
{
	synchronize_srcu(&dmf_srcu);
}

/*
 * For a type that changes where bios go (mirror's cutover): once it returns, every bio that
 * entered a sleeping filter chain before the call has been handed to its device's
 * submit_bio, so the device's own queue or accounting sees it.
 */
void dm_filter_wait_submitters(void)
{
	dmf_drain();
}
EXPORT_SYMBOL_GPL(dm_filter_wait_submitters);

/*
 * Sends an already filtered bio on to its device. The asm after the call keeps the
 * compiler from turning it into a tail call, which would hide this function from the
 * handler's caller check and filter the bio again, for ever.
 */
noinline notrace void dm_filter_submit_bio(struct bio *bio)
{
	submit_bio_noacct(bio);
	asm volatile("" ::: "memory");
}
EXPORT_SYMBOL_GPL(dm_filter_submit_bio);

/*
 * Runs the filters of d after `after` (all of them when NULL). Called under RCU (in the
 * hook) or dmf_srcu (redirected, or a held bio handed on).
 */
static enum dm_filter_verdict dmf_run(struct dmf_device *d, struct dmf_attachment *after,
				      struct bio *bio, bool in_hook)
{
	struct dmf_attachment *a, *before;
	enum dm_filter_verdict v;
	bool started = !after;

	list_for_each_entry_rcu(a, &d->chain, device_entry, true) {
		if (!started) {
			started = a == after;
			continue;
		}
		/* in the hook a sleeping filter is there only because its ->passes said so */
		if (in_hook && !(a->filter.type->features & DM_FILTER_TYPE_ATOMIC))
			continue;
		v = a->filter.type->submit_bio(&a->filter, bio);
		if (v == DM_FILTER_PASS)
			continue;
		if (v == DM_FILTER_HOLD)
			return v;	/* it goes on later: nobody skipped it */
		/* the bio is no longer ours to touch: tell the filters that passed it */
		list_for_each_entry_rcu(before, &d->chain, device_entry, true) {
			if (before == a)
				break;
			if (before->filter.type->bio_skipped)
				before->filter.type->bio_skipped(&before->filter);
		}
		return DM_FILTER_SKIP;
	}
	/* `after` left the chain: what followed it can no longer be told apart */
	return DM_FILTER_PASS;
}

enum dm_filter_verdict dmf_run_chain_after(struct dmf_device *d, struct dmf_attachment *after,
					   struct bio *bio)
{
	return dmf_run(d, after, bio, false);
}

enum dm_filter_verdict dmf_run_chain(struct dmf_device *d, struct bio *bio)
{
	return dmf_run(d, NULL, bio, false);
}

/* Under RCU in the hook: whether every sleeping filter of d would pass bio untouched. */
static bool notrace dmf_sleepers_pass(struct dmf_device *d, struct bio *bio)
{
	struct dmf_attachment *a;

	list_for_each_entry_rcu(a, &d->chain, device_entry, true) {
		const struct dm_filter_type *type = a->filter.type;

		if (type->features & DM_FILTER_TYPE_ATOMIC)
			continue;
		if (!type->passes || !type->passes(&a->filter, bio))
			return false;
	}
	return true;
}

/*
 * Hands on a bio f held: the filters after f see it, then the device. When f has
 * already left the chain (its ->detach hands on what it still holds) the bio goes
 * straight to the device.
 */
void dm_filter_pass_on(struct dm_filter *f, struct bio *bio)
{
	struct dmf_attachment *self = container_of(f, struct dmf_attachment, filter);
	int idx = srcu_read_lock(&dmf_srcu);
	struct dmf_device *d = dmf_device_lookup(bio->bi_bdev);

	if (!d || dmf_run_chain_after(d, self, bio) == DM_FILTER_PASS)
		dm_filter_submit_bio(bio);
	srcu_read_unlock(&dmf_srcu, idx);
}
EXPORT_SYMBOL_GPL(dm_filter_pass_on);

/* Runs instead of submit_bio_noacct() for bios of devices with a filter that may sleep. */
static void notrace dmf_filter_submit(struct bio *bio)
{
	int idx = srcu_read_lock(&dmf_srcu);
	struct dmf_device *d = dmf_device_lookup(bio->bi_bdev);

	/* d is gone if the last filter was detached since the hook looked */
	if (!d || dmf_run_chain(d, bio) == DM_FILTER_PASS)
		dm_filter_submit_bio(bio);
	srcu_read_unlock(&dmf_srcu, idx);
}

/* Runs instead of submit_bio_noacct() for a bio an atomic filter skipped in the hook. */
static void notrace dmf_bio_taken(struct bio *bio)
{
}

static void notrace dmf_ftrace_handler(unsigned long ip, unsigned long parent_ip,
				       struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct dmf_device *d;
	struct bio *bio;

	if (!READ_ONCE(dmf_nr_devices) || current->bio_list)
		return;
	if (parent_ip - (unsigned long)dm_filter_submit_bio < DMF_RESUBMIT_SPAN)
		return;

	bio = dmf_ftrace_first_argument(fregs);
	rcu_read_lock();
	d = dmf_device_lookup(bio->bi_bdev);
	if (d && !READ_ONCE(d->atomic) && !dmf_sleepers_pass(d, bio))
		dmf_ftrace_set_ip(fregs, (unsigned long)dmf_filter_submit);
	else if (d && dmf_run(d, NULL, bio, true) != DM_FILTER_PASS)
		dmf_ftrace_set_ip(fregs, (unsigned long)dmf_bio_taken);
	rcu_read_unlock();
}

/*
 * PERMANENT, as livepatch's: while we are hooked, "sysctl kernel.ftrace_enabled=0" is
 * refused (EBUSY) instead of silently switching every filter off under its attachments.
 */
static struct ftrace_ops dmf_ftrace_ops = {
	.func = dmf_ftrace_handler,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_RECURSION |
		 FTRACE_OPS_FL_PERMANENT,
};

/*
 * Hooks submit_bio_noacct on the first attach and keeps the hook until dm-mod unloads:
 * registering patches kernel text and unregistering waits for an RCU-tasks grace period,
 * too slow to repeat on every attach/detach, while the idle hook costs one load per bio.
 * Called with dm_filter_lock held.
 */
int dmf_hook_enable(void)
{
	unsigned long ip = (unsigned long)submit_bio_noacct;
	int r;

	if (dmf_hooked)
		return 0;

	r = ftrace_set_filter_ip(&dmf_ftrace_ops, ip, 0, 0);
	if (r) {
		DMERR("cannot trace submit_bio_noacct: %d", r);
		return r == -ENOMEM ? r : -EBUSY;
	}
	r = register_ftrace_function(&dmf_ftrace_ops);
	if (r) {
		/* ftrace_enabled is not exported: the two causes of -EBUSY look alike here */
		DMERR("cannot hook submit_bio_noacct (%d): another IPMODIFY ftrace user (livepatch, a backup agent's bio filter) owns it, or ftrace is disabled (sysctl kernel.ftrace_enabled=0)",
		      r);
		ftrace_set_filter_ip(&dmf_ftrace_ops, ip, 1, 0);
		return r == -ENOMEM ? r : -EBUSY;
	}
	dmf_hooked = true;
	return 0;
}

/* Module exit: no attachments are left, but tasks may still be inside the handler or the chain. */
void dmf_hook_exit(void)
{
	if (!dmf_hooked)
		return;
	unregister_ftrace_function(&dmf_ftrace_ops);
	ftrace_set_filter_ip(&dmf_ftrace_ops, (unsigned long)submit_bio_noacct, 1, 0);
	dmf_hooked = false;
	synchronize_srcu(&dmf_srcu);
	/* a task past srcu_read_unlock() may still be returning through our text */
	synchronize_rcu_tasks();
}
