/* CMicroHTTPDShim.c: libmicrohttpd glue (placeholder, the HTTP layer work fills it in). */
#include "CMicroHTTPDShim.h"
int cmhd_shim_version_ok(void) { return MHD_VERSION >= 0x00097500; }
