/* CDeviceMapperShim.c: captures libdevmapper's variadic log messages so the engine can report them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "CDeviceMapperShim.h"

/* libdevmapper's log levels: 3 is _LOG_ERR; higher numbers are warnings, notices, debug. */
#define CDM_LOG_ERR 3

static char captured[4096];
static size_t captured_len;

static void capture(int level, const char *file, int line, int dm_errno_or_class, const char *f, ...)
{
	va_list ap;
	int n;

	(void)file;
	(void)line;
	(void)dm_errno_or_class;
	if ((level & 0x7) > CDM_LOG_ERR || captured_len + 2 >= sizeof(captured))
		return;
	if (captured_len)
		captured[captured_len++] = '\n';
	va_start(ap, f);
	n = vsnprintf(captured + captured_len, sizeof(captured) - captured_len, f, ap);
	va_end(ap);
	if (n > 0)
		captured_len += (size_t)n < sizeof(captured) - captured_len ? (size_t)n : sizeof(captured) - captured_len - 1;
	captured[captured_len] = '\0';
}

void cdm_shim_init_logging(void)
{
	dm_log_with_errno_init(capture);
}

void cdm_shim_clear_log(void)
{
	captured_len = 0;
	captured[0] = '\0';
}

const char *cdm_shim_captured_errors(void)
{
	return captured;
}
