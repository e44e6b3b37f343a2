/* CMicroHTTPDShim.c: the variadic libmicrohttpd calls (start, daemon and connection info) behind plain C functions. */
#include "CMicroHTTPDShim.h"
#include "CMicroHTTPDCertificateHooks.h"
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int cmhd_shim_version_ok(void)
{
	return MHD_VERSION >= 0x00097500;
}

int cmhd_tls_supported(void)
{
	return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

/*
 * TLS 1.2 and 1.3 only, ciphers of at least 128-bit strength, forward secrecy (no RSA key exchange),
 * no SHA-1 MACs, and the server's order of preference: stated here rather than inherited from
 * GnuTLS's "NORMAL", which on bookworm still offers TLS 1.0 and 1.1.
 */
static const char cmhd_tls_priorities[] =
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-SHA1:%SERVER_PRECEDENCE";

const char *cmhd_tls_priority_string(void)
{
	return cmhd_tls_priorities;
}

static void cmhd_log_trampoline(void *cls, const char *fmt, va_list ap)
{
	const struct cmhd_config *c = cls;
	char message[512];

	vsnprintf(message, sizeof(message), fmt, ap);
	c->log(c->log_cls, message);
}

struct MHD_Daemon *cmhd_start(const struct cmhd_config *c)
{
	struct MHD_OptionItem ops[16];
	unsigned int n = 0;
	uint16_t port = 0;

	if (c->address && c->address->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)c->address)->sin_port);
	else if (c->address && c->address->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)c->address)->sin6_port);

	/* The logger goes first so that problems with the options after it reach it. */
	if (c->log)
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)cmhd_log_trampoline,
						    (void *)c };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, (void *)c->address };
	if (c->thread_pool_size > 1)
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, c->thread_pool_size, NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, c->connection_limit, NULL };
	if (c->per_ip_connection_limit)
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->per_ip_connection_limit,
						    NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, c->connection_timeout_seconds, NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)c->connection_memory_limit,
					    NULL };
	if (c->reuse_port)
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL };
	if (c->listen_backlog)
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_BACKLOG_SIZE, c->listen_backlog, NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)c->completed, c->completed_cls };
	if (c->tls_certificates) {
		/* No MEM_KEY/MEM_CERT: with them libmicrohttpd would fix the certificate for the daemon's life. */
		n += cmhd_certificate_options(c->tls_certificates, &ops[n]);
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)cmhd_tls_priorities };
	}
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	return MHD_start_daemon(c->flags, port, NULL, NULL, c->access_handler, c->access_handler_cls,
				MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

int cmhd_address_free(const struct sockaddr *address)
{
	socklen_t len = address->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(address->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	int err = 0;

	if (fd < 0)
		return errno;
	/* As libmicrohttpd does: connections in TIME_WAIT do not make the port busy. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (address->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, address, len) != 0)
		err = errno;
	close(fd);
	return err;
}

uint16_t cmhd_bound_port(struct MHD_Daemon *daemon)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);

	return info ? info->port : 0;
}

/* Decimal digits of v at p; returns the end. */
static char *cmhd_put_decimal(char *p, unsigned int v)
{
	char digits[10];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = digits[--n];
	return p;
}

/*
 * Every request's log line names its client, so an IPv4 address is written digit by digit rather
 * than through inet_ntop() and snprintf()'s format parsing.
 */
int cmhd_client_address(struct MHD_Connection *connection, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr *sa;
	int n;

	if (!info || !info->client_addr || len < 64)
		return -1;
	sa = info->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		const unsigned char *a = (const unsigned char *)&in->sin_addr;
		char *p = buf;

		for (int i = 0; i < 4; i++) {
			p = cmhd_put_decimal(p, a[i]);
			*p++ = i < 3 ? '.' : ':';
		}
		p = cmhd_put_decimal(p, ntohs(in->sin_port));
		*p = '\0';
		return (int)(p - buf);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		n = snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
		return n < 0 || (size_t)n >= len ? -1 : n;
	}
	return -1;
}
