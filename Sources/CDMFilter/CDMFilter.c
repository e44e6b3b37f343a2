/* CDMFilter.c: the dm ioctl command numbers and the ABI's C layout, computed by the C compiler for Swift. */
#include <string.h>
#include "CDMFilter.h"

unsigned long cdmf_ioctl_dev_filter(void) { return DM_DEV_FILTER; }
unsigned long cdmf_ioctl_version(void) { return DM_VERSION; }
unsigned long cdmf_ioctl_list_versions(void) { return DM_LIST_VERSIONS; }

#define FIELD(t, f) { #t, #f, offsetof(struct t, f), sizeof(((struct t *)0)->f) }

static const struct cdmf_field_layout layout[] = {
	FIELD(dm_ioctl, version), FIELD(dm_ioctl, data_size), FIELD(dm_ioctl, data_start),
	FIELD(dm_ioctl, target_count), FIELD(dm_ioctl, open_count), FIELD(dm_ioctl, flags),
	FIELD(dm_ioctl, event_nr), FIELD(dm_ioctl, dev), FIELD(dm_ioctl, name), FIELD(dm_ioctl, uuid),
	FIELD(dm_filter_msg, magic), FIELD(dm_filter_msg, abi_version), FIELD(dm_filter_msg, op),
	FIELD(dm_filter_msg, flags), FIELD(dm_filter_msg, dev), FIELD(dm_filter_msg, type),
	FIELD(dm_filter_msg, text_len), FIELD(dm_filter_msg, reserved),
	FIELD(dm_filter_reply, magic), FIELD(dm_filter_reply, abi_version), FIELD(dm_filter_reply, op),
	FIELD(dm_filter_reply, count), FIELD(dm_filter_reply, data_len), FIELD(dm_filter_reply, flags),
	FIELD(dm_filter_type_info, name), FIELD(dm_filter_type_info, version),
	FIELD(dm_filter_type_info, attachments),
	FIELD(dm_filter_attachment_info, dev), FIELD(dm_filter_attachment_info, type),
	FIELD(dm_filter_attachment_info, attached_ns), FIELD(dm_filter_attachment_info, flags),
	FIELD(dm_filter_attachment_info, reserved),
	FIELD(dm_filter_status, attachment),
	FIELD(dm_filter_status, status_len), FIELD(dm_filter_status, reserved),
};

const struct cdmf_field_layout *cdmf_abi_layout(size_t *count)
{
	*count = sizeof(layout) / sizeof(layout[0]);
	return layout;
}

size_t cdmf_abi_sizeof(const char *type)
{
	static const struct { const char *name; size_t size; } sizes[] = {
		{ "dm_ioctl", sizeof(struct dm_ioctl) },
		{ "dm_filter_msg", sizeof(struct dm_filter_msg) },
		{ "dm_filter_reply", sizeof(struct dm_filter_reply) },
		{ "dm_filter_type_info", sizeof(struct dm_filter_type_info) },
		{ "dm_filter_attachment_info", sizeof(struct dm_filter_attachment_info) },
		{ "dm_filter_status", sizeof(struct dm_filter_status) },
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (strcmp(sizes[i].name, type) == 0)
			return sizes[i].size;
	return 0;
}
