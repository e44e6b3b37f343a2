// SPDX-License-Identifier: GPL-2.0
/*
 * dm-filter-ctl.c - the DM_DEV_FILTER command: checks the request message and writes the reply in the dm ioctl buffer.
 */
#include <linux/device-mapper.h>
#include <linux/kdev_t.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "dm-filter-ctl.h"
#include "dm-filter-internal.h"
#include "dm.h"

#define DM_MSG_PREFIX "filter"

/* The reply under construction; records that do not fit are only measured. */
struct dmf_reply {
	struct dm_ioctl *param;
	size_t start;		/* data_start: header goes here */
	size_t room;		/* bytes available after the header */
	size_t used;		/* bytes the records need */
	u32 count;
	u32 flags;
};

static void dmf_reply_add(struct dmf_reply *rep, const void *rec, size_t len)
{
	if (rep->used + len <= rep->room)
		memcpy((void *)rep->param + rep->start + sizeof(struct dm_filter_reply) + rep->used,
		       rec, len);
	rep->used += len;
}

static void dmf_reply_finish(struct dmf_reply *rep, u32 op)
{
	struct dm_filter_reply hdr = {
		.magic = DM_FILTER_MAGIC,
		.abi_version = DM_FILTER_ABI_VERSION,
		.op = op,
		.count = rep->count,
		.data_len = rep->used,
		.flags = rep->flags,
	};

	if (rep->used > rep->room) {
		rep->param->flags |= DM_BUFFER_FULL_FLAG;
		hdr.count = 0;
		rep->used = 0;
	}
	memcpy((void *)rep->param + rep->start, &hdr, sizeof(hdr));
	rep->param->data_size = rep->start + sizeof(hdr) + rep->used;
}

static void dmf_attachment_info(struct dmf_attachment *a, struct dm_filter_attachment_info *info)
{
	memset(info, 0, sizeof(*info));
	info->dev = huge_encode_dev(a->filter.dev);
	strscpy(info->type, a->filter.type->name, sizeof(info->type));
	info->attached_ns = a->attached_ns;
}

static void dmf_list_types(struct dmf_reply *rep)
{
	struct dm_filter_type_info info;
	struct dm_filter_type *type;

	mutex_lock(&dm_filter_lock);
	dmf_reap_dead_devices();
	list_for_each_entry(type, dmf_types(), list) {
		memset(&info, 0, sizeof(info));
		strscpy(info.name, type->name, sizeof(info.name));
		memcpy(info.version, type->version, sizeof(info.version));
		info.attachments = type->attachments;
		dmf_reply_add(rep, &info, sizeof(info));
		rep->count++;
	}
	mutex_unlock(&dm_filter_lock);
}

static void dmf_list(struct dmf_reply *rep)
{
	struct dm_filter_attachment_info info;
	struct dmf_attachment *a;

	mutex_lock(&dm_filter_lock);
	dmf_reap_dead_devices();
	list_for_each_entry(a, &dmf_attachments, all_entry) {
		dmf_attachment_info(a, &info);
		dmf_reply_add(rep, &info, sizeof(info));
		rep->count++;
	}
	mutex_unlock(&dm_filter_lock);
}

static int dmf_status(struct dmf_reply *rep, dev_t dev, const char *type_name)
{
	struct dm_filter_status st;
	struct dmf_attachment *a;
	char *text;
	int r = 0;

	text = kzalloc(DM_FILTER_TEXT_MAX, GFP_KERNEL);
	if (!text)
		return -ENOMEM;
	mutex_lock(&dm_filter_lock);
	dmf_reap_dead_devices();
	a = dmf_attachment_find(dev, type_name);
	if (!a) {
		r = -ENXIO;
		goto out;
	}
	memset(&st, 0, sizeof(st));
	dmf_attachment_info(a, &st.attachment);
	if (a->filter.type->counters) {
		a->filter.type->counters(&a->filter, &st.counters);
		rep->flags |= DM_FILTER_REPLY_COUNTERS;
	}
	a->filter.type->status(&a->filter, text, DM_FILTER_TEXT_MAX);
	text[DM_FILTER_TEXT_MAX - 1] = '\0';
	st.status_len = strlen(text) + 1;
	dmf_reply_add(rep, &st, sizeof(st));
	dmf_reply_add(rep, text, st.status_len);
	rep->count = 1;
out:
	mutex_unlock(&dm_filter_lock);
	kfree(text);
	return r;
}

static int dmf_message(struct dmf_reply *rep, dev_t dev, const char *type_name, char *words)
{
	struct dmf_attachment *a;
	char **argv = NULL;
	char *result;
	int argc, r;

	result = kzalloc(DM_FILTER_TEXT_MAX, GFP_KERNEL);
	if (!result)
		return -ENOMEM;
	mutex_lock(&dm_filter_lock);
	dmf_reap_dead_devices();
	a = dmf_attachment_find(dev, type_name);
	if (!a) {
		r = -ENXIO;
		goto out;
	}
	r = dm_split_args(&argc, &argv, words);
	if (r)
		goto out;
	r = -EINVAL;
	if (!argc) {
		DMERR("%s: message to %u:%u: empty message", type_name, MAJOR(dev), MINOR(dev));
	} else if (!a->filter.type->message) {
		DMERR("%s: message to %u:%u: this filter type takes no messages",
		      type_name, MAJOR(dev), MINOR(dev));
	} else {
		a->filter.error = NULL;
		r = a->filter.type->message(&a->filter, argc, argv, result, DM_FILTER_TEXT_MAX);
		if (r)
			DMERR("%s: message '%s' to %u:%u: %s", type_name, argv[0],
			      MAJOR(dev), MINOR(dev), a->filter.error ?: "refused");
	}
	kfree(argv);
	if (!r) {
		result[DM_FILTER_TEXT_MAX - 1] = '\0';
		dmf_reply_add(rep, result, strlen(result) + 1);
		rep->count = 1;
	}
out:
	mutex_unlock(&dm_filter_lock);
	kfree(result);
	return r;
}

