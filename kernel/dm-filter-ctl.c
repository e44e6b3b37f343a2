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

/* A decoded request and the sink its answer goes to. */
struct dmf_request {
	struct dm_filter_msg msg;
	dev_t dev;		/* 0 when msg.dev cannot be a device number */
	char *text;		/* a copy of the request text, or NULL */
	struct dm_filter_out out;	/* the data after the reply header */
};

/* What an operation needs from the request; checked before it runs. */
#define DMF_NEEDS_TYPE	(1U << 0)	/* a filter type name */
#define DMF_NEEDS_DEV	(1U << 1)	/* a device number (else -ENODEV) */
#define DMF_NEEDS_TEXT	(1U << 2)	/* text (message, query words) */

/* Replies above dm-ioctl's own limit for a buffer could never be fetched. */
#define DMF_REPLY_MAX	(1U << 30)

static void dmf_out_write(struct dm_filter_out *out, const void *data, size_t len)
{
	if (out->used <= out->room && len <= out->room - out->used)
		memcpy(out->buf + out->used, data, len);
	out->used += len;
}

void dm_filter_out_record(struct dm_filter_out *out, const void *rec, size_t len)
{
	dmf_out_write(out, rec, len);
	out->count++;
}
EXPORT_SYMBOL_GPL(dm_filter_out_record);

void dm_filter_out_printf(struct dm_filter_out *out, const char *fmt, ...)
{
	size_t left = out->used < out->room ? out->room - out->used : 0;
	va_list args;

	/* what does not fit is measured: vsnprintf returns the length it wanted */
	va_start(args, fmt);
	out->used += vsnprintf(left ? out->buf + out->used : NULL, left, fmt, args);
	va_end(args);
}
EXPORT_SYMBOL_GPL(dm_filter_out_printf);

/* Ends a reply text: the NUL callers count in status_len and data_len. */
static void dmf_out_end_text(struct dm_filter_out *out)
{
	dmf_out_write(out, "", 1);
}

static void dmf_attachment_info(struct dmf_attachment *a, struct dm_filter_attachment_info *info)
{
	memset(info, 0, sizeof(*info));
	info->dev = huge_encode_dev(a->filter.dev);
	strscpy(info->type, a->filter.type->name, sizeof(info->type));
	info->attached_ns = a->attached_ns;
}

static int dmf_list_types(struct dmf_request *req)
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
		dm_filter_out_record(&req->out, &info, sizeof(info));
	}
	mutex_unlock(&dm_filter_lock);
	return 0;
}

static int dmf_list(struct dmf_request *req)
{
	struct dm_filter_attachment_info info;
	struct dmf_attachment *a;

	mutex_lock(&dm_filter_lock);
	dmf_reap_dead_devices();
	list_for_each_entry(a, &dmf_attachments, all_entry) {
		dmf_attachment_info(a, &info);
		dm_filter_out_record(&req->out, &info, sizeof(info));
	}
	mutex_unlock(&dm_filter_lock);
	return 0;
}

static int dmf_op_attach(struct dmf_request *req)
{
	return dmf_attach(req->dev, req->msg.type, req->text);
}

static int dmf_op_detach(struct dmf_request *req)
{
	int r;

	mutex_lock(&dm_filter_lock);
	r = dmf_detach(req->dev, req->msg.type);
	mutex_unlock(&dm_filter_lock);
	return r;
}

/* Called with dm_filter_lock held. */
static struct dmf_attachment *dmf_request_attachment(struct dmf_request *req)
{
	dmf_reap_dead_devices();
	return dmf_attachment_find(req->dev, req->msg.type);
}

static int dmf_status(struct dmf_request *req)
{
	struct dm_filter_out *out = &req->out;
	struct dm_filter_status st;
	struct dmf_attachment *a;
	size_t text;
	int r = 0;

	mutex_lock(&dm_filter_lock);
	a = dmf_request_attachment(req);
	if (!a) {
		r = -ENXIO;
		goto out;
	}
	memset(&st, 0, sizeof(st));
	dmf_attachment_info(a, &st.attachment);
	dmf_out_write(out, &st, sizeof(st));	/* status_len is known only after the text */
	text = out->used;
	a->filter.type->status(&a->filter, out);
	dmf_out_end_text(out);
	st.status_len = out->used - text;
	if (out->used <= out->room)
		memcpy(out->buf, &st, sizeof(st));
	out->count = 1;
out:
	mutex_unlock(&dm_filter_lock);
	return r;
}

/*
 * MESSAGE and QUERY: the request text split into words and handed to the type's op.
 * Called with dm_filter_lock held.
 */
static int dmf_words(struct dmf_request *req, struct dmf_attachment *a, const char *what,
		     int (*fn)(struct dm_filter *f, unsigned int argc, char **argv,
			       struct dm_filter_out *out))
{
	const char *type_name = req->msg.type;
	dev_t dev = req->dev;
	char **argv = NULL;
	int argc, r;

	if (!fn) {
		DMERR("%s: %s to %u:%u: this filter type takes no %s", type_name, what,
		      MAJOR(dev), MINOR(dev), what);
		return -EINVAL;
	}
	r = dm_split_args(&argc, &argv, req->text);
	if (r)
		return r;
	if (!argc) {
		DMERR("%s: %s to %u:%u: no words", type_name, what, MAJOR(dev), MINOR(dev));
		r = -EINVAL;
	} else {
		a->filter.error = NULL;
		r = fn(&a->filter, argc, argv, &req->out);
		if (r)
			DMERR("%s: %s '%s' to %u:%u: %s", type_name, what, argv[0],
			      MAJOR(dev), MINOR(dev), a->filter.error ?: "refused");
	}
	kfree(argv);
	return r;
}

