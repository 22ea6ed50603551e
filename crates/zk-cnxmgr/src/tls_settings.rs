//! ZooKeeper's TLS settings as rustls takes them, read the same way for the client port
//! (`ssl.*`) and between members (`ssl.quorum.*`): whether certificates are asked of the
//! connecting side (`clientAuth`), and which versions (`protocol`, `enabledProtocols`) and
//! cipher suites (`ciphersuites`, Java's names) are spoken.

use tokio_rustls::rustls::{SupportedCipherSuite, SupportedProtocolVersion, version};

/// `clientAuth`: whether a TLS listener asks the connecting side for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    None,
    Want,
    #[default]
    Need,
}

impl ClientAuth {
    /// ZooKeeper's reading of the setting `key`: unset or empty means `need`.
    pub fn parse(key: &str, value: Option<&str>) -> Result<ClientAuth, String> {
        match value
            .map(str::trim)
            .unwrap_or("")
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "need" => Ok(ClientAuth::Need),
            "want" => Ok(ClientAuth::Want),
            "none" => Ok(ClientAuth::None),
            other => Err(format!("{key} must be none, want or need, not {other:?}")),
        }
    }
}

/// The TLS versions and cipher suites a side offers, from ZooKeeper's settings as 3.9 reads
/// them: `enabledProtocols` when set, else what `protocol` implies (TLSv1.3, the default, also
/// enables TLSv1.2); `ciphersuites` when set (Java's names), else rustls's defaults. Versions
/// and suites rustls does not speak are dropped with a warning; a choice that leaves nothing to
/// speak is an error. `prefix` (`ssl.` or `ssl.quorum.`) names the settings in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsChoice {
    pub prefix: &'static str,
    pub protocol: Option<String>,
    pub enabled_protocols: Option<String>,
    pub cipher_suites: Option<String>,
}

impl TlsChoice {
    /// ZooKeeper's defaults for the settings under `prefix`.
    pub fn defaults(prefix: &'static str) -> TlsChoice {
        TlsChoice {
            prefix,
            protocol: None,
            enabled_protocols: None,
            cipher_suites: None,
        }
    }

    pub fn versions(&self) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
        let prefix = self.prefix;
        let named = |name: &str| match name {
            "TLSv1.3" => Some(&version::TLS13),
            "TLSv1.2" => Some(&version::TLS12),
            _ => None,
        };
        let Some(listed) = self.enabled_protocols.as_deref() else {
            return match self.protocol.as_deref().map(str::trim) {
                None | Some("TLSv1.3" | "TLS") => Ok(vec![&version::TLS13, &version::TLS12]),
                Some("TLSv1.2") => Ok(vec![&version::TLS12]),
                Some(other) => Err(format!(
                    "{prefix}protocol {other:?} is not offered: use TLSv1.2 or TLSv1.3"
                )),
            };
        };
        let mut versions = Vec::new();
        for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match named(name) {
                Some(found) => versions.push(found),
                None => tracing::warn!(protocol = name, "TLS version not offered; left out"),
            }
        }
        if versions.is_empty() {
            return Err(format!(
                "{prefix}enabledProtocols {listed:?} names no version offered here (TLSv1.2, TLSv1.3)"
            ));
        }
        Ok(versions)
    }

    /// The suites of `available` that `ciphersuites` names (all of them when unset), in the
    /// configured order, keeping only those of `versions`.
    pub fn suites(
        &self,
        available: &[SupportedCipherSuite],
        versions: &[&'static SupportedProtocolVersion],
    ) -> Result<Vec<SupportedCipherSuite>, String> {
        let usable = |suite: &SupportedCipherSuite| versions.contains(&suite.version());
        let chosen: Vec<SupportedCipherSuite> = match self.cipher_suites.as_deref() {
            None => available.iter().copied().filter(usable).collect(),
            Some(listed) => {
                let mut chosen = Vec::new();
                for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    match available.iter().find(|suite| java_name(suite) == name) {
                        Some(suite) if usable(suite) => chosen.push(*suite),
                        _ => tracing::warn!(suite = name, "cipher suite not offered; left out"),
                    }
                }
                chosen
            }
        };
        if chosen.is_empty() {
            return Err(format!(
                "{}ciphersuites leaves no cipher suite for the enabled TLS versions",
                self.prefix
            ));
        }
        Ok(chosen)
    }
}

