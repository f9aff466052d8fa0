//! How the bridge (`ingest mcp --connect`) trusts the daemon's certificate. By default, as any
//! HTTPS client: the system's CAs (or `SSL_CERT_FILE`). A hospital's internal daemon often has a
//! certificate its IT made itself, so there are two more ways:
//!
//! - `--ca-file FILE`: trust the CAs in a PEM file instead. A certificate in that file that the
//!   daemon presents itself (a single self-signed certificate made with `openssl req -x509`, which
//!   is marked as a CA and so refused by the usual chain check as `CaUsedAsEndEntity`) is trusted
//!   as that exact certificate when it names the host (its validity dates are not checked then).
//! - `--pin sha256:HEX`: trust exactly the certificate with this SHA-256 fingerprint (of its DER
//!   bytes), whoever signed it, whatever name or dates it carries; `ingest tls-fingerprint` prints
//!   it on the daemon's host. Not together with `--ca-file`: one way of trust at a time.
//!
//! Either way the TLS handshake itself is verified (the daemon proves it holds the key).

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;

/// What the bridge was told to trust besides (or instead of) the system's CAs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustOptions {
    pub ca_file: Option<PathBuf>,
    pub pins: Vec<[u8; 32]>,
}

impl TrustOptions {
    pub fn is_default(&self) -> bool {
        self.ca_file.is_none() && self.pins.is_empty()
    }
}

/// `sha256:` and 64 hex digits (colons between bytes allowed, any case), as `ingest
/// tls-fingerprint` prints it.
pub fn parse_pin(text: &str) -> Result<[u8; 32], String> {
    let hex: String = text
        .trim()
        .strip_prefix("sha256:")
        .or_else(|| text.trim().strip_prefix("SHA256:"))
        .ok_or_else(|| format!("--pin {text:?}: expected sha256: and 64 hex digits (see `ingest tls-fingerprint`)"))?
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok())).collect();
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("--pin {text:?}: expected sha256: and 64 hex digits (see `ingest tls-fingerprint`)"))
}

/// `sha256:…` of a certificate's DER bytes.
pub fn fingerprint(cert: &[u8]) -> String {
    format!("sha256:{}", ingest_fsutil::hex(&Sha256::digest(cert)))
}

/// The certificates of a PEM file, in order.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The HTTP client for the bridge, or `None` for the default (the system's CAs).
pub fn client(options: &TrustOptions) -> Result<Option<reqwest::Client>, String> {
    if options.is_default() {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (chain, exact) = match &options.ca_file {
        Some(path) => {
            let certs = read_certificates(path).map_err(|e| format!("--ca-file {e}"))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in &certs {
                roots.add(cert.clone()).map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
            (Some(verifier), certs)
        }
        None => (None, Vec::new()),
    };
    let verifier =
        Verifier { chain, exact, pins: options.pins.clone(), algorithms: provider.signature_verification_algorithms };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    reqwest::Client::builder().tls_backend_preconfigured(config).build().map(Some).map_err(|e| e.to_string())
}

#[derive(Debug)]
struct Verifier {
    /// The CA file's chain check (none with pins alone).
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// The CA file's certificates, trusted as themselves.
    exact: Vec<CertificateDer<'static>>,
    pins: Vec<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The words of a pin mismatch; the bridge recognises them to explain the failure.
pub const PIN_MISMATCH: &str = "is not the pinned certificate";

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.pins.is_empty() {
            let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
            return if self.pins.contains(&digest) {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::General(format!(
                    "the daemon's certificate {} {PIN_MISMATCH}",
                    fingerprint(end_entity.as_ref())
                )))
            };
        }
        let Some(chain) = &self.chain else {
            return Err(rustls::Error::General("no trust configured".into()));
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => Ok(verified),
            // A self-signed certificate marked as a CA, presented as itself and listed in the CA
            // file: trusted as that certificate, if it names the host asked for.
            Err(e)
                if format!("{e:?}").contains("CaUsedAsEndEntity")
                    && self.exact.iter().any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                let cert = webpki::EndEntityCert::try_from(end_entity).map_err(|_| e.clone())?;
                cert.verify_is_valid_for_subject_name(server_name)
                    .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What to do about a connection failure, in words for the person who set up the bridge; `None`
/// when it is not about trusting the certificate. `error` is the failure as rmcp reports it (its
/// debug form: the TLS error is nested inside the transport's).
pub fn advice(error: &str, options: &TrustOptions) -> Option<String> {
    if let Some(at) = error.find("the daemon's certificate sha256:")
        && error[at..].contains(PIN_MISMATCH)
    {
        let fingerprint: String = error[at + "the daemon's certificate ".len()..].chars().take(7 + 64).collect();
        return Some(format!(
            "the daemon's certificate {fingerprint} {PIN_MISMATCH}: it was replaced, or this is not the daemon. Run \
             `ingest tls-fingerprint` on the daemon's host and compare; if the new certificate is right, pass its \
             fingerprint to --pin"
        ));
    }
    const REASONS: [(&str, &str); 6] = [
        ("CaUsedAsEndEntity", "it is a self-signed certificate (marked as a CA)"),
        ("UnknownIssuer", "it is signed by a CA this machine does not trust"),
        ("NotValidForName", "it does not name this host"),
        ("Expired", "it has expired"),
        ("NotValidYet", "it is not valid yet"),
        ("InvalidCertificate", "it was refused"),
    ];
    let (_, why) = REASONS.iter().find(|(word, _)| error.contains(word))?;
    let how = "If the daemon uses a certificate made in the hospital (self-signed or from an internal CA), give \
               --ca-file with that certificate or its CA (PEM), or --pin sha256:… with the fingerprint that \
               `ingest tls-fingerprint` prints on the daemon's host";
    Some(match &options.ca_file {
        Some(path) => format!(
            "the daemon's certificate is not trusted: {why}, and it is neither in {} nor signed by a CA in it. {how}",
            path.display()
        ),
        None => format!("the daemon's certificate is not trusted by this machine: {why}. {how}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_in_the_printed_form_with_or_without_colons() {
        let cert = b"not really a certificate";
        let printed = fingerprint(cert);
        let digest: [u8; 32] = Sha256::digest(cert).into();
        assert_eq!(parse_pin(&printed), Ok(digest));
        let colons: String = printed
            .trim_start_matches("sha256:")
            .as_bytes()
            .chunks(2)
            .map(|b| String::from_utf8_lossy(b).to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(parse_pin(&format!("SHA256:{colons}")), Ok(digest));
        for bad in ["", "md5:abcd", "sha256:abc", "sha256:zz", &format!("{printed}00")] {
            assert!(parse_pin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_trust_failure_is_explained_and_other_failures_are_not() {
        let none = TrustOptions::default();
        let text = advice("Custom { error: InvalidCertificate(Other(OtherError(CaUsedAsEndEntity))) }", &none)
            .expect("advice");
        assert!(text.contains("self-signed") && text.contains("--ca-file") && text.contains("--pin"), "{text}");
        assert!(text.contains("ingest tls-fingerprint"), "{text}");
        let pin = fingerprint(b"x");
        let pinned =
            advice(&format!("General(\"the daemon's certificate {pin} {PIN_MISMATCH}\")"), &none).expect("advice");
        assert!(pinned.contains(&pin) && pinned.contains("replaced"), "{pinned}");
        assert_eq!(advice("Connection refused (os error 111)", &none), None);
    }
}
