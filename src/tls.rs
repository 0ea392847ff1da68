//! TLS on both legs: replaygate terminates the client's TLS with its own certificate
//! (`--tls-cert`, `--tls-key`) and opens its own TLS to the target (`--target-tls`), verifying
//! the target's certificate against `--target-ca` and the target's host name, and presenting a
//! client certificate of its own when given one (`--target-cert`, `--target-key`: for accounts
//! that `REQUIRE X509`).
//!
//! The crate is rustls (through tokio-rustls, with the `ring` provider): it is memory-safe Rust
//! with no system OpenSSL to match at build or run time, its defaults (TLS 1.2 and 1.3, forward
//! secret AEAD suites only) are what MariaDB and MySQL servers and clients speak, and it verifies
//! certificates and host names by default rather than by option. native-tls would tie the binary
//! to the machine's OpenSSL and leave verification to settings.
//!
//! Authentication is relayed as before: TLS changes the transport of each leg, not the bytes of
//! the exchange, so the target's scramble and plugins see what the client sent. The two legs are
//! independent: a client may use TLS to a target in clear text and the other way round.
//!
//! Files are read when the settings are resolved (`serve`, `check-config`), so a missing or
//! unreadable certificate is an error at start, not at the first client.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Deserialize;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::Target;

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("cannot use the certificate {cert} with the key {key}: {source}")]
    Certificate {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("the CA file {path} holds a certificate rustls cannot use as a trust anchor: {source}")]
    TrustAnchor {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot build the TLS settings: {0}")]
    Build(String),
    #[error("{0}")]
    Invalid(&'static str),
}

/// `--target-tls`: whether replaygate's connection to the target uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TargetTlsMode {
    /// Clear text, even when the target offers TLS.
    #[default]
    Disabled,
    /// TLS when the target offers it, clear text when it does not.
    Preferred,
    /// TLS, or the client is refused.
    Required,
}

/// `[tls]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// PEM certificate chain clients see.
    pub cert: Option<PathBuf>,
    /// Its PEM private key.
    pub key: Option<PathBuf>,
    /// Refuse clients that do not switch to TLS.
    pub required: Option<bool>,
    pub target: Option<TargetTlsMode>,
    /// PEM CA certificates the target's certificate must chain to.
    pub target_ca: Option<PathBuf>,
    /// The name the target's certificate must carry (default: the host of `--target`).
    pub target_name: Option<String>,
    /// PEM certificate chain replaygate presents to the target (with `target_key`).
    pub target_cert: Option<PathBuf>,
    /// Its PEM private key.
    pub target_key: Option<PathBuf>,
}

/// The same from the command line; each value overrides the file's.
#[derive(Debug, Default, Clone)]
pub struct TlsOverrides {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub required: bool,
    pub target: Option<TargetTlsMode>,
    pub target_ca: Option<PathBuf>,
    pub target_name: Option<String>,
    pub target_cert: Option<PathBuf>,
    pub target_key: Option<PathBuf>,
}

/// A certificate and its private key, as files.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The client leg's TLS: what replaygate offers clients.
#[derive(Clone)]
pub struct ClientTls {
    pub acceptor: TlsAcceptor,
    /// Clear-text clients are refused.
    pub required: bool,
}

/// The target leg's TLS.
#[derive(Clone)]
pub struct TargetTls {
    pub required: bool,
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
    /// The CA file the connector trusts: control connections (mysql_async) load it too.
    pub ca: PathBuf,
    /// The client certificate the connector presents, if any (control connections too).
    pub identity: Option<Identity>,
}

