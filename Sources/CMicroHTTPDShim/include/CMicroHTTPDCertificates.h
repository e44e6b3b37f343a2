/* CMicroHTTPDCertificates.h: the HTTPS certificate of a running server, replaceable without a restart. */
#ifndef CMICROHTTPDCERTIFICATES_H
#define CMICROHTTPDCERTIFICATES_H
#include <stddef.h>

/*
 * A certificate chain and its private key, parsed once, reference-counted: the holder that loaded it
 * has one reference, the slot one while it is current, and each TLS connection one from the handshake
 * that presented it until the connection is closed. The last release frees it.
 */
struct cmhd_certificate;

/* NULL when the PEM texts do not parse or the key does not fit the certificate; error says why. */
struct cmhd_certificate *cmhd_certificate_load(const char *cert_pem, const char *key_pem, char *error,
					       size_t error_len);
void cmhd_certificate_release(struct cmhd_certificate *certificate);
/* How many references are held now (the loader's, the slot's, connections'); for tests. */
unsigned int cmhd_certificate_references(const struct cmhd_certificate *certificate);

/*
 * What new handshakes present. libmicrohttpd asks for the certificate at each handshake (GnuTLS's
 * retrieve function), so replacing the slot's certificate changes what new connections see while the
 * connections already open keep theirs.
 */
struct cmhd_certificate_slot;

/* Takes a reference to initial; NULL when out of memory. */
struct cmhd_certificate_slot *cmhd_certificate_slot_new(struct cmhd_certificate *initial);
/* Takes a reference to the new certificate and drops the slot's one to the old. */
void cmhd_certificate_slot_replace(struct cmhd_certificate_slot *slot, struct cmhd_certificate *certificate);
/* Only after MHD_stop_daemon of every daemon using the slot (their connections are closed then). */
void cmhd_certificate_slot_free(struct cmhd_certificate_slot *slot);

#endif
