/* CDMFilter.c: the dm ioctl command numbers, computed by the C preprocessor for Swift. */
#include "CDMFilter.h"

unsigned long cdmf_ioctl_dev_filter(void) { return DM_DEV_FILTER; }
unsigned long cdmf_ioctl_version(void) { return DM_VERSION; }
unsigned long cdmf_ioctl_list_versions(void) { return DM_LIST_VERSIONS; }
