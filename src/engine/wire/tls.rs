//! TLS for `rediss://` servers on our own connections: the rustls configuration built from
//! the `--tls-*` settings (`server::tls_settings`), and what a failed handshake means, as a
//! typed problem (`cli::words` names the flag that fixes it).

use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{ErrorClass, InstanceError, TlsProblem};
use crate::engine::server::tls_settings::Tls;

impl Tls {
    /// The rustls configuration for our own connections (`stream`): these roots (or the
    /// system's), this client certificate, ring's crypto. Built once per process: reading the
    /// system's roots costs milliseconds.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, InstanceError> {
        static BUILT: OnceLock<Result<Arc<rustls::ClientConfig>, InstanceError>> = OnceLock::new();
        // One process has one set of --tls-* settings, so one configuration serves it.
        BUILT
            .get_or_init(|| self.build_client_config().map(Arc::new))
            .clone()
    }

    fn build_client_config(&self) -> Result<rustls::ClientConfig, InstanceError> {
        let refused = |message: String| InstanceError::new(ErrorClass::Refused, message);
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca {
            Some(ca) => {
                for cert in CertificateDer::pem_slice_iter(ca.pem()) {
                    let cert = cert.map_err(|e| refused(format!("'{}': {e}", ca.path().display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| refused(format!("'{}': {e}", ca.path().display())))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    // A system root rustls cannot use is skipped, as browsers do.
                    let _ = roots.add(cert);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| refused(e.to_string()))?
            .with_root_certificates(roots);
        match &self.client {
            None => Ok(builder.with_no_client_auth()),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert.pem())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| refused(format!("'{}': {e}", cert.path().display())))?;
                let der = PrivateKeyDer::from_pem_slice(key.pem())
                    .map_err(|_| refused(format!("'{}' holds no private key", key.path().display())))?;
                builder
                    .with_client_auth_cert(chain, der)
                    .map_err(|e| InstanceError::tls(TlsProblem::ClientKey, e.to_string()))
            }
        }
    }
}

/// The rustls error behind a failed connection or request, if TLS is what failed. The
/// redis crate wraps it in an `io::Error` (handshake and record errors from the stream) or
/// directly (configuration errors).
pub fn rustls_error(e: &redis::RedisError) -> Option<&rustls::Error> {
    use std::error::Error;
    let inner: &(dyn Error + 'static) = e.source()?;
    let inner: &(dyn Error + 'static) = match inner.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
        Some(arc) => &**arc,
        None => inner,
    };
    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    inner
        .downcast_ref::<std::io::Error>()?
        .get_ref()?
        .downcast_ref::<rustls::Error>()
}

/// What a failed handshake means, read from rustls's error.
pub fn problem(e: &rustls::Error) -> TlsProblem {
    use rustls::{AlertDescription as Alert, CertificateError as Cert, Error as E};
    match e {
        E::InvalidCertificate(Cert::UnknownIssuer | Cert::BadSignature) => TlsProblem::UnknownIssuer,
        E::InvalidCertificate(Cert::NotValidForName | Cert::NotValidForNameContext { .. }) => {
            TlsProblem::WrongName
        }
        E::InvalidCertificate(Cert::Expired | Cert::ExpiredContext { .. }) => TlsProblem::Expired,
        E::AlertReceived(Alert::CertificateRequired | Alert::HandshakeFailure) => {
            TlsProblem::ClientCertRequired
        }
        E::AlertReceived(Alert::UnknownCA | Alert::BadCertificate | Alert::DecryptError) => {
            TlsProblem::ClientCertRejected
        }
        E::InvalidMessage(_) => TlsProblem::NotTls,
        _ => TlsProblem::Other,
    }
}

/// A failed handshake as an instance's error: a refusal, its problem and rustls's text.
pub fn failure(e: &rustls::Error) -> InstanceError {
    InstanceError::tls(problem(e), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_certificate_problem_inside_a_redis_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls.clone());
        let wrapped = redis::RedisError::from(io);
        assert_eq!(rustls_error(&wrapped), Some(&tls));
        let direct = redis::RedisError::from(tls.clone());
        assert_eq!(rustls_error(&direct), Some(&tls));
        let plain = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(rustls_error(&plain), None);
        assert_eq!(failure(&tls).tls, Some(TlsProblem::UnknownIssuer));
        assert_eq!(
            failure(&tls).to_string(),
            "TLS handshake failed: invalid peer certificate: UnknownIssuer"
        );
    }
}
