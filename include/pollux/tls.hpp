#pragma once

/// @file
/// `pollux::tls`: TLS over any `io::AsyncRead + io::AsyncWrite` transport
/// on OpenSSL 3 (`TlsConnector`, `TlsAcceptor`, `TlsStream`, `TlsOptions`,
/// `Certificate`, the error categories). Needs a pollux built with TLS
/// (meson `-Dtls=auto|enabled`, the default when OpenSSL is found); the
/// program links OpenSSL too (pkg-config's `openssl`). docs/tls.md. It only
/// includes the headers under `pollux/tls/`.

#include <pollux/tls/certificate.hpp>
#include <pollux/tls/connector.hpp>
#include <pollux/tls/error.hpp>
#include <pollux/tls/options.hpp>
#include <pollux/tls/tls_stream.hpp>
