/* GnuTLS's hash and MAC functions for Swift (the library libmicrohttpd already links for HTTPS). */
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
