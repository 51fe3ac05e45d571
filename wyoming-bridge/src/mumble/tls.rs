//! Server certificate checks for Mumble (reference `mumble.md` §7).
//!
//! Murmur generates a self-signed certificate (signed with SHA-1) on first start, which no CA
//! verification accepts, so the default is what SSH does: a certificate the system roots vouch for
//! is accepted; any other is pinned on first use (its SHA-256 in the data directory) and must match
//! from then on. A pinned fingerprint or an explicit insecure mode replace that. Whatever the mode,
//! the handshake signatures are checked for real, which proves the server holds the certificate's
//! key; only the question "is this the right certificate" changes.

use ring::digest::{SHA256, digest};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tracing::{info, warn};

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of(cert_der: &[u8]) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, cert_der).as_ref());
        Self(out)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = TlsError;

    /// 64 hex digits; colons and spaces (as `openssl x509 -fingerprint` prints) are allowed.
    fn from_str(s: &str) -> Result<Self, TlsError> {
        let hex: Vec<u8> = s.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
        let bad = || TlsError::BadFingerprint(s.to_string());
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| bad())?;
            out[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
}

/// How the server's certificate is judged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trust {
    /// System roots; otherwise trust on first use, pinned in the known-servers file.
    #[default]
    Default,
    /// System roots only.
    SystemRoots,
    /// Only the certificate with this fingerprint.
    Pinned(Fingerprint),
    /// Anything (tests, or a first look at a server); the fingerprint is still logged.
    Insecure,
}

#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    pub trust: Trust,
    /// Where trust-on-first-use fingerprints are kept; without it first use is refused.
    pub known_servers: Option<PathBuf>,
    /// PEM client certificate chain and key, so the bot can be a registered user.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("not a SHA-256 fingerprint (64 hex digits): {0:?}")]
    BadFingerprint(String),
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("no usable system root certificates (needed for the system-roots mode)")]
    NoRoots,
}

/// Why a certificate was refused, carried inside rustls' error so the reconnect loop can tell a
/// changed certificate (which will not fix itself) from a network error.
#[derive(Debug, Error)]
pub enum TrustFailure {
    #[error(
        "the certificate of {server} changed: pinned {expected}, presented {presented}. If the server's \
         certificate really changed, remove its line from {store} (or pin the new one with --server-cert-sha256)"
    )]
    Changed { server: String, expected: Fingerprint, presented: Fingerprint, store: String },
    #[error("the certificate of {server} has fingerprint {presented}, not the pinned {expected}")]
    NotPinned { server: String, expected: Fingerprint, presented: Fingerprint },
    #[error("could not record the fingerprint of {server} in {store}: {error}")]
    Store { server: String, store: String, error: String },
}

/// The `host:port` → fingerprint file of trust on first use: one `host:port sha256hex` per line.
#[derive(Debug)]
struct KnownServers {
    path: PathBuf,
    lock: Mutex<()>,
}

impl KnownServers {
    fn lookup(&self, server: &str) -> Option<Fingerprint> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        text.lines().find_map(|line| {
            let (name, fp) = line.split_once(char::is_whitespace)?;
            (name == server).then(|| fp.trim().parse().ok()).flatten()
        })
    }

    fn record(&self, server: &str, fp: Fingerprint) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = std::fs::read_to_string(&self.path).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{server} {fp}\n"));
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[derive(Debug)]
struct MumbleVerifier {
    trust: Trust,
    /// `host:port`, the key in the known-servers file.
    server: String,
    known: Option<KnownServers>,
    roots: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

fn refuse(failure: TrustFailure) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(failure))))
}

