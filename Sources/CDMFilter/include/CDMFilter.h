/* CDMFilter.h: exposes the project's one dm filter ABI header, and the ioctl numbers Swift cannot import. */
#ifndef CDMFILTER_H
#define CDMFILTER_H

#include <sys/ioctl.h>
#include "../../../kernel/include/uapi/linux/dm-filter.h"

/* _IOWR() expressions are not imported by Swift; these return the command numbers. */
unsigned long cdmf_ioctl_dev_filter(void);
unsigned long cdmf_ioctl_version(void);
unsigned long cdmf_ioctl_list_versions(void);

#endif
