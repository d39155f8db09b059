//! TLS for the client side (rustls with the `ring` provider, streams from `monoio-rustls`).
//! [`Tls`] is built once (it reads the CA file) and used for every connection; a connection
//! made without it is plain TCP and never touches rustls.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use monoio::net::TcpStream;
use monoio_rustls::{ClientTlsStream, TlsConnector};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::error::ClientError;

/// Whom to trust and which name the server's certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server name the certificate must cover (a DNS name or an IP address).
    pub domain: String,
    /// PEM file of the CA certificates to trust; `None` = the system's trust store.
    pub ca_file: Option<PathBuf>,
}

/// A ready TLS client configuration: cheap to clone, shared by every connection.
///
/// A call on a TLS connection that is cancelled mid-way (a timeout around it) leaves that
/// connection unusable: drop it and connect again. monoio-rustls loses its read buffer with
/// the cancelled read, and a later read on it panics.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    domain: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Tls").field("domain", &self.domain).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the CA file (or the system's trust store) and checks the server name.
    pub fn new(settings: &TlsSettings) -> Result<Tls, ClientError> {
        let domain = ServerName::try_from(settings.domain.clone())
            .map_err(|error| ClientError::Tls(format!("`{}` is not a server name: {error}", settings.domain)))?;
        let roots = match &settings.ca_file {
            Some(path) => roots_from_file(path)?,
            None => system_roots()?,
        };
        // Named, not the process default: with two providers compiled in, rustls will not guess.
        let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| ClientError::Tls(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls { connector: TlsConnector::from(Arc::new(config)), domain })
    }

    /// Runs the handshake on a connected socket.
    pub(crate) async fn connect(&self, stream: TcpStream) -> Result<ClientTlsStream<TcpStream>, ClientError> {
        self.connector.connect(self.domain.clone(), stream).await.map_err(|error| {
            let reason = match error {
                monoio_rustls::TlsError::Io(error) => error.to_string(),
                monoio_rustls::TlsError::Rustls(error) => error.to_string(),
            };
            ClientError::Tls(format!("handshake failed: {reason}"))
        })
    }
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, ClientError> {
    let unusable = |reason: String| ClientError::Tls(format!("CA file {}: {reason}", path.display()));
    let text = std::fs::read(path).map_err(|error| unusable(error.to_string()))?;
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&text) {
        let certificate = certificate.map_err(|error| unusable(error.to_string()))?;
        roots.add(certificate).map_err(|error| unusable(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(unusable("no CERTIFICATE section".to_string()));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, ClientError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(ClientError::Tls(format!(
            "no CA certificates in the system's trust store ({}); name one with a CA file",
            if errors.is_empty() { "it is empty".to_string() } else { errors.join("; ") }
        )));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_named() {
        let bad_name = TlsSettings { domain: "not a name!".into(), ca_file: None };
        assert!(matches!(Tls::new(&bad_name), Err(ClientError::Tls(reason)) if reason.contains("not a name!")));
        let missing = TlsSettings { domain: "localhost".into(), ca_file: Some("/nonexistent/ca.pem".into()) };
        assert!(matches!(Tls::new(&missing), Err(ClientError::Tls(reason)) if reason.contains("/nonexistent/ca.pem")));
    }
}
