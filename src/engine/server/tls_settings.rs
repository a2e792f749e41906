//! The `--tls-*` settings a `rediss://` server is reached with: the CA to trust and the client
//! certificate, read and checked when the command line is parsed, so a bad file is a usage
//! error. Plain data below the transport: `wire::tls` builds rustls's configuration from it.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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

    /// The file's contents as read (for `wire::tls`'s rustls configuration).
    pub fn pem(&self) -> &[u8] {
        &self.pem
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

#[cfg(test)]
mod tests {
    use super::*;

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
