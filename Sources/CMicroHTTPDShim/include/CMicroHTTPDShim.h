/* CMicroHTTPDShim.h: C helpers for libmicrohttpd calls Swift cannot make directly (variadic ones). */
#ifndef CMICROHTTPDSHIM_H
#define CMICROHTTPDSHIM_H
#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdarg.h>
#include <microhttpd.h>
#include "CMicroHTTPDCertificates.h"

/* A libmicrohttpd diagnostic, already formatted (Swift cannot take a va_list callback). */
typedef void (*cmhd_log_fn)(void *cls, const char *message);

/* Everything MHD_start_daemon needs; turned into an MHD_OptionItem array by cmhd_start. */
struct cmhd_config {
	unsigned int flags;
	const struct sockaddr *address; /* sockaddr_in or sockaddr_in6; its port is the one bound */
	unsigned int thread_pool_size;
	unsigned int connection_limit;
	unsigned int per_ip_connection_limit; /* 0: none */
	unsigned int connection_timeout_seconds;
	size_t connection_memory_limit;
	unsigned int listen_backlog;
	int reuse_port; /* 1: SO_REUSEPORT, so several daemons share the address (one per core) */
	struct cmhd_certificate_slot *tls_certificates; /* NULL: plain HTTP */
	MHD_AccessHandlerCallback access_handler;
	void *access_handler_cls;
	MHD_RequestCompletedCallback completed;
	void *completed_cls;
	cmhd_log_fn log;
	void *log_cls;
};

/* The GnuTLS priority string every HTTPS daemon uses (TLS 1.2 or later). */
const char *cmhd_tls_priority_string(void);

int cmhd_shim_version_ok(void);
/* 1 when this libmicrohttpd was built with TLS (GnuTLS) support. */
int cmhd_tls_supported(void);
/* NULL on failure; libmicrohttpd reports the reason through config->log. The config is the
 * logger's closure: it must stay valid until MHD_stop_daemon returns. */
struct MHD_Daemon *cmhd_start(const struct cmhd_config *config);
/* 0 when nothing listens on the address (a probe socket binds it); else the errno of that bind. A
 * reuse-port group would otherwise let a second dmfltd silently share a port that is taken. */
int cmhd_address_free(const struct sockaddr *address);
/* The port the listen socket is bound to (useful after binding port 0), 0 if unknown. */
uint16_t cmhd_bound_port(struct MHD_Daemon *daemon);
/*
 * Writes "ADDR:PORT" (IPv6 as "[ADDR]:PORT") of the connection's peer into buf, NUL-terminated;
 * returns its length, or -1 (len must be at least 64).
 */
int cmhd_client_address(struct MHD_Connection *connection, char *buf, size_t len);

#endif
