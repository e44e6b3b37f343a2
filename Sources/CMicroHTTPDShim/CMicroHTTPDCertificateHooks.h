/* CMicroHTTPDCertificateHooks.h: the libmicrohttpd options that make a daemon present a slot's certificate. */
#ifndef CMICROHTTPDCERTIFICATEHOOKS_H
#define CMICROHTTPDCERTIFICATEHOOKS_H
#include <microhttpd.h>
#include "CMicroHTTPDCertificates.h"

/* Appends MHD_OPTION_HTTPS_CERT_CALLBACK and MHD_OPTION_NOTIFY_CONNECTION for slot; returns how many. */
unsigned int cmhd_certificate_options(struct cmhd_certificate_slot *slot, struct MHD_OptionItem *ops);

#endif