/// A suite's name as Java spells it: IANA's, which rustls follows except for its `TLS13_` prefix.
fn java_name(suite: &SupportedCipherSuite) -> String {
    let name = suite.suite().as_str().unwrap_or("");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_rustls::rustls::crypto::ring;

    fn choice(protocol: Option<&str>, enabled: Option<&str>, suites: Option<&str>) -> TlsChoice {
        TlsChoice {
            prefix: "ssl.quorum.",
            protocol: protocol.map(String::from),
            enabled_protocols: enabled.map(String::from),
            cipher_suites: suites.map(String::from),
        }
    }

    #[test]
    fn client_auth_as_zookeeper_reads_it() {
        let parse = |value| ClientAuth::parse("ssl.quorum.clientAuth", value);
        assert_eq!(parse(None), Ok(ClientAuth::Need));
        assert_eq!(parse(Some(" ")), Ok(ClientAuth::Need));
        assert_eq!(parse(Some("Want")), Ok(ClientAuth::Want));
        assert_eq!(parse(Some("NONE")), Ok(ClientAuth::None));
        let error = parse(Some("maybe")).unwrap_err();
        assert!(
            error.starts_with("ssl.quorum.clientAuth must be"),
            "{error}"
        );
    }

    #[test]
    fn versions_follow_zookeeper_3_9() {
        let both = vec![&version::TLS13, &version::TLS12];
        assert_eq!(choice(None, None, None).versions().unwrap(), both);
        assert_eq!(
            choice(Some("TLSv1.3"), None, None).versions().unwrap(),
            both
        );
        assert_eq!(
            choice(Some("TLSv1.2"), None, None).versions().unwrap(),
            vec![&version::TLS12]
        );
        let error = choice(Some("SSLv3"), None, None).versions().unwrap_err();
        assert!(error.starts_with("ssl.quorum.protocol"), "{error}");
        assert_eq!(
            choice(Some("TLSv1.2"), Some("TLSv1.3"), None)
                .versions()
                .unwrap(),
            vec![&version::TLS13]
        );
        assert_eq!(
            choice(None, Some("TLSv1.1, TLSv1.2"), None)
                .versions()
                .unwrap(),
            vec![&version::TLS12]
        );
        assert!(
            choice(None, Some("TLSv1,TLSv1.1"), None)
                .versions()
                .is_err()
        );
    }

    #[test]
    fn suites_by_their_java_names() {
        let all = ring::default_provider().cipher_suites;
        let tls12 = [&version::TLS12];
        let names = |suites: Vec<SupportedCipherSuite>| -> Vec<String> {
            suites.iter().map(java_name).collect()
        };
        let every = choice(None, None, None).suites(&all, &tls12).unwrap();
        assert!(every.iter().all(|s| s.version() == &version::TLS12));
        let listed = choice(
            None,
            None,
            Some("TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_NO_SUCH"),
        );
        assert_eq!(
            names(listed.suites(&all, &tls12).unwrap()),
            ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]
        );
        assert_eq!(
            names(listed.suites(&all, &[&version::TLS13]).unwrap()),
            ["TLS_AES_128_GCM_SHA256"]
        );
        let none = choice(None, None, Some("TLS_AES_128_GCM_SHA256"));
        let error = none.suites(&all, &tls12).unwrap_err();
        assert!(error.starts_with("ssl.quorum.ciphersuites"), "{error}");
    }
}
