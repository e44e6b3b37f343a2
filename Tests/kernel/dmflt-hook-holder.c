// SPDX-License-Identifier: GPL-2.0
/*
 * dmflt-hook-holder.c - test module: owns submit_bio_noacct with an IPMODIFY ftrace hook, as livepatch or a backup agent would.
 */
#include <linux/blkdev.h>
#include <linux/ftrace.h>
#include <linux/module.h>

static void notrace holder_handler(unsigned long ip, unsigned long parent_ip,
				   struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
}

static struct ftrace_ops holder_ops = {
	.func = holder_handler,
	.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_RECURSION,
};

static int __init holder_init(void)
{
	int r = ftrace_set_filter_ip(&holder_ops, (unsigned long)submit_bio_noacct, 0, 0);

	if (r)
		return r;
	r = register_ftrace_function(&holder_ops);
	if (r)
		ftrace_set_filter_ip(&holder_ops, (unsigned long)submit_bio_noacct, 1, 0);
	return r;
}

static void __exit holder_exit(void)
{
	unregister_ftrace_function(&holder_ops);
	ftrace_set_filter_ip(&holder_ops, (unsigned long)submit_bio_noacct, 1, 0);
}

module_init(holder_init);
module_exit(holder_exit);
MODULE_DESCRIPTION("dmflt test: a second IPMODIFY owner of submit_bio_noacct");
MODULE_LICENSE("GPL");
