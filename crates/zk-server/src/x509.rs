//! ZooKeeper's `x509` authentication scheme, as pure functions over certificates: whether a
//! client's chain leads to a trusted certificate, and the identity it proves, which is the
//! subject's distinguished name in the RFC 2253 form Java prints (`X500Principal.getName()`),
//! since that string is what ACLs written against ZooKeeper hold.
//!
//! Chains are checked here rather than with webpki because webpki accepts X.509 v3 only, while
//! Java (and the certificates kazoo's test harness issues) also use v1.

use x509_parser::asn1_rs::{Tag, ToDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Longest chain followed from the client's certificate to a trusted one.
const MAX_DEPTH: usize = 8;

/// Verifies that `chain[0]` (the client's certificate, then the intermediates it sent) leads to
/// one of `anchors` through valid signatures, every certificate on the way valid at `now`.
/// Certificates other than the client's must be allowed to sign certificates: a v3 one needs
/// `basicConstraints` with `cA` set; v1 certificates carry no extensions and are accepted as
/// Java and OpenSSL accept them.
pub fn verify_chain(chain: &[&[u8]], anchors: &[&[u8]], now: ASN1Time) -> Result<(), String> {
    let first = *chain.first().ok_or("no client certificate")?;
    let anchors: Vec<(&[u8], X509Certificate<'_>)> = anchors
        .iter()
        .filter_map(|der| Some((*der, parse(der).ok()?)))
        .collect();
    let intermediates: Vec<(&[u8], X509Certificate<'_>)> = chain
        .iter()
        .skip(1)
        .filter_map(|der| Some((*der, parse(der).ok()?)))
        .collect();
    let (mut current_der, mut current) = (first, parse(first)?);
    for _ in 0..MAX_DEPTH {
        if !current.validity().is_valid_at(now) {
            return Err(format!(
                "certificate {} is not valid now",
                rfc2253_name(current.subject())
            ));
        }
        if anchors.iter().any(|(der, _)| *der == current_der) {
            return Ok(());
        }
        let signed_by = |issuer: &X509Certificate<'_>| {
            issuer.subject().as_raw() == current.issuer().as_raw()
                && issuer.validity().is_valid_at(now)
                && current.verify_signature(Some(issuer.public_key())).is_ok()
        };
        if anchors.iter().any(|(_, anchor)| signed_by(anchor)) {
            return Ok(());
        }
        let Some((der, next)) = intermediates
            .iter()
            .find(|(_, cert)| may_sign(cert) && signed_by(cert))
        else {
            return Err(format!(
                "no trusted issuer for {}",
                rfc2253_name(current.subject())
            ));
        };
        (current_der, current) = (der, next.clone());
    }
    Err("certificate chain too long".into())
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| format!("unreadable certificate: {e}"))
}

/// Whether a certificate may sign others: `basicConstraints` says so, or it is a v1 certificate.
fn may_sign(cert: &X509Certificate<'_>) -> bool {
    match cert.basic_constraints() {
        Ok(Some(constraints)) => constraints.value.ca,
        Ok(None) => cert.version().0 == 0,
        Err(_) => false,
    }
}

/// The subject of a DER certificate in RFC 2253 form, as the `x509` identity of its holder.
pub fn subject_name(der: &[u8]) -> Result<String, String> {
    Ok(rfc2253_name(parse(der)?.subject()))
}

/// The subject public key info of a DER certificate, whole (for checking handshake signatures).
pub fn public_key_info(der: &[u8]) -> Result<Vec<u8>, String> {
    Ok(parse(der)?.public_key().raw.to_vec())
}

/// The raw DER subject names of certificates, to tell clients which issuers we trust.
pub fn subject_der(der: &[u8]) -> Option<Vec<u8>> {
    Some(parse(der).ok()?.subject().as_raw().to_vec())
}

/// A name as Java's `X500Principal.getName()` prints it: the relative names last to first,
/// joined by `,`; multi-valued ones joined by `+`.
pub fn rfc2253_name(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(attribute_rfc2253)
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// The attribute keywords Java prints in RFC 2253 names; others print as dotted OIDs.
const KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// One `type=value`: a keyword with its string value escaped, or an OID with `#` and the
/// value's DER in hex, as Java's `AVA.toRFC2253String` does.
fn attribute_rfc2253(attribute: &AttributeTypeAndValue<'_>) -> String {
    let oid = attribute.attr_type().to_id_string();
    let keyword = KEYWORDS
        .iter()
        .find(|(known, _)| *known == oid)
        .map(|(_, keyword)| *keyword);
    match (keyword, string_value(attribute)) {
        (Some(keyword), Some(value)) => format!("{keyword}={}", escape_rfc2253(&value)),
        _ => {
            let der = attribute.attr_value().to_der_vec().unwrap_or_default();
            let hex: String = der.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("{}=#{hex}", keyword.unwrap_or(&oid))
        }
    }
}

/// The value as text when it is one of the string types Java prints as text.
fn string_value(attribute: &AttributeTypeAndValue<'_>) -> Option<String> {
    let value = attribute.attr_value();
    let data = value.data;
    match value.tag() {
        Tag::Utf8String => String::from_utf8(data.to_vec()).ok(),
        Tag::PrintableString | Tag::Ia5String | Tag::GeneralString | Tag::T61String => {
            Some(data.iter().map(|&byte| char::from(byte)).collect())
        }
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 2253 escaping as Java applies it: `,=+<>#;"\` anywhere, NUL as `\00`, and spaces (or
/// carriage returns) at either end.
fn escape_rfc2253(value: &str) -> String {
    let mut escaped: Vec<char> = Vec::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => {
                escaped.push('\\');
                escaped.push(c);
            }
            '\0' => escaped.extend(['\\', '0', '0']),
            _ => escaped.push(c),
        }
    }
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = escaped.iter().take_while(|c| blank(c)).count();
    let trail = escaped.len() - escaped.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(escaped.len() + 2);
    for (i, c) in escaped.into_iter().enumerate() {
        if i < lead || i >= trail.max(lead) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether an ACL id is a distinguished name Java's `X500Principal` would accept: empty, or
/// `type=value` pairs separated by `,`, `;` or `+`, each type a keyword or a dotted OID.
pub fn is_valid_name(id: &str) -> bool {
    if id.trim().is_empty() {
        return true;
    }
    split_unescaped(id).into_iter().all(|pair| {
        let Some((kind, _value)) = pair.split_once('=') else {
            return false;
        };
        let kind = kind.trim();
        let oid = kind
            .strip_prefix("OID.")
            .or_else(|| kind.strip_prefix("oid."))
            .unwrap_or(kind);
        let is_oid = !oid.is_empty()
            && oid.split('.').count() > 1
            && oid
                .split('.')
                .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
        is_oid || ACCEPTED_KEYWORDS.contains(&kind.to_ascii_uppercase().as_str())
    })
}

/// The keywords `X500Principal` reads.
const ACCEPTED_KEYWORDS: &[&str] = &[
    "CN",
    "C",
    "L",
    "S",
    "ST",
    "O",
    "OU",
    "T",
    "IP",
    "STREET",
    "DC",
    "DNQUALIFIER",
    "DNQ",
    "SURNAME",
    "GIVENNAME",
    "INITIALS",
    "GENERATION",
    "EMAIL",
    "EMAILADDRESS",
    "UID",
    "SERIALNUMBER",
];

/// Splits a name at separators that are neither escaped nor inside quotes.
fn split_unescaped(name: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut escaped, mut quoted) = (0, false, false);
    for (i, c) in name.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' | ';' | '+' if !quoted => {
                parts.push(&name[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&name[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    /// A certificate of `tests/interop/certs/x509` (see its generate.sh), as DER.
    fn cert(name: &str) -> Vec<u8> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/interop/certs/x509"
        );
        let path = format!("{dir}/{name}.pem");
        CertificateDer::from_pem_file(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .to_vec()
    }

    /// 2030-01-01, inside every fixture's validity.
    fn in_2030() -> ASN1Time {
        ASN1Time::from_timestamp(1_893_456_000).unwrap()
    }

    #[test]
    fn names_read_as_java_prints_them() {
        // Expected strings: X500Principal.getName() of each file, printed by Java 17.
        for (file, java) in [
            ("client", "CN=client"),
            ("admin", "CN=admin,O=zk-server tests"),
            (
                "fancy",
                "1.2.840.113549.1.9.1=#1612636c69656e74406578616d706c652e636f6d,\
                 CN=\\#1 client\\; \\\"x\\\",OU=Team+UID=u1,O=Example\\, Inc.,C=US",
            ),
        ] {
            assert_eq!(subject_name(&cert(file)).unwrap(), java, "{file}");
        }
    }

    #[test]
    fn chains_lead_to_a_trusted_certificate() {
        let (ca, intermediate) = (cert("ca"), cert("intermediate"));
        let anchors = [ca.as_slice()];
        let check = |chain: &[&[u8]]| verify_chain(chain, &anchors, in_2030());
        // v1, signed by the trusted CA itself.
        let client = cert("client");
        assert_eq!(check(&[&client]), Ok(()));
        // v3, through an intermediate the client sends along.
        let fancy = cert("fancy");
        assert_eq!(check(&[&fancy, &intermediate]), Ok(()));
        assert!(check(&[&fancy]).unwrap_err().contains("no trusted issuer"));
        // Signed by a certificate that may not sign, or by another CA.
        let (forged, signer) = (cert("forged"), cert("leaf-signer"));
        assert!(check(&[&forged, &signer]).is_err());
        assert!(check(&[&cert("rogue")]).is_err());
        assert!(check(&[]).is_err());
        // Outside the validity period.
        let in_2020 = ASN1Time::from_timestamp(1_577_836_800).unwrap();
        assert!(
            verify_chain(&[&client], &anchors, in_2020)
                .unwrap_err()
                .contains("not valid now")
        );
        // The trusted certificate itself, presented as the client's.
        assert_eq!(check(&[&ca]), Ok(()));
    }

    #[test]
    fn escapes_as_java_does() {
        assert_eq!(escape_rfc2253("client"), "client");
        assert_eq!(escape_rfc2253("a,b=c+d"), "a\\,b\\=c\\+d");
        assert_eq!(escape_rfc2253("#x<y>;\"z\\"), "\\#x\\<y\\>\\;\\\"z\\\\");
        assert_eq!(escape_rfc2253(" a b "), "\\ a b\\ ");
        assert_eq!(escape_rfc2253("  "), "\\ \\ ");
        assert_eq!(escape_rfc2253("a\0b"), "a\\00b");
    }

    #[test]
    fn validates_names_as_x500_principal_does() {
        for good in [
            "",
            "CN=client",
            "CN=client,O=Example,C=US",
            "cn=a+ou=b",
            "2.5.4.3=client",
            "OID.2.5.4.3=client",
            "CN=a\\,b",
            "CN=\"a,b\"",
            "EMAILADDRESS=x@example.com; CN=x",
        ] {
            assert!(is_valid_name(good), "{good:?}");
        }
        for bad in ["client", "CN", "XX=client", "CN=a,", "=a", "1=a"] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }
}
