/* CDMFilter.h: exposes the project's one dm filter ABI header, and the ioctl numbers Swift cannot import. */
#ifndef CDMFILTER_H
#define CDMFILTER_H

#include <stddef.h>
#include <sys/ioctl.h>
#include "../../../kernel/include/uapi/linux/dm-filter.h"

/* _IOWR() expressions are not imported by Swift; these return the command numbers. */
unsigned long cdmf_ioctl_dev_filter(void);
unsigned long cdmf_ioctl_version(void);
unsigned long cdmf_ioctl_list_versions(void);

/* One struct member as the C compiler lays it out; the engine's tests compare Swift's view to it. */
struct cdmf_field_layout {
	const char *type;
	const char *field;
	size_t offset;
	size_t size;
};

/* The C compiler's layout of every ABI member; *count receives the number of entries. */
const struct cdmf_field_layout *cdmf_abi_layout(size_t *count);
/* sizeof() of an ABI struct by name ("dm_ioctl", "dm_filter_msg", ...); 0 for an unknown name. */
size_t cdmf_abi_sizeof(const char *type);

#endif
