/* CMicroHTTPDCertificates.c: reference-counted HTTPS certificates, chosen at each handshake through GnuTLS's retrieve function. */
#include "CMicroHTTPDCertificates.h"
#include "CMicroHTTPDCertificateHooks.h"
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A chain longer than this is a configuration mistake, not a certificate. */
#define CMHD_MAX_CHAIN 16

struct cmhd_certificate {
	atomic_uint refs;
	gnutls_pcert_st chain[CMHD_MAX_CHAIN];
	unsigned int chain_len;
	gnutls_privkey_t key;
};

struct cmhd_certificate_slot {
	pthread_mutex_t lock;
	struct cmhd_certificate *current;
};

/* A connection's socket context: the certificate its handshake presented, held until it closes. */
struct cmhd_connection_certificate {
	struct cmhd_certificate_slot *slot;
	struct cmhd_certificate *presented;
};

static void cmhd_certificate_free(struct cmhd_certificate *c)
{
	for (unsigned int i = 0; i < c->chain_len; i++)
		gnutls_pcert_deinit(&c->chain[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	free(c);
}

static struct cmhd_certificate *cmhd_certificate_fail(struct cmhd_certificate *c, int ret, const char *what,
						      char *error, size_t error_len)
{
	snprintf(error, error_len, "%s: %s", what, gnutls_strerror(ret));
	cmhd_certificate_free(c);
	return NULL;
}

struct cmhd_certificate *cmhd_certificate_load(const char *cert_pem, const char *key_pem, char *error,
					       size_t error_len)
{
	gnutls_datum_t cert = { (unsigned char *)cert_pem, (unsigned int)strlen(cert_pem) };
	gnutls_datum_t key = { (unsigned char *)key_pem, (unsigned int)strlen(key_pem) };
	gnutls_certificate_credentials_t check;
	struct cmhd_certificate *c;
	int ret;

	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(error, error_len, "out of memory");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	/* The same checks libmicrohttpd's own loading makes, the key fitting the certificate among them. */
	ret = gnutls_certificate_allocate_credentials(&check);
	if (ret < 0)
		return cmhd_certificate_fail(c, ret, "cannot allocate credentials", error, error_len);
	ret = gnutls_certificate_set_x509_key_mem(check, &cert, &key, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(check);
	if (ret < 0)
		return cmhd_certificate_fail(c, ret, "GnuTLS refused the certificate and key", error, error_len);
	c->chain_len = CMHD_MAX_CHAIN;
	ret = gnutls_pcert_list_import_x509_raw(c->chain, &c->chain_len, &cert, GNUTLS_X509_FMT_PEM,
						GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
	if (ret < 0) {
		c->chain_len = 0;
		return cmhd_certificate_fail(c, ret, "cannot read the certificate chain", error, error_len);
	}
	ret = gnutls_privkey_init(&c->key);
	if (ret < 0) {
		c->key = NULL;
		return cmhd_certificate_fail(c, ret, "cannot allocate the private key", error, error_len);
	}
	ret = gnutls_privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (ret < 0)
		return cmhd_certificate_fail(c, ret, "cannot read the private key", error, error_len);
	return c;
}

static void cmhd_certificate_retain(struct cmhd_certificate *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void cmhd_certificate_release(struct cmhd_certificate *c)
{
	if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
		cmhd_certificate_free(c);
}

unsigned int cmhd_certificate_references(const struct cmhd_certificate *c)
{
	return atomic_load(&((struct cmhd_certificate *)c)->refs);
}

struct cmhd_certificate_slot *cmhd_certificate_slot_new(struct cmhd_certificate *initial)
{
	struct cmhd_certificate_slot *slot = calloc(1, sizeof(*slot));

	if (!slot)
		return NULL;
	pthread_mutex_init(&slot->lock, NULL);
	cmhd_certificate_retain(initial);
	slot->current = initial;
	return slot;
}

void cmhd_certificate_slot_replace(struct cmhd_certificate_slot *slot, struct cmhd_certificate *certificate)
{
	struct cmhd_certificate *old;

	cmhd_certificate_retain(certificate);
	pthread_mutex_lock(&slot->lock);
	old = slot->current;
	slot->current = certificate;
	pthread_mutex_unlock(&slot->lock);
	cmhd_certificate_release(old);
}

/* The current certificate with a reference for the caller. */
static struct cmhd_certificate *cmhd_certificate_slot_acquire(struct cmhd_certificate_slot *slot)
{
	struct cmhd_certificate *c;

	pthread_mutex_lock(&slot->lock);
	c = slot->current;
	cmhd_certificate_retain(c);
	pthread_mutex_unlock(&slot->lock);
	return c;
}

void cmhd_certificate_slot_free(struct cmhd_certificate_slot *slot)
{
	if (!slot)
		return;
	cmhd_certificate_release(slot->current);
	pthread_mutex_destroy(&slot->lock);
	free(slot);
}

/*
 * GnuTLS asks for the server's certificate during each handshake. libmicrohttpd set the session's
 * pointer to its connection, whose socket context (made when the connection started) says which slot
 * to take it from and keeps the reference until the connection closes: GnuTLS does not copy what this
 * returns, and may use it for as long as the session lives.
 */
static int cmhd_certificate_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
				     const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
				     gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	struct MHD_Connection *connection = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *info;
	struct cmhd_connection_certificate *held;
	struct cmhd_certificate *c;

	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (!connection)
		return -1;
	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	held = info ? info->socket_context : NULL;
	if (!held)
		return -1;
	c = cmhd_certificate_slot_acquire(held->slot);
	/* A second handshake on one connection (renegotiation) gives back what the first one took. */
	cmhd_certificate_release(held->presented);
	held->presented = c;
	*pcert = c->chain;
	*pcert_length = c->chain_len;
	*privkey = c->key;
	return 0;
}

static void cmhd_certificate_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
					       enum MHD_ConnectionNotificationCode code)
{
	struct cmhd_connection_certificate *held;

	(void)connection;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		held = calloc(1, sizeof(*held));
		/* Out of memory: the handshake finds no context and fails, the daemon goes on. */
		if (held)
			held->slot = cls;
		*socket_context = held;
		return;
	}
	held = *socket_context;
	*socket_context = NULL;
	if (!held)
		return;
	cmhd_certificate_release(held->presented);
	free(held);
}

unsigned int cmhd_certificate_options(struct cmhd_certificate_slot *slot, struct MHD_OptionItem *ops)
{
	ops[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)cmhd_certificate_retrieve };
	ops[1] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)cmhd_certificate_connection_notify,
					  slot };
	return 2;
}
