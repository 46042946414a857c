//! TLS for the PostgreSQL client: rustls with the `ring` provider (no system OpenSSL, no aws-lc-rs), keeping the
//! meaning of libpq's `sslmode`.
//!
//! - `disable`: no TLS. `allow`: no TLS first, TLS when the server turns a plain connection away (see `client`).
//! - `prefer`, `require`: TLS (prefer falls back to a plain connection when the server offers none), the server's
//!   certificate not checked, as libpq does, unless `~/.postgresql/root.crt` exists: then libpq treats `require`
//!   as `verify-ca`, and so does Backstop.
//! - `verify-ca`: the certificate must chain to a trusted root; `verify-full`: and name the host. Trusted roots are
//!   `~/.postgresql/root.crt` when it exists (libpq's default), else the system's bundle of certificate
//!   authorities, which the client tools are then given too (`PGSSLROOTCERT`), so that both trust the same roots.
//!
//! No channel binding (SCRAM-SHA-256-PLUS): the client offers plain SCRAM-SHA-256, which every server accepts.

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verify {
    /// Not at all (the connection is encrypted, the server unauthenticated).
    Nothing,
    /// It chains to a trusted root.
    Chain,
    /// It chains to a trusted root and names the host.
    ChainAndName,
}

/// libpq's default root certificate file, `~/.postgresql/root.crt`, if it exists.
fn libpq_root_file() -> Option<PathBuf> {
    let path = dirs::home_dir()?.join(".postgresql").join("root.crt");
    path.is_file().then_some(path)
}

/// The check `sslmode` asks for (`require` checks the chain when libpq's root file exists, as libpq does).
pub(super) fn verify_for(sslmode: &str) -> Verify {
    match sslmode {
        "verify-full" => Verify::ChainAndName,
        "verify-ca" => Verify::Chain,
        "require" if libpq_root_file().is_some() => Verify::Chain,
        _ => Verify::Nothing,
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The file of root certificates that verify-ca and verify-full trust: libpq's `~/.postgresql/root.crt` when it
/// exists, else the system's bundle (found as OpenSSL would, e.g. `/etc/ssl/certs/ca-certificates.crt`). The client
/// tools are pointed at the same file (`PGSSLROOTCERT`), so that both check against the same roots.
pub(super) fn root_file() -> Option<PathBuf> {
    libpq_root_file().or_else(|| {
        openssl_probe::probe()
            .cert_file
            .filter(|file| file.is_file())
    })
}

/// `PGSSLROOTCERT` for the client tools under `sslmode`, when libpq would not find the roots by itself.
pub(super) fn tools_root_file(sslmode: &str) -> Option<PathBuf> {
    match sslmode {
        "verify-ca" | "verify-full" if libpq_root_file().is_none() => root_file(),
        _ => None,
    }
}

/// The roots that verify-ca and verify-full trust (see [`root_file`]).
fn roots() -> Result<RootCertStore> {
    let Some(file) = root_file() else {
        return Err(Error::Usage(
            "no trusted root certificates were found for sslmode verify-ca or verify-full; put the server's \
             CA certificate in ~/.postgresql/root.crt"
                .into(),
        ));
    };
    let certs = CertificateDer::pem_file_iter(&file)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::Usage(format!(
                "cannot read the root certificates in {}: {e}; fix or remove the file",
                file.display()
            ))
        })?;
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(certs);
    if store.is_empty() {
        return Err(Error::Usage(format!(
            "{} holds no usable root certificate for sslmode verify-ca or verify-full; put the server's CA \
             certificate in ~/.postgresql/root.crt",
            file.display()
        )));
    }
    Ok(store)
}

/// A rustls client configuration for `verify`.
pub(super) fn client_config(verify: Verify) -> Result<ClientConfig> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(NoCheck(provider.signature_verification_algorithms)),
        Verify::Chain | Verify::ChainAndName => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots()?),
                provider.clone(),
            )
            .build()
            .map_err(|e| Error::Usage(format!("cannot set up certificate checks: {e}")))?;
            Arc::new(CheckChain {
                inner: webpki,
                names: verify == Verify::ChainAndName,
            })
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(config)
}

/// Accepts any certificate (sslmode prefer or require), still checking the handshake's signatures.
#[derive(Debug)]
struct NoCheck(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The WebPKI check of the chain, and of the host name only for verify-full.
#[derive(Debug)]
struct CheckChain {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    names: bool,
}

impl ServerCertVerifier for CheckChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // The chain is checked before the name: a name error means the chain was good.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// tokio-postgres's TLS factory over rustls.
#[derive(Clone)]
pub(super) struct MakeRustls {
    connector: tokio_rustls::TlsConnector,
}

impl MakeRustls {
    /// A factory for `config`.
    pub(super) fn new(config: ClientConfig) -> Self {
        MakeRustls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnect {
            name,
            connector: self.connector.clone(),
        })
    }
}

/// One TLS handshake to come.
pub(super) struct RustlsConnect {
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Handshake<S>;

    fn connect(self, stream: S) -> Handshake<S> {
        Handshake(self.connector.connect(self.name, stream))
    }
}

/// The handshake under way.
pub(super) struct Handshake<S>(tokio_rustls::Connect<S>);

impl<S> Future for Handshake<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Output = io::Result<RustlsStream<S>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map_ok(RustlsStream)
    }
}

/// An encrypted connection to the server.
pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> tokio_postgres::tls::TlsStream for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S> AsyncRead for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S> AsyncWrite for RustlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
