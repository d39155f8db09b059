//! TLS on the listener (rustls with the `ring` provider, streams from `monoio-rustls`). The
//! server configuration is loaded once at start from PEM files and shared read-only by every
//! shard; each connection then runs its handshake on its own shard, bounded in time, before the
//! first frame is read. When TLS is on, every connection on the port speaks it, as the Iggy
//! SDKs do with `tls=true`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use monoio_rustls::{ServerTlsStream, TlsAcceptor};

/// Why the certificate or the key could not become a server configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is not a PEM certificate chain: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("{} is not a PEM private key (PKCS#8, PKCS#1 or SEC1): {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("certificate {} and key {} do not form a server configuration: {source}", certificate.display(), key.display())]
    Rustls { certificate: PathBuf, key: PathBuf, source: rustls::Error },
}

/// Why a connection's handshake did not complete.
#[derive(Debug)]
pub enum HandshakeError {
    /// The client did not finish the handshake within the limit.
    TimedOut(Duration),
    /// The client closed, sent something that is not TLS, or refused our certificate.
    Failed(monoio_rustls::TlsError),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::TimedOut(limit) => write!(formatter, "TLS handshake not completed within {limit:?}"),
            // monoio-rustls's own messages name only the kind ("io error"); show the cause.
            HandshakeError::Failed(monoio_rustls::TlsError::Io(error)) => write!(formatter, "TLS handshake: {error}"),
            HandshakeError::Failed(monoio_rustls::TlsError::Rustls(error)) => {
                write!(formatter, "TLS handshake: {error}")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// Loads the certificate chain (the server's certificate first) and its private key into an
/// acceptor. Called once at start; the acceptor is cheap to clone (an `Arc`).
pub fn acceptor(certificate_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsConfigError> {
    Ok(TlsAcceptor::from(server_config(certificate_file, key_file)?))
}

/// The rustls server configuration: TLS 1.3 and 1.2, no client certificates.
pub fn server_config(certificate_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let chain = certificate_chain(certificate_file)?;
    let key = private_key(key_file)?;
    let rustls_error = |source| TlsConfigError::Rustls {
        certificate: certificate_file.to_path_buf(),
        key: key_file.to_path_buf(),
        source,
    };
    // The provider is named, not taken from the process default: the SDKs under test enable
    // aws-lc-rs as well, and with two providers compiled in rustls refuses to guess.
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(rustls_error)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(rustls_error)?;
    Ok(Arc::new(config))
}

/// Runs the server side of the handshake on `stream`, giving up after `limit`.
pub async fn accept<S: AsyncReadRent + AsyncWriteRent>(
    acceptor: &TlsAcceptor,
    stream: S,
    limit: Duration,
) -> Result<ServerTlsStream<S>, HandshakeError> {
    match monoio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(error)) => Err(HandshakeError::Failed(error)),
        Err(_) => Err(HandshakeError::TimedOut(limit)),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| TlsConfigError::Read { path: path.to_path_buf(), source })
}

fn certificate_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let text = read(path)?;
    let invalid = |reason: String| TlsConfigError::Certificate { path: path.to_path_buf(), reason };
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|error| invalid(error.to_string()))?;
    if chain.is_empty() {
        return Err(invalid("no CERTIFICATE section".to_string()));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let text = read(path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|error| {
        let reason = match error {
            pem::Error::NoItemsFound => "no PRIVATE KEY section".to_string(),
            other => other.to_string(),
        };
        TlsConfigError::Key { path: path.to_path_buf(), reason }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary(name: &str, contents: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("whippet-net-tls-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn missing_files_are_named() {
        let missing = Path::new("/nonexistent/whippet/cert.pem");
        let error = server_config(missing, missing).unwrap_err();
        assert!(matches!(error, TlsConfigError::Read { .. }));
        assert!(error.to_string().contains("/nonexistent/whippet/cert.pem"), "{error}");
    }

    #[test]
    fn files_without_pem_sections_are_refused() {
        let junk = temporary("junk.pem", "this is not PEM\n");
        let error = server_config(&junk, &junk).unwrap_err();
        assert!(matches!(error, TlsConfigError::Certificate { .. }), "{error}");
        assert!(error.to_string().contains("junk.pem"), "{error}");
        let error = private_key(&junk).unwrap_err();
        assert!(matches!(error, TlsConfigError::Key { .. }), "{error}");
        let _ = std::fs::remove_file(junk);
    }

    #[test]
    fn a_certificate_is_not_a_key() {
        let certificate = temporary(
            "only-cert.pem",
            "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ0cxTWpr\n-----END CERTIFICATE-----\n",
        );
        assert!(matches!(private_key(&certificate), Err(TlsConfigError::Key { .. })));
        let _ = std::fs::remove_file(certificate);
    }
}
