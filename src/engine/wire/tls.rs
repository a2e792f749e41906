//! TLS for `rediss://` servers: the CA to trust and the client certificate (read and checked
//! when the command line is parsed, so a bad file is a usage error), and what a failed
//! handshake means, as a typed problem (`cli::words` names the flag that fixes it).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::engine::instance::{ErrorClass, InstanceError};

/// Larger PEM files are refused rather than read (`--tls-ca /dev/zero` must not eat memory).
const MAX_PEM_BYTES: u64 = 4 << 20;

/// A PEM file named on the command line, read once. `Debug` shows only its path: a key
/// file's contents are a secret.
#[derive(Clone)]
pub struct PemFile {
    path: PathBuf,
    pem: Arc<[u8]>,
}

impl PemFile {
    /// One or more certificates: a CA bundle, or a client certificate chain.
    pub fn certificates(path: &Path) -> Result<PemFile, String> {
        let pem = read(path)?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("'{}' is not a valid PEM file ({e})", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "'{}' holds no certificate; expected PEM blocks starting -----BEGIN CERTIFICATE-----",
                path.display()
            ));
        }
        Ok(PemFile {
            path: path.to_path_buf(),
            pem: pem.into(),
        })
    }

    /// A private key (PKCS#8, PKCS#1 or SEC1). Errors never quote the file's contents.
    pub fn private_key(path: &Path) -> Result<PemFile, String> {
        let pem = read(path)?;
        if PrivateKeyDer::from_pem_slice(&pem).is_err() {
            return Err(format!(
                "'{}' holds no private key; expected a PEM block starting -----BEGIN PRIVATE KEY----- \
                 (or RSA/EC PRIVATE KEY)",
                path.display()
            ));
        }
        Ok(PemFile {
            path: path.to_path_buf(),
            pem: pem.into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl fmt::Debug for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PemFile({})", self.path.display())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PEM_BYTES + 1).read_to_end(&mut pem))
        .map_err(|e| format!("cannot read '{}': {}", path.display(), io_message(&e)))?;
    if pem.len() as u64 > MAX_PEM_BYTES {
        return Err(format!(
            "'{}' is larger than 4 MiB; is it really a PEM file?",
            path.display()
        ));
    }
    Ok(pem)
}

/// "No such file or directory", without the "(os error 2)" tail.
fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Why a client certificate and its private key cannot be used together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// A file does not hold what it should (its message names the file).
    File(String),
    /// The key is not the one the certificate was issued for; `reason` is rustls's.
    Mismatch {
        key: PathBuf,
        cert: PathBuf,
        reason: String,
    },
}

/// How every `rediss://` server is reached. The default trusts the system's root
/// certificates and presents no client certificate.
#[derive(Clone, Debug, Default)]
pub struct Tls {
    /// Trust only the certificates in this bundle (`--tls-ca`), not the system roots.
    pub ca: Option<PemFile>,
    /// Certificate chain and private key for servers that require one (`--tls-cert`,
    /// `--tls-key`; mutual TLS).
    pub client: Option<(PemFile, PemFile)>,
}

impl Tls {
    pub fn is_default(&self) -> bool {
        self.ca.is_none() && self.client.is_none()
    }

    /// Checks that the private key belongs to the client certificate, so a mismatch is a
    /// usage error now rather than a refusal from every server later. Pure: no I/O.
    pub fn check(&self) -> Result<(), KeyProblem> {
        let Some((cert, key)) = &self.client else {
            return Ok(());
        };
        let chain = CertificateDer::pem_slice_iter(&cert.pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| KeyProblem::File(format!("'{}': {e}", cert.path.display())))?;
        let der = PrivateKeyDer::from_pem_slice(&key.pem)
            .map_err(|_| KeyProblem::File(format!("'{}' holds no private key", key.path.display())))?;
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(chain, der, &provider).map_err(|e| KeyProblem::Mismatch {
            key: key.path.clone(),
            cert: cert.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(())
    }

    /// What the redis crate builds its rustls configuration from.
    pub fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self.client.as_ref().map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.pem.to_vec(),
                client_key: key.pem.to_vec(),
            }),
            root_cert: self.ca.as_ref().map(|ca| ca.pem.to_vec()),
        }
    }
}

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
                for cert in CertificateDer::pem_slice_iter(&ca.pem) {
                    let cert = cert.map_err(|e| refused(format!("'{}': {e}", ca.path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| refused(format!("'{}': {e}", ca.path.display())))?;
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
                let chain = CertificateDer::pem_slice_iter(&cert.pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| refused(format!("'{}': {e}", cert.path.display())))?;
                let der = PrivateKeyDer::from_pem_slice(&key.pem)
                    .map_err(|_| refused(format!("'{}' holds no private key", key.path.display())))?;
                builder
                    .with_client_auth_cert(chain, der)
                    .map_err(|e| InstanceError::tls(TlsProblem::ClientKey, e.to_string()))
            }
        }
    }
}

/// rustls needs one process-wide crypto provider; the redis crate enables rustls without
/// one, so we install ring's before the first TLS connection (once; a provider installed
/// earlier wins, which is just as good).
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
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

/// What went wrong with TLS, as far as it tells what to do next (`cli::words` says what).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server's certificate is signed by a CA we do not trust.
    UnknownIssuer,
    /// The server's certificate does not list the name we connected by.
    WrongName,
    /// The server's certificate has expired (or this host's clock is wrong).
    Expired,
    /// The server may require a client certificate and got none it accepts.
    ClientCertRequired,
    /// The server does not accept our client certificate.
    ClientCertRejected,
    /// What came back was not TLS: a plain port.
    NotTls,
    /// Any other handshake failure.
    Other,
    /// The client certificate and key could not be set up.
    ClientKey,
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

    #[test]
    fn refuses_files_that_are_not_pem() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let e = PemFile::certificates(&junk).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        std::fs::write(
            &junk,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(PemFile::certificates(&junk).is_err());
        std::fs::write(&junk, "secret-material\n").unwrap();
        let e = PemFile::private_key(&junk).unwrap_err();
        assert!(
            e.contains("holds no private key") && !e.contains("secret-material"),
            "{e}"
        );
        let e = PemFile::certificates(&dir.path().join("missing.pem")).unwrap_err();
        assert!(e.starts_with("cannot read") && !e.contains("os error"), "{e}");
    }
}
