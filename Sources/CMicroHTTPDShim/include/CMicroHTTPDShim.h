/* CMicroHTTPDShim.h: C helpers for libmicrohttpd calls Swift cannot make directly (variadic ones). */
#ifndef CMICROHTTPDSHIM_H
#define CMICROHTTPDSHIM_H
#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdarg.h>
#include <microhttpd.h>
int cmhd_shim_version_ok(void);
#endif
