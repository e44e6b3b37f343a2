// SPDX-License-Identifier: GPL-2.0
/*
 * dm-filter-registry.c - the registry of device filter types, modelled on dm_register_target.
 */
#include <linux/device-mapper.h>
#include <linux/string.h>
#include "dm-filter-internal.h"

#define DM_MSG_PREFIX "filter"

DEFINE_MUTEX(dm_filter_lock);
static LIST_HEAD(dmf_type_list);

static struct dm_filter_type *dmf_type_find(const char *name)
{
	struct dm_filter_type *type;

	list_for_each_entry(type, &dmf_type_list, list)
		if (!strcmp(type->name, name))
			return type;
	return NULL;
}

int dm_filter_register_type(struct dm_filter_type *type)
{
	int r = 0;

	if (!type->name || strlen(type->name) >= DM_FILTER_NAME_LEN ||
	    !type->attach || !type->detach || !type->submit_bio || !type->status)
		return -EINVAL;

	mutex_lock(&dm_filter_lock);
	if (dmf_type_find(type->name)) {
		DMERR("%s: filter type already registered", type->name);
		r = -EEXIST;
	} else {
		type->attachments = 0;
		list_add_tail(&type->list, &dmf_type_list);
	}
	mutex_unlock(&dm_filter_lock);
	return r;
}
EXPORT_SYMBOL_GPL(dm_filter_register_type);

void dm_filter_unregister_type(struct dm_filter_type *type)
{
	mutex_lock(&dm_filter_lock);
	list_del(&type->list);
	mutex_unlock(&dm_filter_lock);
}
EXPORT_SYMBOL_GPL(dm_filter_unregister_type);

/* Called with dm_filter_lock held; pins the type's module. */
struct dm_filter_type *dmf_type_get(const char *name)
{
	struct dm_filter_type *type = dmf_type_find(name);

	if (!type || !try_module_get(type->module))
		return NULL;
	return type;
}

void dmf_type_put(struct dm_filter_type *type)
{
	module_put(type->module);
}

struct list_head *dmf_types(void)
{
	return &dmf_type_list;
}
