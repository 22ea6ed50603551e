//! Server configuration: embedded defaults < config file (TOML or ZooKeeper's zoo.cfg) < `ZK_*`
//! environment < command-line flags, merged with figment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Error as FigmentError, Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

/// Everything the server reads from its configuration. Field names are the snake_case forms of
/// ZooKeeper's keys (`tickTime` is `tick_time`; `ZK_TICK_TIME` in the environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Milliseconds per tick: the unit of session timeouts and peer limits.
    pub tick_time: u64,
    pub data_dir: PathBuf,
    /// Where the transaction log goes (defaults to `data_dir`).
    pub data_log_dir: Option<PathBuf>,
    pub client_port: u16,
    pub client_port_address: String,
    /// Concurrent connections per client IP; 0 means no limit.
    pub max_client_cnxns: u32,
    /// -1 means 2 ticks.
    pub min_session_timeout: i64,
    /// -1 means 20 ticks.
    pub max_session_timeout: i64,
    /// Transactions between snapshots (randomised between half and all of it, as ZooKeeper does).
    pub snap_count: u64,
    pub autopurge_snap_retain_count: u32,
    /// Hours between purges; 0 turns purging off.
    pub autopurge_purge_interval: u64,
    /// Comma-separated four-letter words that are allowed, or `*`.
    pub four_letter_words_whitelist: String,
    /// TTL nodes (`zookeeper.extendedTypesEnabled`).
    pub extended_types_enabled: bool,
    /// Writes over a hard quota fail with QUOTAEXCEEDED (`zookeeper.enforceQuota`).
    pub enforce_quota: bool,
    /// Largest frame payload and jute buffer (`jute.maxbuffer`).
    pub jute_max_buffer: usize,
    /// `zookeeper.skipACL=yes`.
    pub skip_acl: bool,
    /// `DigestAuthenticationProvider.enabled`: off, the digest scheme does not exist (auth in
    /// it fails, ACLs naming it are invalid), as ZooKeeper leaves its provider unregistered.
    pub digest_auth_enabled: bool,
    /// `audit.enable`: ZooKeeper's audit log, to the tracing target `zk_audit` (see `audit`).
    pub audit_enable: bool,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`.
    pub super_digest: Option<String>,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// `server.N` lines, by N: from zoo.cfg, or from the file its `dynamicConfigFile` names.
    pub servers: BTreeMap<String, String>,
    /// `group.G=sid:sid:...` and `weight.SID=w` lines, by G and SID: hierarchical quorums.
    pub quorum_groups: BTreeMap<String, String>,
    pub quorum_weights: BTreeMap<String, String>,
    /// Whether zoo.cfg gave `clientPort` or `clientPortAddress`. Without them, a member whose
    /// `server.N` line names a client address (`;[host:]port`, ZooKeeper 3.5's form) listens
    /// there, as ZooKeeper does.
    pub client_port_given: bool,
    pub my_id: Option<u64>,
    pub peer_type: Option<String>,
    pub standalone_enabled: bool,
    pub reconfig_enabled: bool,
    pub local_sessions_enabled: bool,
    pub local_sessions_upgrading_enabled: bool,
    pub read_only_mode_enabled: bool,
    pub container_check_interval_ms: u64,
    pub container_max_per_minute: u32,
    pub container_max_never_used_interval_ms: u64,
    pub global_outstanding_limit: u32,
    /// Log preallocation step in KiB.
    pub pre_alloc_size: u64,
    /// `forceSync=no` turns fsync off: never do this where data matters.
    pub force_sync: bool,
    /// A log fsync slower than this many ms is logged and counted (`fsync.warningthresholdms`).
    pub fsync_warning_threshold_ms: u64,
    /// JAAS file whose `Server` section lists SASL DIGEST-MD5 users
    /// (`java.security.auth.login.config`).
    pub jaas_config: Option<PathBuf>,
    /// `authProvider.N=...SASLAuthenticationProvider`: the `sasl` ACL scheme.
    pub sasl_enabled: bool,
    /// `enforce.auth.enabled`: a connection must hold an identity of one of
    /// `enforce.auth.schemes` before any request but auth and SASL.
    pub enforce_auth_enabled: bool,
    pub enforce_auth_schemes: Option<String>,
    /// `sessionRequireClientSASLAuth`: the older spelling of enforcing the `sasl` scheme.
    pub session_require_client_sasl_auth: bool,
    /// TLS client port (`secureClientPort`); off when unset.
    pub secure_client_port: Option<u16>,
    pub secure_client_port_address: Option<String>,
    /// PEM file with the server's key and certificate (`ssl.keyStore.location`).
    pub ssl_key_store_location: Option<PathBuf>,
    /// PEM file of the certificates that vouch for clients (`ssl.trustStore.location`).
    pub ssl_trust_store_location: Option<PathBuf>,
    /// Whether the TLS port requires a client certificate: `none`, `want` or `need` (the
    /// default), as `ssl.clientAuth`.
    pub ssl_client_auth: Option<String>,
    /// `ssl.protocol`, `ssl.enabledProtocols`, `ssl.ciphersuites`: what the TLS port speaks.
    pub ssl_protocol: Option<String>,
    pub ssl_enabled_protocols: Option<String>,
    pub ssl_ciphersuites: Option<String>,
    /// The certificate subject that is also a super user (`X509AuthenticationProvider.superUser`).
    pub x509_super_user: Option<String>,
    /// Store formats (`ssl.keyStore.type` and kin): PEM is the only one read.
    pub ssl_key_store_type: Option<String>,
    pub ssl_trust_store_type: Option<String>,
    pub ssl_quorum_key_store_type: Option<String>,
    pub ssl_quorum_trust_store_type: Option<String>,
    /// Revocation checks (`ssl.crl`, `ssl.ocsp`, and the `ssl.quorum.` ones): not built, so
    /// asking for them stops the start.
    pub ssl_crl: bool,
    pub ssl_ocsp: bool,
    pub ssl_quorum_crl: bool,
    pub ssl_quorum_ocsp: bool,
    /// `quorumListenOnAllIPs`: peers' ports listen on every address.
    pub quorum_listen_on_all_ips: bool,
    /// `sslQuorum`: mutual TLS between ensemble members, with their key store and trust store
    /// (`ssl.quorum.keyStore.location`, `ssl.quorum.trustStore.location`; PEM).
    pub ssl_quorum: bool,
    pub ssl_quorum_key_store_location: Option<PathBuf>,
    pub ssl_quorum_trust_store_location: Option<PathBuf>,
    /// `ssl.quorum.hostnameVerification`: a dialled peer's certificate must name its host.
    pub ssl_quorum_hostname_verification: bool,
    /// `ssl.quorum.clientAuth` (`none`, `want` or `need`, the default): what a member's
    /// listeners ask of the peers that dial them.
    pub ssl_quorum_client_auth: Option<String>,
    /// `ssl.quorum.protocol`, `ssl.quorum.enabledProtocols`, `ssl.quorum.ciphersuites`: what
    /// members speak to each other.
    pub ssl_quorum_protocol: Option<String>,
    pub ssl_quorum_enabled_protocols: Option<String>,
    pub ssl_quorum_ciphersuites: Option<String>,
    /// `quorum.auth.serverRequireSasl` / `quorum.auth.learnerRequireSasl`: members must
    /// authenticate each other with SASL, which is not built; set, they stop the start.
    pub quorum_auth_server_require_sasl: bool,
    pub quorum_auth_learner_require_sasl: bool,
    /// Threads that serve connections and run the write pipeline (`workerThreads`, ours). Unset:
    /// one less than the cores, at least one, since the log's fsync thread wants a core too.
    pub worker_threads: Option<usize>,
    /// The AdminServer: HTTP commands that answer in JSON (`admin.enableServer`).
    pub admin_enable_server: bool,
    /// Loopback unless configured, like the client port (ZooKeeper's default is 0.0.0.0).
    pub admin_server_address: String,
    pub admin_server_port: u16,
    /// The path the commands live under (`admin.commandURL`).
    pub admin_command_url: String,
    /// `metricsProvider.className`: ZooKeeper's Prometheus provider turns on `/metrics`.
    pub metrics_provider_class_name: Option<String>,
    /// Where `/metrics` listens (`metricsProvider.httpHost`, `metricsProvider.httpPort`).
    pub metrics_provider_http_host: String,
    pub metrics_provider_http_port: u16,
    /// The configuration file's text as read at start-up (`initial_configuration`).
    #[serde(skip)]
    pub initial_config: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tick_time: 2000,
            data_dir: PathBuf::from("zk-data"),
            data_log_dir: None,
            client_port: 2181,
            client_port_address: "127.0.0.1".into(),
            max_client_cnxns: 60,
            min_session_timeout: -1,
            max_session_timeout: -1,
            snap_count: 100_000,
            autopurge_snap_retain_count: 3,
            autopurge_purge_interval: 0,
            four_letter_words_whitelist: "srvr".into(),
            extended_types_enabled: false,
            enforce_quota: false,
            jute_max_buffer: 0xfffff,
            skip_acl: false,
            digest_auth_enabled: true,
            audit_enable: false,
            super_digest: None,
            init_limit: 10,
            sync_limit: 5,
            servers: BTreeMap::new(),
            quorum_groups: BTreeMap::new(),
            quorum_weights: BTreeMap::new(),
            client_port_given: false,
            my_id: None,
            peer_type: None,
            standalone_enabled: true,
            reconfig_enabled: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            read_only_mode_enabled: false,
            container_check_interval_ms: 60_000,
            container_max_per_minute: 10_000,
            container_max_never_used_interval_ms: 0,
            global_outstanding_limit: 1000,
            pre_alloc_size: 65_536,
            force_sync: true,
            jaas_config: None,
            sasl_enabled: false,
            enforce_auth_enabled: false,
            enforce_auth_schemes: None,
            session_require_client_sasl_auth: false,
            secure_client_port: None,
            secure_client_port_address: None,
            ssl_key_store_location: None,
            ssl_trust_store_location: None,
            ssl_client_auth: None,
            ssl_protocol: None,
            ssl_enabled_protocols: None,
            ssl_ciphersuites: None,
            ssl_key_store_type: None,
            ssl_trust_store_type: None,
            ssl_quorum_key_store_type: None,
            ssl_quorum_trust_store_type: None,
            ssl_crl: false,
            ssl_ocsp: false,
            ssl_quorum_crl: false,
            ssl_quorum_ocsp: false,
            quorum_listen_on_all_ips: false,
            ssl_quorum: false,
            ssl_quorum_key_store_location: None,
            ssl_quorum_trust_store_location: None,
            ssl_quorum_hostname_verification: true,
            ssl_quorum_client_auth: None,
            ssl_quorum_protocol: None,
            ssl_quorum_enabled_protocols: None,
            ssl_quorum_ciphersuites: None,
            quorum_auth_server_require_sasl: false,
            quorum_auth_learner_require_sasl: false,
            x509_super_user: None,
            worker_threads: None,
            fsync_warning_threshold_ms: 1000,
            admin_enable_server: true,
            admin_server_address: "127.0.0.1".into(),
            admin_server_port: 8080,
            admin_command_url: "/commands".into(),
            metrics_provider_class_name: None,
            metrics_provider_http_host: "127.0.0.1".into(),
            metrics_provider_http_port: 7000,
            initial_config: None,
        }
    }
}

/// A configuration problem that stops start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("invalid configuration: {0}")]
    Figment(#[from] Box<FigmentError>),
}

impl Config {
    /// Loads the configuration: defaults, then `file` (TOML if it ends in `.toml`, else zoo.cfg),
    /// then `ZK_*` variables, then `overrides` (the command-line flags).
    pub fn load(file: Option<&Path>, overrides: impl Provider) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let mut text = None;
        if let Some(path) = file {
            let read = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            if path.extension().is_some_and(|ext| ext == "toml") {
                figment = figment.merge(Toml::string(&read));
            } else {
                figment = figment.merge(ZooCfg::parse(path, &read)?);
            }
            text = Some(read);
        }
        let mut config: Config = figment
            .merge(Env::prefixed("ZK_").ignore(&["log"]))
            .merge(overrides)
            .extract()
            .map_err(|e| ConfigError::Figment(Box::new(e)))?;
        config.initial_config = text;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.tick_time == 0 {
            return Err(ConfigError::Invalid("tickTime must be positive".into()));
        }
        if self.min_session_timeout() > self.max_session_timeout() {
            return Err(ConfigError::Invalid(format!(
                "minSessionTimeout {} is above maxSessionTimeout {}",
                self.min_session_timeout(),
                self.max_session_timeout()
            )));
        }
        if self.worker_threads == Some(0) {
            return Err(ConfigError::Invalid(
                "workerThreads must be at least 1".into(),
            ));
        }
        let client_auth =
            crate::tls::ClientAuth::parse("ssl.clientAuth", self.ssl_client_auth.as_deref())
                .map_err(ConfigError::Invalid)?;
        if self.secure_client_port.is_some()
            && client_auth != crate::tls::ClientAuth::None
            && self.ssl_trust_store_location.is_none()
        {
            // ZooKeeper would fall back on the JVM's public CAs; we have none to offer, and
            // accepting every client instead would be weaker than what the file asks for.
            return Err(ConfigError::Invalid(
                "secureClientPort requires client certificates (ssl.clientAuth is need by \
                 default, or want): set ssl.trustStore.location to the PEM file of the \
                 certificates that vouch for clients, or ssl.clientAuth=none"
                    .into(),
            ));
        }
        crate::tls::ClientAuth::parse(
            "ssl.quorum.clientAuth",
            self.ssl_quorum_client_auth.as_deref(),
        )
        .map_err(ConfigError::Invalid)?;
        if self.ssl_crl || self.ssl_ocsp || self.ssl_quorum_crl || self.ssl_quorum_ocsp {
            return Err(ConfigError::Invalid(
                "certificate revocation checks (ssl.crl, ssl.ocsp) are not supported; \
                 remove revoked certificates from the trust store instead"
                    .into(),
            ));
        }
        for (key, location, kind) in [
            (
                "ssl.keyStore",
                &self.ssl_key_store_location,
                &self.ssl_key_store_type,
            ),
            (
                "ssl.trustStore",
                &self.ssl_trust_store_location,
                &self.ssl_trust_store_type,
            ),
            (
                "ssl.quorum.keyStore",
                &self.ssl_quorum_key_store_location,
                &self.ssl_quorum_key_store_type,
            ),
            (
                "ssl.quorum.trustStore",
                &self.ssl_quorum_trust_store_location,
                &self.ssl_quorum_trust_store_type,
            ),
        ] {
            if let Some(format) = store_format(location.as_deref(), kind.as_deref())
                && !format.eq_ignore_ascii_case("PEM")
            {
                return Err(ConfigError::Invalid(format!(
                    "{key} is {format}: only PEM files are read (private key and certificates \
                     in one file for a key store); convert it with keytool or openssl"
                )));
            }
        }
        if self.ssl_quorum
            && (self.ssl_quorum_key_store_location.is_none()
                || self.ssl_quorum_trust_store_location.is_none())
        {
            return Err(ConfigError::Invalid(
                "sslQuorum needs ssl.quorum.keyStore.location and \
                 ssl.quorum.trustStore.location (PEM files)"
                    .into(),
            ));
        }
        if self.quorum_auth_server_require_sasl || self.quorum_auth_learner_require_sasl {
            // Ignoring them would let any peer in where the file demands authenticated ones.
            return Err(ConfigError::Invalid(
                "quorum.auth.*RequireSasl: SASL between members is not supported; \
                 authenticate members with sslQuorum instead"
                    .into(),
            ));
        }
        if let Some(schemes) = self.enforced_auth_schemes() {
            if schemes.is_empty() {
                return Err(ConfigError::Invalid(
                    "enforce.auth.enabled is true: enforce.auth.schemes must be configured".into(),
                ));
            }
            if let Some(missing) = schemes.iter().find(|s| !self.auth_scheme_available(s)) {
                return Err(ConfigError::Invalid(format!(
                    "authentication scheme {missing} is not available, so it cannot be enforced"
                )));
            }
        }
        if self.jute_max_buffer < 1024 {
            return Err(ConfigError::Invalid(
                "jute.maxbuffer must be at least 1024".into(),
            ));
        }
        Ok(())
    }

    pub fn min_session_timeout(&self) -> u64 {
        u64::try_from(self.min_session_timeout).unwrap_or(2 * self.tick_time)
    }

    pub fn max_session_timeout(&self) -> u64 {
        u64::try_from(self.max_session_timeout).unwrap_or(20 * self.tick_time)
    }

    /// Threads for the runtime: `workerThreads`, or one less than the cores (at least one).
    /// Handing a request between threads costs more than it saves while another thread (the
    /// log's writer, or a client on the same machine) needs the remaining core.
    pub fn worker_threads(&self) -> usize {
        self.worker_threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |cores| cores.get().saturating_sub(1))
                .max(1)
        })
    }

    /// The schemes a connection must authenticate with before its requests are served, as
    /// ZooKeeper's AuthenticationHelper reads them; `None` when nothing is enforced.
    pub fn enforced_auth_schemes(&self) -> Option<Vec<String>> {
        if self.session_require_client_sasl_auth {
            return Some(vec!["sasl".into()]);
        }
        self.enforce_auth_enabled.then(|| {
            let listed = self.enforce_auth_schemes.as_deref().unwrap_or("");
            listed
                .split(',')
                .map(str::trim)
                .filter(|scheme| !scheme.is_empty())
                .map(String::from)
                .collect()
        })
    }

    /// Whether `scheme` exists here, as ZooKeeper's provider registry decides: ip always,
    /// digest unless `DigestAuthenticationProvider.enabled=false`, sasl with a SASL provider,
    /// x509 with a TLS port.
    pub fn auth_scheme_available(&self, scheme: &str) -> bool {
        match scheme {
            "ip" => true,
            "digest" => self.digest_auth_enabled,
            "sasl" => self.sasl_enabled || self.jaas_config.is_some(),
            "x509" => self.secure_client_port.is_some(),
            _ => false,
        }
    }

    /// The TLS port's versions and suites (checked when its acceptor is built).
    pub fn tls_choice(&self) -> crate::tls::TlsChoice {
        crate::tls::TlsChoice {
            prefix: "ssl.",
            protocol: self.ssl_protocol.clone(),
            enabled_protocols: self.ssl_enabled_protocols.clone(),
            cipher_suites: self.ssl_ciphersuites.clone(),
        }
    }

    /// How members speak TLS to each other, besides their certificates (the versions and
    /// suites are checked when the members' TLS is built).
    pub fn quorum_tls_settings(&self) -> zk_peer::PeerTlsSettings {
        zk_peer::PeerTlsSettings {
            verify_names: self.ssl_quorum_hostname_verification,
            client_auth: crate::tls::ClientAuth::parse(
                "ssl.quorum.clientAuth",
                self.ssl_quorum_client_auth.as_deref(),
            )
            .unwrap_or_default(),
            choice: crate::tls::TlsChoice {
                prefix: "ssl.quorum.",
                protocol: self.ssl_quorum_protocol.clone(),
                enabled_protocols: self.ssl_quorum_enabled_protocols.clone(),
                cipher_suites: self.ssl_quorum_ciphersuites.clone(),
            },
        }
    }

    /// `ssl.clientAuth`, checked when the configuration was loaded.
    pub fn client_auth(&self) -> crate::tls::ClientAuth {
        crate::tls::ClientAuth::parse("ssl.clientAuth", self.ssl_client_auth.as_deref())
            .unwrap_or(crate::tls::ClientAuth::Need)
    }

    /// Where the transaction log lives.
    pub fn log_dir(&self) -> PathBuf {
        self.data_log_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.clone())
    }

    /// Whether a four-letter word is allowed by `4lw.commands.whitelist` (and `isro` when read-only
    /// mode is on, as ZooKeeper adds it).
    pub fn four_letter_word_allowed(&self, word: &str) -> bool {
        if word == "isro" && self.read_only_mode_enabled {
            return true;
        }
        self.four_letter_words_whitelist
            .split([',', ' '])
            .map(str::trim)
            .any(|allowed| allowed == "*" || allowed == word)
    }
}

/// How a zoo.cfg value is typed.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Bool,
    Text,
}

/// zoo.cfg keys we honour, with our field names.
const KEYS: &[(&str, &str, Kind)] = &[
    ("tickTime", "tick_time", Kind::Int),
    ("dataDir", "data_dir", Kind::Text),
    ("dataLogDir", "data_log_dir", Kind::Text),
    ("clientPort", "client_port", Kind::Int),
    ("clientPortAddress", "client_port_address", Kind::Text),
    ("maxClientCnxns", "max_client_cnxns", Kind::Int),
    ("minSessionTimeout", "min_session_timeout", Kind::Int),
    ("maxSessionTimeout", "max_session_timeout", Kind::Int),
    ("snapCount", "snap_count", Kind::Int),
    (
        "autopurge.snapRetainCount",
        "autopurge_snap_retain_count",
        Kind::Int,
    ),
    (
        "autopurge.purgeInterval",
        "autopurge_purge_interval",
        Kind::Int,
    ),
    (
        "4lw.commands.whitelist",
        "four_letter_words_whitelist",
        Kind::Text,
    ),
    ("extendedTypesEnabled", "extended_types_enabled", Kind::Bool),
    ("enforceQuota", "enforce_quota", Kind::Bool),
    ("jute.maxbuffer", "jute_max_buffer", Kind::Int),
    ("skipACL", "skip_acl", Kind::Bool),
    (
        "DigestAuthenticationProvider.enabled",
        "digest_auth_enabled",
        Kind::Bool,
    ),
    (
        "DigestAuthenticationProvider.superDigest",
        "super_digest",
        Kind::Text,
    ),
    ("initLimit", "init_limit", Kind::Int),
    ("syncLimit", "sync_limit", Kind::Int),
    ("myid", "my_id", Kind::Int),
    ("peerType", "peer_type", Kind::Text),
    ("standaloneEnabled", "standalone_enabled", Kind::Bool),
    ("reconfigEnabled", "reconfig_enabled", Kind::Bool),
    ("localSessionsEnabled", "local_sessions_enabled", Kind::Bool),
    (
        "localSessionsUpgradingEnabled",
        "local_sessions_upgrading_enabled",
        Kind::Bool,
    ),
    ("readonlymode.enabled", "read_only_mode_enabled", Kind::Bool),
    (
        "znode.container.checkIntervalMs",
        "container_check_interval_ms",
        Kind::Int,
    ),
    (
        "znode.container.maxPerMinute",
        "container_max_per_minute",
        Kind::Int,
    ),
    (
        "znode.container.maxNeverUsedIntervalMs",
        "container_max_never_used_interval_ms",
        Kind::Int,
    ),
    (
        "globalOutstandingLimit",
        "global_outstanding_limit",
        Kind::Int,
    ),
    ("preAllocSize", "pre_alloc_size", Kind::Int),
    ("forceSync", "force_sync", Kind::Bool),
    (
        "fsync.warningthresholdms",
        "fsync_warning_threshold_ms",
        Kind::Int,
    ),
    ("java.security.auth.login.config", "jaas_config", Kind::Text),
    ("enforce.auth.enabled", "enforce_auth_enabled", Kind::Bool),
    ("enforce.auth.schemes", "enforce_auth_schemes", Kind::Text),
    (
        "sessionRequireClientSASLAuth",
        "session_require_client_sasl_auth",
        Kind::Bool,
    ),
    ("secureClientPort", "secure_client_port", Kind::Int),
    (
        "secureClientPortAddress",
        "secure_client_port_address",
        Kind::Text,
    ),
    (
        "ssl.keyStore.location",
        "ssl_key_store_location",
        Kind::Text,
    ),
    (
        "ssl.trustStore.location",
        "ssl_trust_store_location",
        Kind::Text,
    ),
    ("ssl.clientAuth", "ssl_client_auth", Kind::Text),
    ("ssl.protocol", "ssl_protocol", Kind::Text),
    ("ssl.enabledProtocols", "ssl_enabled_protocols", Kind::Text),
    ("ssl.ciphersuites", "ssl_ciphersuites", Kind::Text),
    ("sslQuorum", "ssl_quorum", Kind::Bool),
    (
        "ssl.quorum.clientAuth",
        "ssl_quorum_client_auth",
        Kind::Text,
    ),
    ("ssl.quorum.protocol", "ssl_quorum_protocol", Kind::Text),
    (
        "ssl.quorum.enabledProtocols",
        "ssl_quorum_enabled_protocols",
        Kind::Text,
    ),
    (
        "ssl.quorum.ciphersuites",
        "ssl_quorum_ciphersuites",
        Kind::Text,
    ),
    (
        "quorumListenOnAllIPs",
        "quorum_listen_on_all_ips",
        Kind::Bool,
    ),
    ("ssl.keyStore.type", "ssl_key_store_type", Kind::Text),
    ("ssl.trustStore.type", "ssl_trust_store_type", Kind::Text),
    (
        "ssl.quorum.keyStore.type",
        "ssl_quorum_key_store_type",
        Kind::Text,
    ),
    (
        "ssl.quorum.trustStore.type",
        "ssl_quorum_trust_store_type",
        Kind::Text,
    ),
    ("ssl.crl", "ssl_crl", Kind::Bool),
    ("ssl.ocsp", "ssl_ocsp", Kind::Bool),
    ("ssl.quorum.crl", "ssl_quorum_crl", Kind::Bool),
    ("ssl.quorum.ocsp", "ssl_quorum_ocsp", Kind::Bool),
    (
        "quorum.auth.serverRequireSasl",
        "quorum_auth_server_require_sasl",
        Kind::Bool,
    ),
    (
        "quorum.auth.learnerRequireSasl",
        "quorum_auth_learner_require_sasl",
        Kind::Bool,
    ),
    (
        "ssl.quorum.keyStore.location",
        "ssl_quorum_key_store_location",
        Kind::Text,
    ),
    (
        "ssl.quorum.trustStore.location",
        "ssl_quorum_trust_store_location",
        Kind::Text,
    ),
    (
        "ssl.quorum.hostnameVerification",
        "ssl_quorum_hostname_verification",
        Kind::Bool,
    ),
    (
        "X509AuthenticationProvider.superUser",
        "x509_super_user",
        Kind::Text,
    ),
    ("workerThreads", "worker_threads", Kind::Int),
    ("audit.enable", "audit_enable", Kind::Bool),
    ("admin.enableServer", "admin_enable_server", Kind::Bool),
    ("admin.serverAddress", "admin_server_address", Kind::Text),
    ("admin.serverPort", "admin_server_port", Kind::Int),
    ("admin.commandURL", "admin_command_url", Kind::Text),
    (
        "metricsProvider.className",
        "metrics_provider_class_name",
        Kind::Text,
    ),
    (
        "metricsProvider.httpHost",
        "metrics_provider_http_host",
        Kind::Text,
    ),
    (
        "metricsProvider.httpPort",
        "metrics_provider_http_port",
        Kind::Int,
    ),
];

/// Keys that only mean something to the Java server (or features we do not offer yet): accepted
/// quietly so that an existing zoo.cfg works unchanged.
const IGNORED_PREFIXES: &[&str] = &[
    "admin.",
    "authProvider.",
    "serverCnxnFactory",
    // Store passwords (a PEM key here is not encrypted), the client port's hostname check
    // (ZooKeeper's server never checks clients' names there) and port unification's wait.
    // Every other TLS key we do not build warns as unknown.
    "ssl.keyStore.password",
    "ssl.trustStore.password",
    "ssl.quorum.keyStore.password",
    "ssl.quorum.trustStore.password",
    "ssl.hostnameVerification",
    "ssl.handshakeDetectionTimeoutMillis",
    "ssl.quorum.handshakeDetectionTimeoutMillis",
    "java.security.krb5",
    "jvm.",
    "metricsProvider.",
    "quorum.",
    "electionAlg",
    "electionPortBindRetry",
    "cnxTimeout",
    "syncEnabled",
    "clientPortListenBacklog",
    "commitLogCount",
    "maxBatchSize",
    "digest.enabled",
    "multiAddress.",
];

/// A ZooKeeper `zoo.cfg` (Java properties) as a figment provider.
#[derive(Debug, Clone)]
pub struct ZooCfg {
    path: PathBuf,
    dict: Dict,
}

impl ZooCfg {
    /// Types a zoo.cfg's text; syntax and value errors name the line of `path`. The file that
    /// `dynamicConfigFile` names (ZooKeeper 3.5+: the `server.N` lines kept apart) is read too,
    /// relative to zoo.cfg's directory unless absolute.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut dict = Dict::new();
        let mut servers = Dict::new();
        let dynamic = parse_lines(path, text, &mut dict, &mut servers, false)?;
        if let Some(dynamic) = dynamic {
            let dynamic = path.parent().unwrap_or(Path::new("")).join(dynamic);
            let text = std::fs::read_to_string(&dynamic).map_err(|source| ConfigError::Read {
                path: dynamic.clone(),
                source,
            })?;
            parse_lines(&dynamic, &text, &mut dict, &mut servers, true)?;
        }
        if !servers.is_empty() {
            dict.insert("servers".into(), Value::from(servers));
        }
        Ok(ZooCfg {
            path: path.to_owned(),
            dict,
        })
    }
}

/// Types the lines of a zoo.cfg (or, when `dynamic`, of the file its `dynamicConfigFile` names,
/// which holds only server lines and a `version`) into `dict` and `servers`. Returns the
/// `dynamicConfigFile` a zoo.cfg names.
fn parse_lines(
    path: &Path,
    text: &str,
    dict: &mut Dict,
    servers: &mut Dict,
    dynamic: bool,
) -> Result<Option<PathBuf>, ConfigError> {
    let mut dynamic_file = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let syntax = |message: String| ConfigError::Syntax {
            path: path.to_owned(),
            line: index + 1,
            message,
        };
        let split = line
            .find(['=', ':'])
            .or_else(|| line.find(char::is_whitespace))
            .ok_or_else(|| syntax(format!("expected key=value, found {line:?}")))?;
        let key = line[..split].trim();
        let value = line[split + 1..].trim();
        // ZooKeeper reads an unknown key K as the system property zookeeper.K, so both spellings
        // reach the same setting.
        let key = key.strip_prefix("zookeeper.").unwrap_or(key);
        if let Some(id) = key.strip_prefix("server.") {
            servers.insert(id.to_owned(), Value::from(value.to_owned()));
            continue;
        }
        if dynamic && key != "version" && !key.starts_with("group.") && !key.starts_with("weight.")
        {
            return Err(syntax(format!(
                "a dynamic configuration file holds server, group and weight lines, not {key}"
            )));
        }
        match key {
            "dynamicConfigFile" if !dynamic => {
                dynamic_file = Some(PathBuf::from(value));
                continue;
            }
            // The version of a dynamic configuration: this server numbers its own.
            "version" if dynamic => continue,
            "clientPort" | "clientPortAddress" => {
                dict.insert("client_port_given".into(), Value::from(true));
            }
            _ => {}
        }
        if key.starts_with("authProvider.") && value.contains("SASLAuthenticationProvider") {
            dict.insert("sasl_enabled".into(), Value::from(true));
            continue;
        }
        if let Some((_, field, kind)) = KEYS.iter().find(|(name, _, _)| *name == key) {
            let typed = match kind {
                Kind::Int => value
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| syntax(format!("{key} must be an integer, not {value:?}")))?,
                Kind::Bool => Value::from(parse_bool(value).ok_or_else(|| {
                    syntax(format!("{key} must be true/false or yes/no, not {value:?}"))
                })?),
                Kind::Text => Value::from(value.to_owned()),
            };
            dict.insert((*field).to_owned(), typed);
        } else if IGNORED_PREFIXES.iter().any(|p| key.starts_with(p)) {
            tracing::debug!(key, "ignoring a Java-only configuration key");
        } else if let Some((field, id)) = key
            .strip_prefix("group.")
            .map(|gid| ("quorum_groups", gid))
            .or_else(|| {
                key.strip_prefix("weight.")
                    .map(|sid| ("quorum_weights", sid))
            })
        {
            let entry = dict
                .entry(field.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, lines) = entry {
                lines.insert(id.to_owned(), Value::from(value.to_owned()));
            }
        } else {
            tracing::warn!(key, file = %path.display(), line = index + 1, "unknown configuration key ignored");
        }
    }
    Ok(dynamic_file)
}

/// A key or trust store's format: its `.type` setting, else what ZooKeeper infers from the
/// file's extension (`.jks`, `.p12`/`.pfx`, `.bcfks`, `.pem`); `None` when neither tells.
fn store_format(location: Option<&Path>, kind: Option<&str>) -> Option<String> {
    if let Some(kind) = kind.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(kind.to_owned());
    }
    let extension = location?.extension()?.to_str()?.to_ascii_lowercase();
    let format = match extension.as_str() {
        "jks" => "JKS",
        "p12" | "pfx" => "PKCS12",
        "bcfks" => "BCFKS",
        "pem" => "PEM",
        _ => return None,
    };
    Some(format.to_owned())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Some(true),
        "false" | "no" => Some(false),
        _ => None,
    }
}

impl Provider for ZooCfg {
    fn metadata(&self) -> Metadata {
        Metadata::from("zoo.cfg", figment::Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, FigmentError> {
        Ok(Profile::Default.collect(self.dict.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg = ZooCfg::parse(Path::new("zoo.cfg"), text)?;
        Figment::from(Serialized::defaults(Config::default()))
            .merge(cfg)
            .extract::<Config>()
            .map_err(|e| ConfigError::Figment(Box::new(e)))
    }

    #[test]
    fn reads_a_zookeeper_zoo_cfg() {
        let config = parse(
            "# comment\ntickTime=3000\ndataDir=/var/zk\nclientPort=2191\n\
             4lw.commands.whitelist=*\nzookeeper.extendedTypesEnabled=true\nskipACL=yes\n\
             server.1=localhost:2888:3888\nserver.2=localhost:2889:3889:observer;2182\n\
             admin.serverPort=8080\nreadonlymode.enabled=true\n",
        )
        .unwrap();
        assert_eq!(config.tick_time, 3000);
        assert_eq!(config.data_dir, PathBuf::from("/var/zk"));
        assert_eq!(config.client_port, 2191);
        assert!(config.extended_types_enabled);
        assert!(config.skip_acl);
        assert!(config.read_only_mode_enabled);
        assert_eq!(config.servers.len(), 2);
        assert_eq!(config.servers["2"], "localhost:2889:3889:observer;2182");
        assert!(config.four_letter_word_allowed("mntr"));
    }

    #[test]
    fn bad_values_name_the_line() {
        let err = parse("tickTime=2000\nclientPort=abc\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("zoo.cfg:2"), "{text}");
        assert!(text.contains("clientPort"), "{text}");
    }

    #[test]
    fn session_timeout_defaults_follow_the_tick() {
        let config = parse("tickTime=2000\n").unwrap();
        assert_eq!(config.min_session_timeout(), 4000);
        assert_eq!(config.max_session_timeout(), 40000);
    }

    #[test]
    fn whitelist_defaults_to_srvr() {
        let config = Config::default();
        assert!(config.four_letter_word_allowed("srvr"));
        assert!(!config.four_letter_word_allowed("mntr"));
        let config = Config {
            four_letter_words_whitelist: "ruok, stat".into(),
            ..Config::default()
        };
        assert!(config.four_letter_word_allowed("stat"));
        assert!(!config.four_letter_word_allowed("srvr"));
    }

    #[test]
    fn server_lines_may_live_in_a_dynamic_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("zoo.cfg.dynamic.100000000"),
            "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
             server.2=127.0.0.2:2888:3888:participant;0.0.0.0:2182\ngroup.1=1:2\n\
             weight.2=3\nversion=100000000\n",
        )
        .unwrap();
        let zoo_cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &zoo_cfg,
            "tickTime=2000\ndataDir=/data\ndynamicConfigFile=zoo.cfg.dynamic.100000000\n",
        )
        .unwrap();
        let config = Config::load(Some(&zoo_cfg), Serialized::defaults(Dict::new())).unwrap();
        assert_eq!(config.servers.len(), 2);
        assert!(config.servers["2"].ends_with(";0.0.0.0:2182"));
        assert!(!config.client_port_given);
        assert_eq!(config.quorum_groups["1"], "1:2");
        assert_eq!(config.quorum_weights["2"], "3");

        // Only server, group, weight and version lines belong there.
        std::fs::write(
            dir.path().join("zoo.cfg.dynamic.100000000"),
            "server.1=127.0.0.1:2888:3888\ntickTime=10\n",
        )
        .unwrap();
        let error = Config::load(Some(&zoo_cfg), Serialized::defaults(Dict::new())).unwrap_err();
        assert!(error.to_string().contains("tickTime"), "{error}");

        let with_port = parse("clientPort=2181\n").unwrap();
        assert!(with_port.client_port_given);
        assert!(!parse("tickTime=2000\n").unwrap().client_port_given);
    }

    #[test]
    fn admin_server_keys_are_read_in_both_spellings() {
        let default = Config::default();
        assert!(default.admin_enable_server);
        assert_eq!(
            (
                default.admin_server_address.as_str(),
                default.admin_server_port
            ),
            ("127.0.0.1", 8080)
        );
        let config = parse(
            "admin.enableServer=false\nzookeeper.admin.serverPort=9090\n\
             admin.serverAddress=0.0.0.0\nadmin.commandURL=/cmd\n",
        )
        .unwrap();
        assert!(!config.admin_enable_server);
        assert_eq!(config.admin_server_port, 9090);
        assert_eq!(config.admin_server_address, "0.0.0.0");
        assert_eq!(config.admin_command_url, "/cmd");
    }

    #[test]
    fn client_certificates_need_a_trust_store() {
        use crate::tls::ClientAuth;
        let tls = "secureClientPort=2281\nssl.keyStore.location=/k.pem\n";
        let needs = parse(tls).unwrap();
        assert_eq!(needs.client_auth(), ClientAuth::Need);
        let error = needs.validate().unwrap_err().to_string();
        assert!(error.contains("ssl.trustStore.location"), "{error}");
        let trusted = parse(&format!(
            "{tls}ssl.trustStore.location=/ca.pem\nssl.clientAuth=Want\n\
             X509AuthenticationProvider.superUser=CN=admin\n"
        ))
        .unwrap();
        trusted.validate().unwrap();
        assert_eq!(trusted.client_auth(), ClientAuth::Want);
        assert_eq!(trusted.x509_super_user.as_deref(), Some("CN=admin"));
        let open = parse(&format!("{tls}ssl.clientAuth=none\n")).unwrap();
        open.validate().unwrap();
        let wrong = parse(&format!("{tls}ssl.clientAuth=maybe\n")).unwrap();
        assert!(wrong.validate().unwrap_err().to_string().contains("maybe"));
        // Without a TLS port nothing is asked of clients.
        parse("ssl.clientAuth=need\n").unwrap().validate().unwrap();
    }

    #[test]
    fn members_tls_settings_are_read_with_the_quorum_prefix() {
        let quorum = parse(
            "ssl.quorum.clientAuth=want\nssl.quorum.enabledProtocols=TLSv1.2\n\
             ssl.quorum.ciphersuites=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n\
             ssl.quorum.hostnameVerification=false\n",
        )
        .unwrap();
        quorum.validate().unwrap();
        let settings = quorum.quorum_tls_settings();
        assert_eq!(settings.client_auth, crate::tls::ClientAuth::Want);
        assert!(!settings.verify_names);
        assert_eq!(settings.choice.prefix, "ssl.quorum.");
        assert_eq!(
            settings.choice.enabled_protocols.as_deref(),
            Some("TLSv1.2")
        );
        assert_eq!(
            settings.choice.cipher_suites.as_deref(),
            Some("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
        );
        let defaults = parse("sslQuorum=false\n").unwrap().quorum_tls_settings();
        assert_eq!(defaults, zk_peer::PeerTlsSettings::default());
        let wrong = parse("ssl.quorum.clientAuth=sometimes\n").unwrap();
        let error = wrong.validate().unwrap_err().to_string();
        assert!(error.contains("ssl.quorum.clientAuth"), "{error}");
    }

    #[test]
    fn enforced_authentication_names_available_schemes() {
        let off = parse("enforce.auth.schemes=digest\n").unwrap();
        assert_eq!(off.enforced_auth_schemes(), None);
        let digest =
            parse("enforce.auth.enabled=true\nenforce.auth.schemes= digest , ip\n").unwrap();
        digest.validate().unwrap();
        assert_eq!(
            digest.enforced_auth_schemes(),
            Some(vec!["digest".to_string(), "ip".to_string()])
        );
        let unlisted = parse("enforce.auth.enabled=true\n").unwrap();
        assert!(
            unlisted
                .validate()
                .unwrap_err()
                .to_string()
                .contains("enforce.auth.schemes")
        );
        let sasl = parse("enforce.auth.enabled=true\nenforce.auth.schemes=sasl\n").unwrap();
        assert!(sasl.validate().unwrap_err().to_string().contains("sasl"));
        let sasl = parse(
            "sessionRequireClientSASLAuth=true\n\
             authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
        )
        .unwrap();
        sasl.validate().unwrap();
        assert_eq!(sasl.enforced_auth_schemes(), Some(vec!["sasl".to_string()]));
        let digest = "enforce.auth.enabled=true\nenforce.auth.schemes=digest\n";
        let no_digest = parse(&format!(
            "{digest}DigestAuthenticationProvider.enabled=false\n"
        ));
        assert!(no_digest.unwrap().validate().is_err());
        let x509 = parse("enforce.auth.enabled=true\nenforce.auth.schemes=x509\n").unwrap();
        assert!(x509.validate().is_err());
    }

    #[test]
    fn quorum_tls_needs_both_stores_and_verified_names() {
        assert!(!parse("").unwrap().ssl_quorum);
        let stores =
            "ssl.quorum.keyStore.location=/k.pem\nssl.quorum.trustStore.location=/ca.pem\n";
        let on = parse(&format!("sslQuorum=true\n{stores}")).unwrap();
        on.validate().unwrap();
        assert_eq!(
            on.ssl_quorum_trust_store_location.as_deref(),
            Some(Path::new("/ca.pem"))
        );
        let half = parse("sslQuorum=true\nssl.quorum.keyStore.location=/k.pem\n").unwrap();
        assert!(
            half.validate()
                .unwrap_err()
                .to_string()
                .contains("trustStore")
        );
        let unverified = parse(&format!(
            "sslQuorum=true\n{stores}ssl.quorum.hostnameVerification=false\n"
        ))
        .unwrap();
        unverified.validate().unwrap();
        assert!(!unverified.ssl_quorum_hostname_verification);
        let sasl = parse("quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\n");
        let refused = sasl.unwrap().validate().unwrap_err().to_string();
        assert!(refused.contains("sslQuorum"), "{refused}");
        parse("quorum.auth.enableSasl=true\n")
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn only_pem_stores_and_no_revocation_checks() {
        let refused = |text: &str| parse(text).unwrap().validate().unwrap_err().to_string();
        assert!(refused("ssl.keyStore.location=/k.jks\n").contains("JKS"));
        assert!(refused("ssl.quorum.trustStore.location=/t.p12\n").contains("PKCS12"));
        assert!(
            refused("ssl.trustStore.location=/t\nssl.trustStore.type=BCFKS\n").contains("BCFKS")
        );
        for ok in [
            "ssl.keyStore.location=/k.pem\n",
            "ssl.keyStore.location=/k\n",
            "ssl.keyStore.location=/k.jks\nssl.keyStore.type=pem\n",
        ] {
            parse(ok).unwrap().validate().unwrap();
        }
        assert!(refused("ssl.crl=true\n").contains("revocation"));
        assert!(refused("ssl.quorum.ocsp=true\n").contains("revocation"));
    }

    #[test]
    fn worker_threads_default_to_a_core_less_and_refuse_zero() {
        let config = parse("workerThreads=3\n").unwrap();
        assert_eq!(config.worker_threads(), 3);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            Config::default().worker_threads(),
            cores.saturating_sub(1).max(1)
        );
        let zero = Config {
            worker_threads: Some(0),
            ..Config::default()
        };
        assert!(zero.validate().is_err());
    }
}
