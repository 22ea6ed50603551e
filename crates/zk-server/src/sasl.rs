//! SASL DIGEST-MD5 (RFC 2831) for the `sasl` request (opcode 102), as ZooKeeper's Java server runs
//! it with users from a JAAS `Server` section (client-protocol §7.18, §12).
//!
//! Two pure parts; only [`JaasUsers::load`] touches the disk:
//! * [`JaasUsers`]: the user → password table of a Java JAAS login configuration file.
//! * [`DigestMd5Server`]: the server side of one exchange. The client opens with a token (empty
//!   from every known client), the server answers with a challenge, the client answers with a
//!   digest response, and the server answers `rspauth=…`; the connection then holds
//!   `sasl:<user>`.
//!
//! Where RFC 2831 leaves room, Java's DIGEST-MD5 server (the one ZooKeeper uses) decides: the
//! choices it forces are noted where they are made.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// The protocol ZooKeeper gives Java's SASL server; a client's digest-uri starts with it.
pub const ZOOKEEPER_PROTOCOL: &str = "zookeeper";
/// ZooKeeper's hard-wired DIGEST-MD5 server name, which is also the one realm it offers.
pub const ZOOKEEPER_SERVER_NAME: &str = "zk-sasl-md5";
/// The JAAS section ZooKeeper reads (the Java property `zookeeper.sasl.serverconfig` renames it).
pub const DEFAULT_JAAS_SECTION: &str = "Server";

/// JAAS options naming a DIGEST-MD5 user: `user_<name>="<password>"`.
const USER_OPTION_PREFIX: &str = "user_";
/// Java makes its nonce from 30 random bytes (40 base64 characters).
const NONCE_BYTES: usize = 30;
/// Java hashes with its own nonce count, always 1, whatever `nc` the client sends: a nonce serves
/// one response only, so there is nothing to count.
const NONCE_COUNT: &[u8] = b"00000001";
/// The only quality of protection offered: authentication, no integrity or privacy layer.
const QOP_AUTH: &[u8] = b"auth";
/// Directives that may appear once in a response (Java rejects a repeat of each; `nc`, which it
/// ignores, may repeat).
const SINGLE_DIRECTIVES: &[&str] = &[
    "username",
    "realm",
    "nonce",
    "cnonce",
    "qop",
    "digest-uri",
    "response",
    "maxbuf",
    "charset",
    "cipher",
    "authzid",
];

// ---------------------------------------------------------------------------------------------
// JAAS users
// ---------------------------------------------------------------------------------------------

/// Why a JAAS file gave no user table.
#[derive(Debug, thiserror::Error)]
pub enum JaasError {
    #[error("cannot read JAAS file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("JAAS syntax error on line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("no '{0}' section in the JAAS configuration")]
    MissingSection(String),
    #[error("the JAAS section '{0}' appears more than once")]
    DuplicateSection(String),
}

/// The DIGEST-MD5 users of one JAAS section: every `user_<name>="<password>"` option of every
/// login module in it (a later one wins), as ZooKeeper's `SaslServerCallbackHandler` collects
/// them.
///
/// The parser follows Java's `ConfigFile` grammar (`Name { Class flag key=value ...; ... };`,
/// `//` and `/* */` comments) and also takes what Java refuses but people write: `#` comments,
/// single quotes, unquoted values, a missing `;`. Java's `${property}` expansion is not done.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct JaasUsers {
    passwords: BTreeMap<String, String>,
}

/// Names only: passwords must never reach a log line.
impl fmt::Debug for JaasUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JaasUsers")
            .field("users", &self.passwords.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JaasUsers {
    /// The users of the `Server` section of a JAAS file's text.
    pub fn parse(text: &str) -> Result<Self, JaasError> {
        Self::parse_section(text, DEFAULT_JAAS_SECTION)
    }

    /// The users of the named section; a file without it is an error, as in Java (the server
    /// cannot start).
    pub fn parse_section(text: &str, section: &str) -> Result<Self, JaasError> {
        let mut sections = parse_jaas(text)?;
        let options = sections
            .remove(section)
            .ok_or_else(|| JaasError::MissingSection(section.to_owned()))?;
        Ok(options
            .into_iter()
            .filter_map(|(key, value)| {
                key.strip_prefix(USER_OPTION_PREFIX)
                    .map(|user| (user.to_owned(), value))
            })
            .collect())
    }

    /// Reads the `Server` section of the JAAS file at `path`
    /// (`java.security.auth.login.config`).
    pub fn load(path: &Path) -> Result<Self, JaasError> {
        Self::load_section(path, DEFAULT_JAAS_SECTION)
    }

    pub fn load_section(path: &Path, section: &str) -> Result<Self, JaasError> {
        let text = std::fs::read_to_string(path).map_err(|source| JaasError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_section(&text, section)
    }

    /// Adds or replaces a user; ZooKeeper does this for `super` when
    /// `zookeeper.SASLAuthenticationProvider.superPassword` is set.
    pub fn insert(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.passwords.insert(user.into(), password.into());
    }

    pub fn password(&self, user: &str) -> Option<&str> {
        self.passwords.get(user).map(String::as_str)
    }

    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.passwords.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }
}

impl<U: Into<String>, P: Into<String>> FromIterator<(U, P)> for JaasUsers {
    fn from_iter<I: IntoIterator<Item = (U, P)>>(pairs: I) -> Self {
        let mut users = Self::default();
        for (user, password) in pairs {
            users.insert(user, password);
        }
        users
    }
}

/// A lexical token of a JAAS file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JaasToken {
    Word(String),
    Quoted(String),
    Open,
    Close,
    Semicolon,
    Equals,
}

impl JaasToken {
    fn describe(&self) -> String {
        match self {
            Self::Word(word) => format!("'{word}'"),
            Self::Quoted(text) => format!("\"{text}\""),
            Self::Open => "'{'".into(),
            Self::Close => "'}'".into(),
            Self::Semicolon => "';'".into(),
            Self::Equals => "'='".into(),
        }
    }

    /// The text of a word or quoted string, the two forms a name or value may take.
    fn into_text(self) -> Option<String> {
        match self {
            Self::Word(text) | Self::Quoted(text) => Some(text),
            _ => None,
        }
    }
}

/// Splits a JAAS file into tokens, skipping blanks and comments, with one token of lookahead.
struct JaasLexer<'a> {
    rest: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    peeked: Option<(JaasToken, usize)>,
}