/* Checks everything in the request that does not depend on the operation's target. */
static int dmf_check_msg(const struct dm_filter_msg *msg, size_t text_room)
{
	if (msg->magic != DM_FILTER_MAGIC) {
		DMERR("bad filter message magic 0x%x", msg->magic);
		return -EINVAL;
	}
	if (msg->abi_version != DM_FILTER_ABI_VERSION) {
		DMERR("filter ABI version %u requested, this dm-mod speaks %u",
		      msg->abi_version, DM_FILTER_ABI_VERSION);
		return -EINVAL;
	}
	if (msg->op < DM_FILTER_OP_LIST_TYPES || msg->op > DM_FILTER_OP_MESSAGE) {
		DMERR("unknown filter operation %u", msg->op);
		return -EINVAL;
	}
	if (msg->flags || msg->reserved) {
		DMERR("filter message flags or reserved field set");
		return -EINVAL;
	}
	if (!memchr(msg->type, '\0', sizeof(msg->type))) {
		DMERR("filter type name not NUL-terminated");
		return -EINVAL;
	}
	if (msg->text_len > DM_FILTER_TEXT_MAX || msg->text_len > text_room) {
		DMERR("filter text of %u bytes does not fit (limit %u, buffer has %zu)",
		      msg->text_len, DM_FILTER_TEXT_MAX, text_room);
		return -EINVAL;
	}
	if (msg->op >= DM_FILTER_OP_ATTACH && msg->op != DM_FILTER_OP_LIST && !msg->type[0]) {
		DMERR("filter operation %u needs a filter type name", msg->op);
		return -EINVAL;
	}
	if (msg->op == DM_FILTER_OP_MESSAGE && !msg->text_len) {
		DMERR("filter message without text");
		return -EINVAL;
	}
	return 0;
}

/* Copies the text out of the buffer before the reply overwrites it. */
static char *dmf_copy_text(const char *src, u32 len)
{
	char *text;

	if (!len)
		return NULL;
	if (strnlen(src, len) != len - 1) {
		DMERR("filter text not a single NUL-terminated string");
		return ERR_PTR(-EINVAL);
	}
	text = kmemdup(src, len, GFP_KERNEL);
	return text ?: ERR_PTR(-ENOMEM);
}

int dm_filter_ctl(struct file *filp, struct dm_ioctl *param, size_t param_size)
{
	struct dmf_reply rep = { .param = param };
	struct dm_filter_msg msg;
	size_t start = param->data_start;
	char *text;
	dev_t dev;
	int r;

	if (param->name[0] || param->uuid[0]) {
		DMERR("filter command takes no device name or uuid");
		return -EINVAL;
	}
	if (start < sizeof(struct dm_ioctl) || start > param_size ||
	    param_size - start < sizeof(msg)) {
		DMERR("filter message outside the ioctl buffer (data_start %zu, size %zu)",
		      start, param_size);
		return -EINVAL;
	}
	memcpy(&msg, (void *)param + start, sizeof(msg));
	r = dmf_check_msg(&msg, param_size - start - sizeof(msg));
	if (r)
		return r;
	text = dmf_copy_text((char *)param + start + sizeof(msg), msg.text_len);
	if (IS_ERR(text))
		return PTR_ERR(text);

	/* dev_t has 32 bits: a larger number names no device */
	dev = msg.dev >> 32 ? 0 : new_decode_dev((u32)msg.dev);
	rep.start = start;
	rep.room = param_size - start - sizeof(struct dm_filter_reply);

	switch (msg.op) {
	case DM_FILTER_OP_LIST_TYPES:
		dmf_list_types(&rep);
		break;
	case DM_FILTER_OP_ATTACH:
		r = dev ? dmf_attach(dev, msg.type, text) : -ENODEV;
		break;
	case DM_FILTER_OP_DETACH:
		mutex_lock(&dm_filter_lock);
		r = dmf_detach(dev, msg.type);
		mutex_unlock(&dm_filter_lock);
		break;
	case DM_FILTER_OP_LIST:
		dmf_list(&rep);
		break;
	case DM_FILTER_OP_STATUS:
		r = dmf_status(&rep, dev, msg.type);
		break;
	case DM_FILTER_OP_MESSAGE:
		r = dmf_message(&rep, dev, msg.type, text);
		break;
	}
	kfree(text);
	if (!r)
		dmf_reply_finish(&rep, msg.op);
	return r;
}

int dm_filter_init(void)
{
	return dmf_attachments_init();
}

void dm_filter_exit(void)
{
	dmf_attachments_exit();
	dmf_hook_exit();
}
