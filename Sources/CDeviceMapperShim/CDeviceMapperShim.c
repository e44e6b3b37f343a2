/* CDeviceMapperShim.c: libdevmapper glue (placeholder, the engine work fills it in). */
#include "CDeviceMapperShim.h"
void cdm_shim_init_logging(void) {}