impl ServerCertVerifier for MumbleVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = Fingerprint::of(end_entity);
        info!(server = %self.server, fingerprint = %presented, "server certificate");
        let by_roots = || match &self.roots {
            Some(roots) => roots.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
            None => Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        };
        match &self.trust {
            Trust::Insecure => {
                warn!(server = %self.server, fingerprint = %presented, "certificate NOT verified (insecure mode)");
                Ok(ServerCertVerified::assertion())
            }
            Trust::Pinned(expected) if *expected == presented => Ok(ServerCertVerified::assertion()),
            Trust::Pinned(expected) => {
                Err(refuse(TrustFailure::NotPinned { server: self.server.clone(), expected: *expected, presented }))
            }
            Trust::SystemRoots => by_roots(),
            Trust::Default => {
                if by_roots().is_ok() {
                    return Ok(ServerCertVerified::assertion());
                }
                let Some(known) = &self.known else {
                    return Err(rustls::Error::General(format!(
                        "certificate of {} is not signed by a trusted CA and no data directory is set for \
                         trust on first use; pin it with --server-cert-sha256 {presented}",
                        self.server
                    )));
                };
                let store = known.path.display().to_string();
                match known.lookup(&self.server) {
                    Some(expected) if expected == presented => Ok(ServerCertVerified::assertion()),
                    Some(expected) => {
                        Err(refuse(TrustFailure::Changed { server: self.server.clone(), expected, presented, store }))
                    }
                    None => {
                        known.record(&self.server, presented).map_err(|e| {
                            refuse(TrustFailure::Store {
                                server: self.server.clone(),
                                store: store.clone(),
                                error: e.to_string(),
                            })
                        })?;
                        warn!(server = %self.server, fingerprint = %presented, %store, "new server: trusting its certificate on first use");
                        Ok(ServerCertVerified::assertion())
                    }
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The trust failure inside an I/O error from the TLS handshake, if that is what it was.
pub fn trust_failure(error: &std::io::Error) -> Option<&TrustFailure> {
    let rustls_error = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    match rustls_error {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => other.0.downcast_ref::<TrustFailure>(),
        _ => None,
    }
}

fn system_roots() -> Option<RootCertStore> {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        warn!(%error, "loading system root certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    (added > 0).then_some(roots)
}

fn read_pem_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |message: String| TlsError::Pem { path: path.to_path_buf(), message };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no certificate in the file".into()));
    }
    Ok(certs)
}

/// The rustls client configuration for one server (`host:port` keys the known-servers file).
pub fn client_config(options: &TlsOptions, host: &str, port: u16) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match options.trust {
        Trust::Default | Trust::SystemRoots => system_roots(),
        Trust::Pinned(_) | Trust::Insecure => None,
    };
    if options.trust == Trust::SystemRoots && roots.is_none() {
        return Err(TlsError::NoRoots);
    }
    let roots = match roots {
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?,
        ),
        None => None,
    };
    let verifier = MumbleVerifier {
        trust: options.trust.clone(),
        server: format!("{host}:{port}"),
        known: options.known_servers.clone().map(|path| KnownServers { path, lock: Mutex::new(()) }),
        roots,
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match &options.client_cert {
        Some((cert, key)) => {
            let chain = read_pem_chain(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| TlsError::Pem { path: key.clone(), message: e.to_string() })?;
            builder.with_client_auth_cert(chain, key)?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let plain = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let fp: Fingerprint = plain.parse().unwrap();
        assert_eq!(fp.to_string(), plain.to_lowercase());
        let colons = plain.as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":");
        assert_eq!(colons.parse::<Fingerprint>().unwrap(), fp);
        assert!("abc".parse::<Fingerprint>().is_err());
        assert!(plain.replace('0', "g").parse::<Fingerprint>().is_err());
    }

    #[test]
    fn known_servers_file_records_and_finds() {
        let dir = tempfile::tempdir().unwrap();
        let known = KnownServers { path: dir.path().join("sub/known_servers"), lock: Mutex::new(()) };
        assert_eq!(known.lookup("a:1"), None);
        let (a, b) = (Fingerprint([1; 32]), Fingerprint([2; 32]));
        known.record("a:1", a).unwrap();
        known.record("b:2", b).unwrap();
        assert_eq!((known.lookup("a:1"), known.lookup("b:2"), known.lookup("c:3")), (Some(a), Some(b), None));
    }

    #[test]
    fn configs_build_for_every_mode() {
        for trust in [Trust::Default, Trust::Pinned(Fingerprint([0; 32])), Trust::Insecure] {
            client_config(&TlsOptions { trust, ..Default::default() }, "127.0.0.1", 64738).unwrap();
        }
        let missing = TlsOptions {
            client_cert: Some(("/nonexistent.pem".into(), "/nonexistent.key".into())),
            ..Default::default()
        };
        assert!(client_config(&missing, "h", 1).is_err());
    }
}