impl<'a> JaasLexer<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text.chars().peekable(),
            line: 1,
            peeked: None,
        }
    }

    fn syntax(line: usize, message: impl Into<String>) -> JaasError {
        JaasError::Syntax {
            line,
            message: message.into(),
        }
    }

    fn peek(&mut self) -> Result<Option<&JaasToken>, JaasError> {
        if self.peeked.is_none() {
            self.peeked = self.read()?;
        }
        Ok(self.peeked.as_ref().map(|(token, _)| token))
    }

    fn next(&mut self) -> Result<Option<(JaasToken, usize)>, JaasError> {
        match self.peeked.take() {
            Some(token) => Ok(Some(token)),
            None => self.read(),
        }
    }

    /// The next token, where the end of the file would be an error.
    fn next_required(&mut self, expected: &str) -> Result<(JaasToken, usize), JaasError> {
        let line = self.line;
        self.next()?
            .ok_or_else(|| Self::syntax(line, format!("expected {expected}, found end of file")))
    }

    /// The next token as text (a word or a quoted string).
    fn next_text(&mut self, expected: &str) -> Result<(String, usize), JaasError> {
        let (token, line) = self.next_required(expected)?;
        let found = token.describe();
        token
            .into_text()
            .map(|text| (text, line))
            .ok_or_else(|| Self::syntax(line, format!("expected {expected}, found {found}")))
    }

    fn expect(&mut self, want: &JaasToken) -> Result<(), JaasError> {
        let (token, line) = self.next_required(&want.describe())?;
        if &token == want {
            Ok(())
        } else {
            Err(Self::syntax(
                line,
                format!("expected {}, found {}", want.describe(), token.describe()),
            ))
        }
    }

    fn read(&mut self) -> Result<Option<(JaasToken, usize)>, JaasError> {
        self.skip_blanks_and_comments()?;
        let line = self.line;
        let Some(first) = self.rest.next() else {
            return Ok(None);
        };
        let token = match first {
            '{' => JaasToken::Open,
            '}' => JaasToken::Close,
            ';' => JaasToken::Semicolon,
            '=' => JaasToken::Equals,
            '"' | '\'' => JaasToken::Quoted(self.quoted(first)?),
            _ => {
                let mut word = String::from(first);
                while let Some(&next) = self.rest.peek() {
                    if !is_jaas_word_char(next) || self.at_comment() {
                        break;
                    }
                    word.push(next);
                    self.rest.next();
                }
                JaasToken::Word(word)
            }
        };
        Ok(Some((token, line)))
    }

    /// The rest of a string opened by `quote`; backslash escapes the next character, as in Java.
    fn quoted(&mut self, quote: char) -> Result<String, JaasError> {
        let line = self.line;
        let unterminated = || Self::syntax(line, "unterminated quoted string");
        let mut text = String::new();
        loop {
            match self.rest.next() {
                None | Some('\n') => return Err(unterminated()),
                Some('\\') => match self.rest.next() {
                    None | Some('\n') => return Err(unterminated()),
                    Some('n') => text.push('\n'),
                    Some('t') => text.push('\t'),
                    Some('r') => text.push('\r'),
                    Some(other) => text.push(other),
                },
                Some(c) if c == quote => return Ok(text),
                Some(c) => text.push(c),
            }
        }
    }

    /// True if the input continues with `//` or `/*`.
    fn at_comment(&self) -> bool {
        let mut ahead = self.rest.clone();
        ahead.next() == Some('/') && matches!(ahead.next(), Some('/' | '*'))
    }

    fn skip_blanks_and_comments(&mut self) -> Result<(), JaasError> {
        loop {
            match self.rest.peek().copied() {
                Some('\n') => {
                    self.line += 1;
                    self.rest.next();
                }
                Some(c) if c.is_whitespace() => {
                    self.rest.next();
                }
                Some('#') => self.skip_line(),
                Some('/') if self.at_comment() => {
                    self.rest.next();
                    if self.rest.next() == Some('/') {
                        self.skip_line();
                    } else {
                        self.skip_block_comment()?;
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        while self.rest.peek().is_some_and(|&c| c != '\n') {
            self.rest.next();
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), JaasError> {
        let line = self.line;
        let mut previous = '\0';
        for c in self.rest.by_ref() {
            if c == '\n' {
                self.line += 1;
            }
            if previous == '*' && c == '/' {
                return Ok(());
            }
            previous = c;
        }
        Err(Self::syntax(line, "unterminated /* comment"))
    }
}

fn is_jaas_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '{' | '}' | ';' | '=' | '"' | '\'')
}

/// Java's control flags; anything else is a configuration error there too.
fn is_control_flag(flag: &str) -> bool {
    ["required", "requisite", "sufficient", "optional"]
        .iter()
        .any(|known| flag.eq_ignore_ascii_case(known))
}

/// Every section of a JAAS file, each with the options of all its login modules in file order.
fn parse_jaas(text: &str) -> Result<BTreeMap<String, Vec<(String, String)>>, JaasError> {
    let mut lexer = JaasLexer::new(text);
    let mut sections = BTreeMap::new();
    while let Some((token, line)) = lexer.next()? {
        let found = token.describe();
        let name = token.into_text().ok_or_else(|| {
            JaasLexer::syntax(line, format!("expected a section name, found {found}"))
        })?;
        lexer.expect(&JaasToken::Open)?;
        let options = parse_login_modules(&mut lexer)?;
        // Java requires the `;` after `}`; a missing one is forgiven.
        if lexer.peek()? == Some(&JaasToken::Semicolon) {
            lexer.next()?;
        }
        if sections.contains_key(&name) {
            return Err(JaasError::DuplicateSection(name));
        }
        sections.insert(name, options);
    }
    Ok(sections)
}

/// The login modules of one section up to its closing `}`: `Class flag key=value ... ;`.
fn parse_login_modules(lexer: &mut JaasLexer<'_>) -> Result<Vec<(String, String)>, JaasError> {
    let mut options = Vec::new();
    loop {
        let (token, line) = lexer.next_required("a login module or '}'")?;
        if token == JaasToken::Close {
            return Ok(options);
        }
        if token.clone().into_text().is_none() {
            return Err(JaasLexer::syntax(
                line,
                format!("expected a login module, found {}", token.describe()),
            ));
        }
        let (flag, line) = lexer.next_text("a control flag")?;
        if !is_control_flag(&flag) {
            return Err(JaasLexer::syntax(
                line,
                format!("invalid control flag '{flag}'"),
            ));
        }
        loop {
            match lexer.peek()? {
                Some(JaasToken::Semicolon) => {
                    lexer.next()?;
                    break;
                }
                // A module whose `;` is missing before the section's `}`.
                Some(JaasToken::Close) => break,
                _ => {}
            }
            let (key, _) = lexer.next_text("an option name, ';' or '}'")?;
            lexer.expect(&JaasToken::Equals)?;
            let (value, _) = lexer.next_text("an option value")?;
            options.push((key, value));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DIGEST-MD5 server
// ---------------------------------------------------------------------------------------------

/// Why an exchange failed; the connection answers AuthFailed (-115) for every one of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("the DIGEST-MD5 exchange is already over")]
    IllegalState,
    #[error("malformed DIGEST-MD5 response: {0}")]
    Malformed(String),
    #[error("unsupported charset {0:?}")]
    UnsupportedCharset(String),
    #[error("unsupported qop {0:?}: only auth is offered")]
    UnsupportedQop(String),
    #[error("realm {0:?} was not offered")]
    RealmMismatch(String),
    #[error("the nonce is not the one of the challenge")]
    NonceMismatch,
    #[error("digest-uri {found:?} is not {expected:?}")]
    DigestUriMismatch { found: String, expected: String },
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("credentials outside ISO-8859-1 need charset=utf-8")]
    UnencodableCredentials,
    #[error("wrong response digest (bad password)")]
    WrongResponse,
}

/// What the server sends back for one client token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes as the `SetSASLResponse` token and wait for the client's next token.
    Challenge(Vec<u8>),
    /// Authenticated: send `rspauth` as the token; the connection gains `sasl:<user>`.
    Done { rspauth: Vec<u8>, user: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExchangeState {
    Initial,
    Challenged,
    Complete,
    Failed,
}

/// The server side of one DIGEST-MD5 exchange (one per connection): challenge, then verify the
/// client's digest response against the JAAS password. No I/O; the nonce is given so that tests
/// are reproducible ([`DigestMd5Server::for_zookeeper`] draws a random one).
#[derive(Debug, Clone)]
pub struct DigestMd5Server {
    users: Arc<JaasUsers>,
    protocol: String,
    server_name: String,
    nonce: String,
    state: ExchangeState,
}

impl DigestMd5Server {
    /// An exchange for protocol `zookeeper` on `server_name` (which is also the realm offered),
    /// with the given nonce.
    pub fn new(users: Arc<JaasUsers>, server_name: impl Into<String>, nonce: String) -> Self {
        Self {
            users,
            protocol: ZOOKEEPER_PROTOCOL.to_owned(),
            server_name: server_name.into(),
            nonce,
            state: ExchangeState::Initial,
        }
    }

    /// What a ZooKeeper client connection uses: server name and realm `zk-sasl-md5`, a fresh
    /// random nonce.
    pub fn for_zookeeper(users: Arc<JaasUsers>) -> Self {
        Self::new(users, ZOOKEEPER_SERVER_NAME, random_nonce())
    }

    /// Another protocol in the digest-uri (ZooKeeper's quorum SASL uses `zookeeper-quorum`).
    pub fn with_protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = protocol.into();
        self
    }

    /// True once the client proved its password.
    pub fn is_complete(&self) -> bool {
        self.state == ExchangeState::Complete
    }

    /// The first challenge, as Java sends it (without `qop`, whose default is `auth`):
    /// `realm="zk-sasl-md5",nonce="…",charset=utf-8,algorithm=md5-sess`.
    pub fn start(&mut self) -> Result<Vec<u8>, SaslError> {
        if self.state != ExchangeState::Initial {
            return Err(SaslError::IllegalState);
        }
        self.state = ExchangeState::Challenged;
        Ok(format!(
            "realm={},nonce={},charset=utf-8,algorithm=md5-sess",
            quoted(&self.server_name),
            quoted(&self.nonce)
        )
        .into_bytes())
    }

    /// Handles one client token. The first one is answered with the challenge whatever it holds
    /// (clients send it empty; Java ignores its content); the second must be the digest
    /// response. A failure ends the exchange: every later call is `IllegalState`.
    pub fn step(&mut self, token: &[u8]) -> Result<Step, SaslError> {
        match self.state {
            ExchangeState::Initial => self.start().map(Step::Challenge),
            ExchangeState::Challenged => {
                let outcome = self.verify(token);
                self.state = match outcome {
                    Ok(_) => ExchangeState::Complete,
                    Err(_) => ExchangeState::Failed,
                };
                outcome
            }
            ExchangeState::Complete | ExchangeState::Failed => Err(SaslError::IllegalState),
        }
    }

    /// Checks a digest response (RFC 2831 §2.1.2) and makes the `rspauth` that proves the
    /// server knew the password too.
    fn verify(&self, token: &[u8]) -> Result<Step, SaslError> {
        let directives = Directives::parse(token)?;
        let utf8 = match directives.get("charset") {
            None => false,
            Some(b"utf-8") => true,
            Some(other) => return Err(SaslError::UnsupportedCharset(lossy(other))),
        };
        let username = decode(directives.require("username")?, utf8)?;
        // Java insists on a realm, and on the one it offered, byte for byte.
        let realm = decode(directives.require("realm")?, utf8)?;
        if realm != self.server_name {
            return Err(SaslError::RealmMismatch(realm));
        }
        let nonce = directives.require("nonce")?;
        if nonce != self.nonce.as_bytes() {
            return Err(SaslError::NonceMismatch);
        }
        let cnonce = directives.require("cnonce")?;
        let qop = directives.get("qop").unwrap_or(QOP_AUTH);
        if qop != QOP_AUTH {
            return Err(SaslError::UnsupportedQop(lossy(qop)));
        }
        let digest_uri = directives.get("digest-uri").unwrap_or_default();
        let expected_uri = format!("{}/{}", self.protocol, self.server_name);
        if !digest_uri.eq_ignore_ascii_case(expected_uri.as_bytes()) {
            return Err(SaslError::DigestUriMismatch {
                found: lossy(digest_uri),
                expected: expected_uri,
            });
        }
        let response = directives.require("response")?;
        let password = self
            .users
            .password(&username)
            .ok_or_else(|| SaslError::UnknownUser(username.clone()))?;

        // A1 = H(user:realm:password) ":" nonce ":" cnonce [":" authzid]
        let secret = md5_of(&[
            &credential_bytes(&username, utf8)?,
            b":",
            &credential_bytes(&realm, utf8)?,
            b":",
            &credential_bytes(password, utf8)?,
        ]);
        let mut a1: Vec<&[u8]> = vec![&secret, b":", nonce, b":", cnonce];
        if let Some(authzid) = directives.get("authzid") {
            a1.extend([b":".as_slice(), authzid]);
        }
        let ha1 = hex(&md5_of(&a1));

        let expected = digest_value(&ha1, nonce, cnonce, qop, &[b"AUTHENTICATE:", digest_uri]);
        if !constant_time_eq(expected.as_bytes(), response) {
            return Err(SaslError::WrongResponse);
        }
        let rspauth = digest_value(&ha1, nonce, cnonce, qop, &[b":", digest_uri]);
        // ZooKeeper's authorization id is the authentication id (an `authzid` does not change
        // it): for a plain user name Kerberos-style short-naming leaves it as it is.
        Ok(Step::Done {
            rspauth: format!("rspauth={rspauth}").into_bytes(),
            user: username,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The `sasl` ACL scheme
// ---------------------------------------------------------------------------------------------

/// ZooKeeper's `SASLAuthenticationProvider.isValid`: an id is a Kerberos-style principal, so one
/// with an `@` must read `name[/host]@REALM`; any other id (the empty one too) is valid.
pub fn is_valid_acl_id(id: &str) -> bool {
    match id.split_once('@') {
        None => true,
        Some((principal, realm)) => {
            !realm.contains(['/', '@']) && principal.matches('/').count() <= 1
        }
    }
}

/// ZooKeeper's `SASLAuthenticationProvider.matches`: a connection's `sasl:<identity>` satisfies
/// the ACL id if they are equal, and a SASL user named `super` satisfies every `sasl` entry.
pub fn acl_id_matches(identity: &str, acl_id: &str) -> bool {
    identity == "super" || identity == acl_id
}

/// A fresh nonce as Java makes it: 30 random bytes from a CSPRNG, base64 (40 characters).
pub fn random_nonce() -> String {
    let bytes: [u8; NONCE_BYTES] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `HEX(H(HEX(H(A1)) ":" nonce ":" nc ":" cnonce ":" qop ":" HEX(H(A2))))`, the value of both
/// `response` (A2 = "AUTHENTICATE:" digest-uri) and `rspauth` (A2 = ":" digest-uri).
fn digest_value(ha1: &str, nonce: &[u8], cnonce: &[u8], qop: &[u8], a2: &[&[u8]]) -> String {
    let ha2 = hex(&md5_of(a2));
    hex(&md5_of(&[
        ha1.as_bytes(),
        b":",
        nonce,
        b":",
        NONCE_COUNT,
        b":",
        cnonce,
        b":",
        qop,
        b":",
        ha2.as_bytes(),
    ]))
}

fn md5_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// Compares without stopping at the first difference, so timing says nothing about the digest.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// A quoted-string of RFC 2831 (backslash before `"` and `\`).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A directive's text: UTF-8 if the client said `charset=utf-8`, else ISO-8859-1 (RFC 2831).
fn decode(bytes: &[u8], utf8: bool) -> Result<String, SaslError> {
    if utf8 {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| SaslError::Malformed("a directive is not valid UTF-8".into()))
    } else {
        Ok(bytes.iter().copied().map(char::from).collect())
    }
}

/// The bytes of user, realm or password that go into the hash: ISO-8859-1 whenever every
/// character fits (RFC 2831 §2.1.2.1, and Java does so), else UTF-8 if the client chose it.
fn credential_bytes(text: &str, utf8: bool) -> Result<Vec<u8>, SaslError> {
    let latin1: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
    match latin1 {
        Some(bytes) => Ok(bytes),
        None if utf8 => Ok(text.as_bytes().to_vec()),
        None => Err(SaslError::UnencodableCredentials),
    }
}

/// The `name=value` directives of a digest response, names lower-cased, values unquoted.
struct Directives(BTreeMap<String, Vec<u8>>);

impl Directives {
    /// Parses `a=b, c="d\"e", …`: blanks around elements and empty elements are allowed; an
    /// element without `=` and unknown names are ignored (as Java does).
    fn parse(token: &[u8]) -> Result<Self, SaslError> {
        let mut map = BTreeMap::new();
        let mut cursor = Cursor(token);
        loop {
            cursor.skip(|b| b.is_ascii_whitespace() || b == b',');
            if cursor.is_empty() {
                return Ok(Self(map));
            }
            let name = cursor.take_while(|b| b != b'=' && b != b',').trim_ascii();
            if cursor.peek() != Some(b'=') {
                continue;
            }
            cursor.bump();
            cursor.skip(|b| b.is_ascii_whitespace());
            let value = if cursor.peek() == Some(b'"') {
                cursor.bump();
                let value = cursor.quoted_rest()?;
                cursor.skip(|b| b.is_ascii_whitespace());
                if !matches!(cursor.peek(), None | Some(b',')) {
                    return Err(SaslError::Malformed(format!(
                        "text after the quoted value of {}",
                        lossy(name)
                    )));
                }
                value
            } else {
                cursor.take_while(|b| b != b',').trim_ascii().to_vec()
            };
            let name = lossy(name).to_ascii_lowercase();
            if SINGLE_DIRECTIVES.contains(&name.as_str()) && map.contains_key(&name) {
                return Err(SaslError::Malformed(format!(
                    "more than one {name} directive"
                )));
            }
            map.insert(name, value);
        }
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(Vec::as_slice)
    }

    fn require(&self, name: &str) -> Result<&[u8], SaslError> {
        self.get(name)
            .ok_or_else(|| SaslError::Malformed(format!("missing {name}")))
    }
}

/// A read position in untrusted bytes; every step is bounds-checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let end = self
            .0
            .iter()
            .position(|&b| !keep(b))
            .unwrap_or(self.0.len());
        let (head, rest) = self.0.split_at(end);
        self.0 = rest;
        head
    }

    fn skip(&mut self, skip: impl Fn(u8) -> bool) {
        self.take_while(skip);
    }

    /// The rest of a quoted-string whose opening `"` was read.
    fn quoted_rest(&mut self) -> Result<Vec<u8>, SaslError> {
        let unmatched = || SaslError::Malformed("unmatched quote".into());
        let mut value = Vec::new();
        loop {
            match self.bump().ok_or_else(unmatched)? {
                b'"' => return Ok(value),
                b'\\' => value.push(self.bump().ok_or_else(unmatched)?),
                other => value.push(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JAAS file kazoo's test harness writes for its SASL digest tests.
    const KAZOO_JAAS: &str = r#"
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="super_secret"
    user_jaasuser="jaas_password";
};"#;

    fn kazoo_users() -> Arc<JaasUsers> {
        Arc::new(JaasUsers::parse(KAZOO_JAAS).unwrap())
    }

    fn zk_server(nonce: &str) -> DigestMd5Server {
        DigestMd5Server::new(kazoo_users(), ZOOKEEPER_SERVER_NAME, nonce.to_owned())
    }

    /// Runs a whole exchange: empty first token, then `response`.
    fn exchange(server: &mut DigestMd5Server, response: &[u8]) -> Result<Step, SaslError> {
        assert!(matches!(server.step(b"").unwrap(), Step::Challenge(_)));
        server.step(response)
    }

    /// A DIGEST-MD5 client computation, independent of the server code: the response to a
    /// challenge for protocol zookeeper, with the directives a test wants to vary.
    struct TestClient<'a> {
        user: &'a str,
        password: &'a str,
        realm: &'a str,
        digest_uri: &'a str,
        cnonce: &'a str,
        authzid: Option<&'a str>,
    }

    impl Default for TestClient<'_> {
        fn default() -> Self {
            Self {
                user: "jaasuser",
                password: "jaas_password",
                realm: "zk-sasl-md5",
                digest_uri: "zookeeper/zk-sasl-md5",
                cnonce: "OA6MHXh6VqTrRk",
                authzid: None,
            }
        }
    }

    fn md5_hex(data: &[u8]) -> String {
        format!("{:x}", Md5::digest(data))
    }

    impl TestClient<'_> {
        fn ha1(&self, nonce: &str) -> String {
            let mut a1 =
                Md5::digest(format!("{}:{}:{}", self.user, self.realm, self.password)).to_vec();
            a1.extend_from_slice(format!(":{nonce}:{}", self.cnonce).as_bytes());
            if let Some(authzid) = self.authzid {
                a1.extend_from_slice(format!(":{authzid}").as_bytes());
            }
            md5_hex(&a1)
        }

        fn kd(&self, nonce: &str, a2: &str) -> String {
            let ha2 = md5_hex(a2.as_bytes());
            let data = format!(
                "{}:{nonce}:00000001:{}:auth:{ha2}",
                self.ha1(nonce),
                self.cnonce
            );
            md5_hex(data.as_bytes())
        }

        fn response(&self, challenge: &[u8]) -> Vec<u8> {
            let challenge = std::str::from_utf8(challenge).unwrap();
            let nonce = challenge
                .split(',')
                .find_map(|d| d.strip_prefix("nonce=\""))
                .and_then(|d| d.strip_suffix('"'))
                .unwrap();
            let mut text = format!(
                "username=\"{}\",realm=\"{}\",nonce=\"{nonce}\",cnonce=\"{}\",nc=00000001,\
                 qop=auth,digest-uri=\"{}\",response={}",
                self.user,
                self.realm,
                self.cnonce,
                self.digest_uri,
                self.kd(nonce, &format!("AUTHENTICATE:{}", self.digest_uri)),
            );
            if let Some(authzid) = self.authzid {
                text.push_str(&format!(",authzid=\"{authzid}\""));
            }
            text.into_bytes()
        }

        fn expected_rspauth(&self, nonce: &str) -> Vec<u8> {
            format!(
                "rspauth={}",
                self.kd(nonce, &format!(":{}", self.digest_uri))
            )
            .into_bytes()
        }
    }

    /// Challenge, then this client's response to it.
    fn run_client(
        server: &mut DigestMd5Server,
        client: &TestClient<'_>,
    ) -> Result<Step, SaslError> {
        let Step::Challenge(challenge) = server.step(b"").unwrap() else {
            panic!("the first step must be a challenge");
        };
        server.step(&client.response(&challenge))
    }

    // --- RFC 2831 -----------------------------------------------------------------------------

    #[test]
    fn rfc2831_section4_example() {
        let users = Arc::new(JaasUsers::from_iter([("chris", "secret")]));
        let mut server =
            DigestMd5Server::new(users, "elwood.innosoft.com", "OA6MG9tEQGm2hh".into())
                .with_protocol("imap");
        let response = b"charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
            nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
            digest-uri=\"imap/elwood.innosoft.com\",\
            response=d388dad90d4bbd760a152321f2143af7,qop=auth";
        assert_eq!(
            exchange(&mut server, response).unwrap(),
            Step::Done {
                rspauth: b"rspauth=ea40f60335c427b5527b84dbabcdfffd".to_vec(),
                user: "chris".into(),
            }
        );
        assert!(server.is_complete());
    }

    // --- byte compatibility with the clients kazoo and Java use -----------------------------

    /// Captured with ZooKeeper 3.8's `SaslServerCallbackHandler` inside Java 17's DIGEST-MD5
    /// server (`Sasl.createSaslServer("DIGEST-MD5", "zookeeper", "zk-sasl-md5", null, h)`) and
    /// kazoo's client, puresasl 0.6, with its cnonce pinned to `4242424242424242`. puresasl
    /// accepted the server's rspauth. Our server, given Java's nonce, must send the same
    /// challenge and the same rspauth.
    #[test]
    fn puresasl_transcript_against_java_server() {
        let nonce = "11D4AduoEMC643wHPxmAppShSxD6JCcD8ILYENl3";
        let mut server = zk_server(nonce);
        assert_eq!(
            server.step(b"").unwrap(),
            Step::Challenge(
                b"realm=\"zk-sasl-md5\",nonce=\"11D4AduoEMC643wHPxmAppShSxD6JCcD8ILYENl3\",\
                  charset=utf-8,algorithm=md5-sess"
                    .to_vec()
            )
        );
        let response = b"qop=auth,realm=\"zk-sasl-md5\",username=\"jaasuser\",\
            nonce=\"11D4AduoEMC643wHPxmAppShSxD6JCcD8ILYENl3\",cnonce=\"4242424242424242\",\
            nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",\
            response=c19e2212ca9b4d45546aaeea7318fab2";
        assert_eq!(
            server.step(response).unwrap(),
            Step::Done {
                rspauth: b"rspauth=3422e8de629a1a3ab47841f64fc827e1".to_vec(),
                user: "jaasuser".into(),
            }
        );
    }

    /// puresasl with a wrong password and with an unknown user; Java answered "Mismatched
    /// response" to both.
    #[test]
    fn puresasl_bad_credentials_transcripts_fail() {
        let mut server = zk_server("yXzAyG7hXW5PwrVejZ5PddpCp0Tzht5ShG5v/LxV");
        let wrong_password = b"qop=auth,realm=\"zk-sasl-md5\",username=\"jaasuser\",\
            nonce=\"yXzAyG7hXW5PwrVejZ5PddpCp0Tzht5ShG5v/LxV\",cnonce=\"4242424242424242\",\
            nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",\
            response=33a14ed30820f5551859f274888c152f";
        assert_eq!(
            exchange(&mut server, wrong_password),
            Err(SaslError::WrongResponse)
        );

        let mut server = zk_server("EHeIULwyL5TZJ9UL2gy+6hbSkKjWseLW3PARUbjy");
        let unknown_user = b"qop=auth,realm=\"zk-sasl-md5\",username=\"baduser\",\
            nonce=\"EHeIULwyL5TZJ9UL2gy+6hbSkKjWseLW3PARUbjy\",cnonce=\"4242424242424242\",\
            nc=00000001,digest-uri=\"zookeeper/zk-sasl-md5\",\
            response=59db08fc82a38f83d8577f36a1ecc827";
        assert_eq!(
            exchange(&mut server, unknown_user),
            Err(SaslError::UnknownUser("baduser".into()))
        );
    }

    /// Java's own DIGEST-MD5 client as ZooKeeper's Java client sets it up (authzid = user,
    /// charset=utf-8, maxbuf), against Java's server.
    #[test]
    fn java_client_transcript() {
        let nonce = "jI2FUnA+LM7+8zC1G0k39sh9X6ABt1ZQTQ2w9rN5";
        let mut server = zk_server(nonce);
        let response = b"charset=utf-8,username=\"jaasuser\",realm=\"zk-sasl-md5\",\
            nonce=\"jI2FUnA+LM7+8zC1G0k39sh9X6ABt1ZQTQ2w9rN5\",nc=00000001,\
            cnonce=\"BnwE3fWLMYJdgKcle3ZSVTy3039/zsnHUqhjjsAU\",\
            digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,\
            response=9cc97f6e687538d78d9b83ca113e690d,qop=auth,authzid=\"jaasuser\"";
        assert_eq!(
            exchange(&mut server, response).unwrap(),
            Step::Done {
                rspauth: b"rspauth=d111e274215a9122d16ee22cb0c74df4".to_vec(),
                user: "jaasuser".into(),
            }
        );
    }

    /// Java client and server with non-ASCII users: `jäs`/`pässwörd` is hashed as ISO-8859-1,
    /// `名前`/`密码` as UTF-8.
    #[test]
    fn java_client_transcripts_with_non_ascii_credentials() {
        let users = Arc::new(JaasUsers::from_iter([
            ("jäs", "pässwörd"),
            ("名前", "密码"),
        ]));
        let cases = [
            (
                "0nWUA/Z6EaxUBctYj3iZCOdgO9ImJFxGuJ/5TBu5",
                "charset=utf-8,username=\"jäs\",realm=\"zk-sasl-md5\",\
                 nonce=\"0nWUA/Z6EaxUBctYj3iZCOdgO9ImJFxGuJ/5TBu5\",nc=00000001,\
                 cnonce=\"nXxuLfKIB3D+UPOx3TNjxc5UuDGQQWOBxmi93CM3\",\
                 digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,\
                 response=134ebbd32cb8df46666f69520192d1cc,qop=auth,authzid=\"jäs\"",
                "rspauth=865ee97c7e107065460eaa14451cb55c",
                "jäs",
            ),
            (
                "rBfKXY/ICzVE36gsZHTdoD/z0SJ+TuHxaOUikYmK",
                "charset=utf-8,username=\"名前\",realm=\"zk-sasl-md5\",\
                 nonce=\"rBfKXY/ICzVE36gsZHTdoD/z0SJ+TuHxaOUikYmK\",nc=00000001,\
                 cnonce=\"tciGGRhJokF1ZR57dnuin8mUt5i27iyi2uO4oITH\",\
                 digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,\
                 response=204a9d3c6f81e549d3933d1e74d04428,qop=auth,authzid=\"名前\"",
                "rspauth=dfb1c7e8bcb776ee13d8638ddbfa429c",
                "名前",
            ),
        ];
        for (nonce, response, rspauth, user) in cases {
            let mut server =
                DigestMd5Server::new(users.clone(), ZOOKEEPER_SERVER_NAME, nonce.into());
            assert_eq!(
                exchange(&mut server, response.as_bytes()).unwrap(),
                Step::Done {
                    rspauth: rspauth.as_bytes().to_vec(),
                    user: user.into(),
                }
            );
        }
    }

    // --- the exchange -------------------------------------------------------------------------

    #[test]
    fn full_exchange_with_a_computed_client() {
        let client = TestClient::default();
        let nonce = "bm9uY2Utb2YtdGhlLXRlc3Q=";
        let mut server = zk_server(nonce);
        assert!(!server.is_complete());
        assert_eq!(
            run_client(&mut server, &client).unwrap(),
            Step::Done {
                rspauth: client.expected_rspauth(nonce),
                user: "jaasuser".into(),
            }
        );
        assert!(server.is_complete());
        assert_eq!(server.step(b""), Err(SaslError::IllegalState));
    }

    #[test]
    fn authzid_enters_the_hash_but_not_the_identity() {
        let client = TestClient {
            authzid: Some("super"),
            ..TestClient::default()
        };
        let mut server = DigestMd5Server::for_zookeeper(kazoo_users());
        let Step::Done { user, .. } = run_client(&mut server, &client).unwrap() else {
            panic!("expected success");
        };
        assert_eq!(user, "jaasuser");
    }

    #[test]
    fn digest_uri_case_is_ignored_like_java() {
        let client = TestClient {
            digest_uri: "ZooKeeper/ZK-SASL-MD5",
            ..TestClient::default()
        };
        let mut server = DigestMd5Server::for_zookeeper(kazoo_users());
        assert!(matches!(
            run_client(&mut server, &client),
            Ok(Step::Done { .. })
        ));
    }

    #[test]
    fn a_non_empty_first_token_still_gets_the_challenge() {
        let mut server = zk_server("abc");
        let Step::Challenge(challenge) = server.step(b"garbage").unwrap() else {
            panic!("expected the challenge");
        };
        assert!(challenge.starts_with(b"realm=\"zk-sasl-md5\",nonce=\"abc\""));
        assert_eq!(server.start(), Err(SaslError::IllegalState));
    }

    #[test]
    fn random_nonces_look_like_javas() {
        let (a, b) = (random_nonce(), random_nonce());
        assert_eq!(a.len(), 40);
        assert_ne!(a, b);
        let decoded = base64::engine::general_purpose::STANDARD.decode(&a);
        assert_eq!(decoded.unwrap().len(), NONCE_BYTES);
    }

    // --- failures -----------------------------------------------------------------------------

    #[test]
    fn wrong_password_fails_and_ends_the_exchange() {
        let client = TestClient {
            password: "not_the_password",
            ..TestClient::default()
        };
        let mut server = zk_server("n1");
        assert_eq!(
            run_client(&mut server, &client),
            Err(SaslError::WrongResponse)
        );
        assert!(!server.is_complete());
        // A retry on the same exchange is refused, even with the right answer.
        let good = TestClient::default().response(b"nonce=\"n1\"");
        assert_eq!(server.step(&good), Err(SaslError::IllegalState));
    }

    #[test]
    fn unknown_user_fails() {
        let client = TestClient {
            user: "baduser",
            password: "badpassword",
            ..TestClient::default()
        };
        assert_eq!(
            run_client(&mut zk_server("n2"), &client),
            Err(SaslError::UnknownUser("baduser".into()))
        );
    }

    #[test]
    fn user_names_are_case_sensitive() {
        let client = TestClient {
            user: "JAASUSER",
            ..TestClient::default()
        };
        assert_eq!(
            run_client(&mut zk_server("n3"), &client),
            Err(SaslError::UnknownUser("JAASUSER".into()))
        );
    }

    #[test]
    fn tampered_nonce_fails() {
        let mut server = zk_server("the-real-nonce");
        server.step(b"").unwrap();
        // A response computed correctly, but for another nonce (a replay from another exchange).
        let replay = TestClient::default().response(b"nonce=\"an-old-nonce\"");
        assert_eq!(server.step(&replay), Err(SaslError::NonceMismatch));
    }

    #[test]
    fn tampered_response_fails() {
        let mut server = zk_server("n4");
        server.step(b"").unwrap();
        let mut response = TestClient::default().response(b"nonce=\"n4\"");
        let last = response.last_mut().unwrap();
        *last = if *last == b'0' { b'1' } else { b'0' };
        assert_eq!(server.step(&response), Err(SaslError::WrongResponse));
    }

    #[test]
    fn upper_case_response_digest_fails_like_java() {
        let mut server = zk_server("n5");
        server.step(b"").unwrap();
        let response = String::from_utf8(TestClient::default().response(b"nonce=\"n5\"")).unwrap();
        let (head, digest) = response.split_once("response=").unwrap();
        let shouted = format!("{head}response={}", digest.to_ascii_uppercase());
        assert_eq!(
            server.step(shouted.as_bytes()),
            Err(SaslError::WrongResponse)
        );
    }

    #[test]
    fn other_realm_or_digest_uri_fails() {
        let realm = TestClient {
            realm: "other",
            ..TestClient::default()
        };
        assert_eq!(
            run_client(&mut zk_server("n6"), &realm),
            Err(SaslError::RealmMismatch("other".into()))
        );
        let uri = TestClient {
            digest_uri: "zookeeper/localhost",
            ..TestClient::default()
        };
        assert!(matches!(
            run_client(&mut zk_server("n7"), &uri),
            Err(SaslError::DigestUriMismatch { .. })
        ));
    }

    /// Each response is a valid one with one directive changed, removed or repeated.
    #[test]
    fn malformed_responses_fail() {
        let valid = String::from_utf8(TestClient::default().response(b"nonce=\"n8\"")).unwrap();
        let without = |name: &str| {
            valid
                .split(',')
                .filter(|d| !d.starts_with(&format!("{name}=")))
                .collect::<Vec<_>>()
                .join(",")
        };
        let malformed = SaslError::Malformed(String::new());
        let cases = [
            ("garbage".to_owned(), &malformed),
            (String::new(), &malformed),
            (without("username"), &malformed),
            (without("realm"), &malformed),
            (without("nonce"), &malformed),
            (without("cnonce"), &malformed),
            (without("response"), &malformed),
            (format!("{valid},nonce=\"n8\""), &malformed),
            (format!("{valid},username=\"x\""), &malformed),
            (format!("{valid},foo=\"unterminated"), &malformed),
            (format!("{valid},foo=\"a\"b"), &malformed),
            (
                without("digest-uri"),
                &SaslError::DigestUriMismatch {
                    found: String::new(),
                    expected: String::new(),
                },
            ),
            (
                valid.replace("qop=auth", "qop=auth-int"),
                &SaslError::UnsupportedQop(String::new()),
            ),
            (
                valid.replace("qop=auth", "qop=AUTH"),
                &SaslError::UnsupportedQop(String::new()),
            ),
            (
                format!("{valid},charset=latin1"),
                &SaslError::UnsupportedCharset(String::new()),
            ),
            (
                format!("{valid},charset=UTF-8"),
                &SaslError::UnsupportedCharset(String::new()),
            ),
        ];
        for (response, expected) in cases {
            let error = exchange(&mut zk_server("n8"), response.as_bytes()).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&error),
                std::mem::discriminant(expected),
                "{response}: {error:?}"
            );
        }
        // Binary junk must not panic either.
        let junk: Vec<u8> = (0..=255).collect();
        assert!(exchange(&mut zk_server("n8"), &junk).is_err());
    }

    /// Java accepts these liberties, so clients may rely on them.
    #[test]
    fn tolerated_response_forms() {
        let valid = String::from_utf8(TestClient::default().response(b"nonce=\"n9\"")).unwrap();
        let variants = [
            valid.replace(',', " , "),
            valid.replace(',', ",,"),
            format!("{valid},"),
            valid.replace("qop=auth", "qop=\"auth\""),
            valid.replace('"', ""),
            valid.replace("username", "USERNAME"),
            valid.replace("nc=00000001", "nc=1"),
            valid.replace(",qop=auth", ""),
            valid.replace("realm=\"zk-sasl-md5\"", "realm=\"zk-sasl\\-md5\""),
            format!("{valid},foo=1,foo=2,bare,maxbuf=65536,cipher=rc4,nc=00000002"),
        ];
        for response in variants {
            let outcome = exchange(&mut zk_server("n9"), response.as_bytes());
            assert!(
                matches!(outcome, Ok(Step::Done { .. })),
                "{response}: {outcome:?}"
            );
        }
    }

    #[test]
    fn credentials_beyond_latin1_need_utf8() {
        assert_eq!(credential_bytes("jäs", false).unwrap(), b"j\xe4s");
        assert_eq!(credential_bytes("jäs", true).unwrap(), b"j\xe4s");
        assert_eq!(credential_bytes("名", true).unwrap(), "名".as_bytes());
        assert_eq!(
            credential_bytes("名", false),
            Err(SaslError::UnencodableCredentials)
        );
    }

    // --- the sasl ACL scheme -----------------------------------------------------------------

    /// Outcomes of ZooKeeper 3.8's `SASLAuthenticationProvider.isValid`, run on these ids.
    #[test]
    fn acl_ids_validated_like_zookeeper() {
        for id in [
            "", "jaasuser", "a/b", "a@R", "a/b@R", "a/b/c", "@", "a@", "/@",
        ] {
            assert!(is_valid_acl_id(id), "{id:?}");
        }
        for id in ["a@b@c", "a/b/c@R", "a@R/x"] {
            assert!(!is_valid_acl_id(id), "{id:?}");
        }
    }

    #[test]
    fn acl_matching_is_exact_except_for_super() {
        assert!(acl_id_matches("jaasuser", "jaasuser"));
        assert!(!acl_id_matches("jaasuser", "JAASUSER"));
        assert!(!acl_id_matches("other", "jaasuser"));
        assert!(acl_id_matches("super", "jaasuser"));
    }

    // --- JAAS ---------------------------------------------------------------------------------

    #[test]
    fn jaas_kazoo_file() {
        let users = JaasUsers::parse(KAZOO_JAAS).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users.password("jaasuser"), Some("jaas_password"));
        assert_eq!(users.password("super"), Some("super_secret"));
        assert_eq!(users.password("nobody"), None);
    }

    #[test]
    fn jaas_comments_sections_and_quoting_variants() {
        let text = r#"
// a line comment
/* a block
   comment */ Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="bob" password="client-side";
};
# a hash comment
Server{org.apache.zookeeper.server.auth.DigestLoginModule REQUIRED
  user_plain=unquoted_value user_single='single quoted'
  user_esc="say \"hi\"\\ok"   // trailing comment
  user_empty=""
  user_dup="first"
  user_dup = "second"
  debug="true";
  other.Module optional user_more="from another module";
}
Extra { x.Y sufficient user_notme="no"; };
"#;
        let users = JaasUsers::parse(text).unwrap();
        let names: Vec<&str> = users.usernames().collect();
        assert_eq!(names, ["dup", "empty", "esc", "more", "plain", "single"]);
        assert_eq!(users.password("plain"), Some("unquoted_value"));
        assert_eq!(users.password("single"), Some("single quoted"));
        assert_eq!(users.password("esc"), Some("say \"hi\"\\ok"));
        assert_eq!(users.password("empty"), Some(""));
        assert_eq!(users.password("dup"), Some("second"));
        assert_eq!(users.password("more"), Some("from another module"));

        let client = JaasUsers::parse_section(text, "Client").unwrap();
        assert!(client.is_empty(), "username= is not a user_ option");
        let extra = JaasUsers::parse_section(text, "Extra").unwrap();
        assert_eq!(extra.password("notme"), Some("no"));
    }

    #[test]
    fn jaas_module_without_semicolon_before_brace() {
        let users = JaasUsers::parse("Server { m required user_a=\"x\" };").unwrap();
        assert_eq!(users.password("a"), Some("x"));
        let empty = JaasUsers::parse("Server { };").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn jaas_errors() {
        let missing = JaasUsers::parse("Client { m required user_a=\"x\"; };");
        assert!(matches!(missing, Err(JaasError::MissingSection(s)) if s == "Server"));
        let twice = JaasUsers::parse("Server { m required; }; Server { m required; };");
        assert!(matches!(twice, Err(JaasError::DuplicateSection(_))));
        let syntax_line = |text: &str| match JaasUsers::parse(text) {
            Err(JaasError::Syntax { line, .. }) => line,
            other => panic!("{text:?} gave {other:?}"),
        };
        assert_eq!(
            syntax_line("Server {\n m required user_a=\"open\n\"; };"),
            2
        );
        assert_eq!(syntax_line("Server {\n m bogus user_a=\"x\"; };"), 2);
        assert_eq!(syntax_line("Server {\n\n m required user_a; };"), 3);
        assert_eq!(syntax_line("Server { m required user_a=\"x\";"), 1);
        assert_eq!(syntax_line("Server m required;"), 1);
        assert_eq!(syntax_line("/* never closed\n Server { };"), 1);
        assert_eq!(syntax_line("Server { m required = \"x\"; };"), 1);
    }

    #[test]
    fn jaas_debug_hides_passwords() {
        let shown = format!("{:?}", JaasUsers::parse(KAZOO_JAAS).unwrap());
        assert!(shown.contains("jaasuser"));
        assert!(!shown.contains("jaas_password"));
    }

    #[test]
    fn jaas_load_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jaas.conf");
        std::fs::write(&path, KAZOO_JAAS).unwrap();
        assert_eq!(JaasUsers::load(&path).unwrap(), *kazoo_users());
        let missing = JaasUsers::load(&dir.path().join("absent.conf"));
        assert!(matches!(missing, Err(JaasError::Read { .. })));
    }
}