/// Validated TLS settings.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `None`: clients that ask for TLS are refused.
    pub client: Option<ClientTls>,
    /// `None`: the target leg is clear text.
    pub target: Option<TargetTls>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TargetTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetTls")
            .field("required", &self.required)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TlsSection {
    /// Applies the command-line overrides, reads the files and builds both legs' settings.
    pub fn resolve(
        self,
        cli: TlsOverrides,
        target: &Target,
    ) -> Result<TlsSettings, TlsConfigError> {
        let cert = cli.cert.or(self.cert);
        let key = cli.key.or(self.key);
        let required = cli.required || self.required.unwrap_or(false);
        let client = match (cert, key) {
            (Some(cert), Some(key)) => Some(ClientTls {
                acceptor: acceptor(&cert, &key)?,
                required,
            }),
            (None, None) if required => {
                return Err(TlsConfigError::Invalid(
                    "--tls-required needs --tls-cert and --tls-key: the certificate clients see",
                ));
            }
            (None, None) => None,
            _ => {
                return Err(TlsConfigError::Invalid(
                    "--tls-cert and --tls-key go together: the certificate and its private key",
                ));
            }
        };
        let mode = cli.target.or(self.target).unwrap_or_default();
        let ca = cli.target_ca.or(self.target_ca);
        let identity = match (
            cli.target_cert.or(self.target_cert),
            cli.target_key.or(self.target_key),
        ) {
            (Some(cert), Some(key)) => Some(Identity { cert, key }),
            (None, None) => None,
            _ => {
                return Err(TlsConfigError::Invalid(
                    "--target-cert and --target-key go together: the certificate replaygate \
                     presents to the target and its private key",
                ));
            }
        };
        if identity.is_some() && mode == TargetTlsMode::Disabled {
            return Err(TlsConfigError::Invalid(
                "--target-cert needs --target-tls preferred or required: a client certificate \
                 is presented over TLS only",
            ));
        }
        let target = match (mode, ca) {
            (TargetTlsMode::Disabled, _) => None,
            (_, None) => {
                return Err(TlsConfigError::Invalid(
                    "--target-tls preferred/required needs --target-ca FILE: replaygate verifies \
                     the target's certificate (a TLS leg nobody verifies protects nothing from \
                     whoever sits in the middle)",
                ));
            }
            (mode, Some(ca)) => {
                let name = match (cli.target_name.or(self.target_name), target) {
                    (Some(name), _) => name,
                    (None, Target::Tcp(addr)) => host_of(addr).to_owned(),
                    (None, Target::Unix(_)) => "localhost".to_owned(),
                };
                let name = ServerName::try_from(name).map_err(|_| {
                    TlsConfigError::Invalid(
                        "the target's TLS name (--target-tls-name, or the host of --target) is \
                         neither a DNS name nor an IP address",
                    )
                })?;
                Some(TargetTls {
                    required: mode == TargetTlsMode::Required,
                    connector: connector(&ca, identity.as_ref())?,
                    name,
                    ca,
                    identity,
                })
            }
        };
        Ok(TlsSettings { client, target })
    }
}

/// `host` of `host:port` (`[::1]:3306` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let read = |source| TlsConfigError::Read {
        what,
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn private_key(key: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_file(key).map_err(|source| TlsConfigError::Read {
        what: "the private key",
        path: key.to_owned(),
        source,
    })
}

fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsConfigError> {
    let chain = certificates(cert, "the certificate")?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Build(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key(key)?)
        .map_err(|source| TlsConfigError::Certificate {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn connector(ca: &Path, identity: Option<&Identity>) -> Result<TlsConnector, TlsConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca, "the CA file")? {
        roots
            .add(cert)
            .map_err(|source| TlsConfigError::TrustAnchor {
                path: ca.to_owned(),
                source,
            })?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Build(e.to_string()))?
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(Identity { cert, key }) => builder
            .with_client_auth_cert(
                certificates(cert, "the target client certificate")?,
                private_key(key)?,
            )
            .map_err(|source| TlsConfigError::Certificate {
                cert: cert.clone(),
                key: key.clone(),
                source,
            })?,
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(cli: TlsOverrides) -> Result<TlsSettings, TlsConfigError> {
        TlsSection::default().resolve(cli, &Target::Tcp("db.example:3306".to_owned()))
    }

    #[test]
    fn no_tls_is_the_default() {
        let tls = resolve(TlsOverrides::default()).unwrap();
        assert!(tls.client.is_none() && tls.target.is_none());
    }

    #[test]
    fn half_a_setting_is_refused_with_what_is_missing() {
        let only_cert = TlsOverrides {
            cert: Some("c.pem".into()),
            ..Default::default()
        };
        let e = resolve(only_cert).unwrap_err().to_string();
        assert!(e.contains("--tls-cert and --tls-key go together"), "{e}");
        let required = TlsOverrides {
            required: true,
            ..Default::default()
        };
        let e = resolve(required).unwrap_err().to_string();
        assert!(e.contains("needs --tls-cert and --tls-key"), "{e}");
        let unverified = TlsOverrides {
            target: Some(TargetTlsMode::Required),
            ..Default::default()
        };
        let e = resolve(unverified).unwrap_err().to_string();
        assert!(e.contains("needs --target-ca FILE"), "{e}");
        let only_target_key = TlsOverrides {
            target_key: Some("k.pem".into()),
            ..Default::default()
        };
        let e = resolve(only_target_key).unwrap_err().to_string();
        assert!(
            e.contains("--target-cert and --target-key go together"),
            "{e}"
        );
        let identity_in_clear = TlsOverrides {
            target_cert: Some("c.pem".into()),
            target_key: Some("k.pem".into()),
            ..Default::default()
        };
        let e = resolve(identity_in_clear).unwrap_err().to_string();
        assert!(e.contains("--target-cert needs --target-tls"), "{e}");
    }

    #[test]
    fn missing_files_are_named() {
        let cli = TlsOverrides {
            cert: Some("/nonexistent/c.pem".into()),
            key: Some("/nonexistent/k.pem".into()),
            ..Default::default()
        };
        let e = resolve(cli).unwrap_err().to_string();
        assert!(
            e.contains("cannot read the certificate /nonexistent/c.pem"),
            "{e}"
        );
    }

    #[test]
    fn the_target_name_is_the_host_of_the_target() {
        assert_eq!(host_of("db.example:3306"), "db.example");
        assert_eq!(host_of("127.0.0.1:3306"), "127.0.0.1");
        assert_eq!(host_of("[::1]:3306"), "::1");
    }
}
