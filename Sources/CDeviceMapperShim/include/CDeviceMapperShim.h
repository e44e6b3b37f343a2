/* CDeviceMapperShim.h: C helpers for libdevmapper calls Swift cannot make directly. */
#ifndef CDEVICEMAPPERSHIM_H
#define CDEVICEMAPPERSHIM_H
#include <libdevmapper.h>
/* Routes libdevmapper's variadic log callback into a buffer the engine can read back. */
void cdm_shim_init_logging(void);
#endif
