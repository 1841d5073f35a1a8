//! The TLS client settings every outbound connection shares (the typed clients' `client-tls`,
//! Redis's `redis-tls`): rustls on ring, trusting the roots given.

use std::sync::Arc;

/// The certificate authorities in `pem` (one or more PEM certificates).
///
/// # Errors
/// A certificate that cannot be read, or none at all.
pub(crate) fn roots_from_pem(pem: &[u8]) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| format!("a root certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a root certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err("no certificate in the roots given".to_owned());
    }
    Ok(roots)
}

/// A TLS client trusting `roots`, with rustls' safe default protocol versions and no client
/// certificate.
pub(crate) fn client_config(roots: rustls::RootCertStore) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
