/* CDeviceMapperShim.h: C helpers for libdevmapper calls Swift cannot make directly. */
#ifndef CDEVICEMAPPERSHIM_H
#define CDEVICEMAPPERSHIM_H
#include <stddef.h>
#include <libdevmapper.h>

/*
 * Routes libdevmapper's variadic log callback into a buffer instead of stderr. Callers hold the
 * engine's libdevmapper lock, so one buffer is enough.
 */
void cdm_shim_init_logging(void);
/* Empties the captured messages (call before a libdevmapper call whose errors you want). */
void cdm_shim_clear_log(void);
/* The error-level messages captured since the last clear, newline-separated; "" when none. */
const char *cdm_shim_captured_errors(void);
#endif
