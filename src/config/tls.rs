//! The exporter-toolkit's TLS vocabulary in rustls terms: Go's names of
//! cipher suites and curves mapped to what the aws-lc-rs provider offers,
//! and `client_allowed_sans` as a client-certificate verifier.
//!
//! A name the toolkit accepts but rustls does not offer (CBC and
//! RSA-key-exchange suites, `CurveP521`) is an error naming it: a file that
//! asks for something must not silently get something else.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::aws_lc_rs::{cipher_suite as cs, kx_group};
use rustls::crypto::SupportedKxGroup;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::SupportedCipherSuite;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// A Go cipher-suite name (`crypto/tls` constants) → the rustls suite.
fn cipher_suite(name: &str) -> Option<SupportedCipherSuite> {
    Some(match name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        // Go knows both spellings.
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "TLS_AES_128_GCM_SHA256" => cs::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => cs::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => cs::TLS13_CHACHA20_POLY1305_SHA256,
        _ => return None,
    })
}

/// The Go names [`cipher_suite`] knows, for error messages.
const CIPHER_NAMES: &str = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256";

/// `cipher_suites`, in the file's order (the server's preference).
///
/// As in Go, the list is about TLS 1.2: when it names no TLS 1.3 suite,
/// every TLS 1.3 suite stays. Unlike Go, TLS 1.3 names are honoured too:
/// when some are listed, only those are offered for TLS 1.3.
pub fn cipher_suites(names: &[String]) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut chosen = Vec::new();
    for name in names {
        let Some(suite) = cipher_suite(name.trim()) else {
            return Err(format!(
                "'{name}' cannot be honoured: rustls offers only {CIPHER_NAMES}"
            ));
        };
        if !chosen.contains(&suite) {
            chosen.push(suite);
        }
    }
    if !chosen.iter().any(|s| s.tls13().is_some()) {
        chosen.extend(
            rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
                .iter()
                .filter(|s| s.tls13().is_some()),
        );
    }
    Ok(chosen)
}

/// `curve_preferences` (Go's `CurveID` names), in the file's order.
pub fn kx_groups(names: &[String]) -> Result<Vec<&'static dyn SupportedKxGroup>, String> {
    let mut chosen: Vec<&'static dyn SupportedKxGroup> = Vec::new();
    for name in names {
        let group = match name.trim() {
            "X25519" => kx_group::X25519,
            "CurveP256" => kx_group::SECP256R1,
            "CurveP384" => kx_group::SECP384R1,
            "X25519MLKEM768" => kx_group::X25519MLKEM768,
            _ => {
                return Err(format!(
                    "'{name}' cannot be honoured: rustls offers only X25519, CurveP256, CurveP384 and X25519MLKEM768"
                ))
            }
        };
        if !chosen.iter().any(|g| g.name() == group.name()) {
            chosen.push(group);
        }
    }
    if chosen.is_empty() {
        return Err("empty: at least one curve is needed".to_owned());
    }
    Ok(chosen)
}

/// The subject alternative names of a certificate as the toolkit compares
/// them: DNS names, e-mail addresses, URIs, and IP addresses in their
/// usual text form. An unreadable certificate has none.
pub fn sans_of(der: &[u8]) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                Some((*s).to_owned())
            }
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::Ipv4Addr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| std::net::Ipv6Addr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// `client_allowed_sans`: the certificate is verified by the CA first, then
/// refused unless one of its SANs is exactly one of the list's. A refusal
/// ends the handshake with an `access_denied` alert.
#[derive(Debug)]
pub struct SanVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

impl SanVerifier {
    pub fn new(inner: Arc<dyn ClientCertVerifier>, allowed: Vec<String>) -> SanVerifier {
        SanVerifier { inner, allowed }
    }
}

impl ClientCertVerifier for SanVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if sans_of(end_entity)
            .iter()
            .any(|san| self.allowed.iter().any(|a| a == san))
        {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::debug!("client certificate refused: no SAN in client_allowed_sans");
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_map_or_are_named_in_the_error() {
        let ok = cipher_suites(&["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305".to_owned()]).unwrap();
        assert_eq!(ok[0], cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256);
        assert_eq!(ok.len(), 4, "the three TLS 1.3 suites stay");
        let only13 = cipher_suites(&["TLS_AES_256_GCM_SHA384".to_owned()]).unwrap();
        assert_eq!(only13, vec![cs::TLS13_AES_256_GCM_SHA384]);
        let e = cipher_suites(&["TLS_RSA_WITH_AES_128_CBC_SHA".to_owned()]).unwrap_err();
        assert!(e.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{e}");
        assert_eq!(kx_groups(&["CurveP384".to_owned()]).unwrap().len(), 1);
        assert!(kx_groups(&["CurveP521".to_owned()])
            .unwrap_err()
            .contains("CurveP521"));
        assert!(kx_groups(&[]).is_err());
    }
}
