/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-filter-ctl.h - the two entry points dm-ioctl.c calls: the DM_DEV_FILTER command and the core's life cycle.
 */
#ifndef DM_FILTER_CTL_H
#define DM_FILTER_CTL_H

#include <linux/fs.h>
#include <linux/dm-filter.h>

int dm_filter_ctl(struct file *filp, struct dm_ioctl *param, size_t param_size);
int dm_filter_init(void);
void dm_filter_exit(void);

#endif /* DM_FILTER_CTL_H */
