//! HTTPS for the fake: a throw-away CA and a server certificate, made at start.
//!
//! A self-managed GitLab with a private CA is the case `CI_SERVER_TLS_CA_FILE` exists for, so
//! the fake plays exactly that: a fresh CA per server (written to a PEM file the client is
//! pointed at) signing a certificate for `127.0.0.1` and `localhost`. The leaf carries an
//! Authority Key Identifier and the CA a Subject Key Identifier, so strict verifiers (OpenSSL
//! with `X509_V_FLAG_X509_STRICT`, Python 3.13's default) accept them too.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// What a TLS origin needs.
pub(crate) struct Tls {
    pub config: Arc<ServerConfig>,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

/// Makes a CA, a server certificate signed by it, and a rustls server configuration.
pub(crate) fn generate() -> io::Result<Tls> {
    let err = |e: rcgen::Error| io::Error::other(format!("generating test certificates: {e}"));

    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "fake-gitlab test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).map_err(err)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(io::Error::other)?;
    Ok(Tls {
        config: Arc::new(config),
        ca_pem: ca_cert.pem(),
    })
}