static int dmf_message(struct dmf_request *req)
{
	struct dmf_attachment *a;
	int r = -ENXIO;

	mutex_lock(&dm_filter_lock);
	a = dmf_request_attachment(req);
	if (a)
		r = dmf_words(req, a, "message", a->filter.type->message);
	if (!r) {
		dmf_out_end_text(&req->out);
		req->out.count = 1;
	}
	mutex_unlock(&dm_filter_lock);
	return r;
}

static int dmf_query(struct dmf_request *req)
{
	struct dmf_attachment *a;
	int r = -ENXIO;

	mutex_lock(&dm_filter_lock);
	a = dmf_request_attachment(req);
	if (a)
		r = dmf_words(req, a, "query", a->filter.type->query);
	mutex_unlock(&dm_filter_lock);
	return r;
}

/* Indexed by enum dm_filter_op, as dm-ioctl's _ioctls[] is by command. */
static const struct {
	int (*fn)(struct dmf_request *req);
	unsigned int flags;
} dmf_ops[DM_FILTER_OP_COUNT] = {
	[DM_FILTER_OP_LIST_TYPES] = { dmf_list_types, 0 },
	[DM_FILTER_OP_ATTACH]	= { dmf_op_attach, DMF_NEEDS_TYPE | DMF_NEEDS_DEV },
	[DM_FILTER_OP_DETACH]	= { dmf_op_detach, DMF_NEEDS_TYPE | DMF_NEEDS_DEV },
	[DM_FILTER_OP_LIST]	= { dmf_list, 0 },
	[DM_FILTER_OP_STATUS]	= { dmf_status, DMF_NEEDS_TYPE | DMF_NEEDS_DEV },
	[DM_FILTER_OP_MESSAGE]	= { dmf_message, DMF_NEEDS_TYPE | DMF_NEEDS_DEV | DMF_NEEDS_TEXT },
	[DM_FILTER_OP_QUERY]	= { dmf_query, DMF_NEEDS_TYPE | DMF_NEEDS_DEV | DMF_NEEDS_TEXT },
};

/* Checks everything in the request that does not depend on the operation's target. */
static int dmf_check_msg(const struct dm_filter_msg *msg, size_t text_room)
{
	unsigned int needs;

	if (msg->magic != DM_FILTER_MAGIC) {
		DMERR("bad filter message magic 0x%x", msg->magic);
		return -EINVAL;
	}
	if (msg->abi_version != DM_FILTER_ABI_VERSION) {
		DMERR("filter ABI version %u requested, this dm-mod speaks %u",
		      msg->abi_version, DM_FILTER_ABI_VERSION);
		return -EINVAL;
	}
	if (msg->op >= DM_FILTER_OP_COUNT || !dmf_ops[msg->op].fn) {
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
	needs = dmf_ops[msg->op].flags;
	if (needs & DMF_NEEDS_TYPE && !msg->type[0]) {
		DMERR("filter operation %u needs a filter type name", msg->op);
		return -EINVAL;
	}
	if (needs & DMF_NEEDS_TEXT && !msg->text_len) {
		DMERR("filter operation %u needs text", msg->op);
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

/*
 * Writes the reply header. An answer larger than the room leaves only the header, with
 * DM_BUFFER_FULL_FLAG and data_len the size needed, for the caller's retry.
 */
static int dmf_reply_finish(struct dm_ioctl *param, size_t start, struct dmf_request *req)
{
	struct dm_filter_out *out = &req->out;
	struct dm_filter_reply hdr = {
		.magic = DM_FILTER_MAGIC,
		.abi_version = DM_FILTER_ABI_VERSION,
		.op = req->msg.op,
		.count = out->count,
		.data_len = out->used,
	};

	if (out->used > DMF_REPLY_MAX) {
		DMERR("filter operation %u: reply of %zu bytes exceeds %u", req->msg.op,
		      out->used, DMF_REPLY_MAX);
		return -EOVERFLOW;
	}
	if (out->used > out->room) {
		param->flags |= DM_BUFFER_FULL_FLAG;
		hdr.count = 0;
		out->used = 0;
	}
	memcpy((void *)param + start, &hdr, sizeof(hdr));
	param->data_size = start + sizeof(hdr) + out->used;
	return 0;
}

int dm_filter_ctl(struct file *filp, struct dm_ioctl *param, size_t param_size)
{
	struct dmf_request req = { };
	size_t start = param->data_start;
	int r;

	if (param->name[0] || param->uuid[0]) {
		DMERR("filter command takes no device name or uuid");
		return -EINVAL;
	}
	if (start < sizeof(struct dm_ioctl) || start > param_size ||
	    param_size - start < sizeof(req.msg)) {
		DMERR("filter message outside the ioctl buffer (data_start %zu, size %zu)",
		      start, param_size);
		return -EINVAL;
	}
	memcpy(&req.msg, (void *)param + start, sizeof(req.msg));
	r = dmf_check_msg(&req.msg, param_size - start - sizeof(req.msg));
	if (r)
		return r;

	/* dev_t has 32 bits: a larger number names no device */
	req.dev = req.msg.dev >> 32 ? 0 : new_decode_dev((u32)req.msg.dev);
	if (dmf_ops[req.msg.op].flags & DMF_NEEDS_DEV && !req.dev)
		return -ENODEV;

	req.text = dmf_copy_text((char *)param + start + sizeof(req.msg), req.msg.text_len);
	if (IS_ERR(req.text))
		return PTR_ERR(req.text);
	req.out.buf = (char *)param + start + sizeof(struct dm_filter_reply);
	req.out.room = param_size - start - sizeof(struct dm_filter_reply);

	r = dmf_ops[req.msg.op].fn(&req);
	kfree(req.text);
	if (!r)
		r = dmf_reply_finish(param, start, &req);
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
