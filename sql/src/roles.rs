//! Roles and their passwords.
//!
//! A password is never kept in clear text: it becomes a SCRAM-SHA-256 verifier (RFC 5802/
//! 7677; PostgreSQL's `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` text,
//! base64 fields), from which a login can be checked (a cleartext password message, or a
//! SCRAM exchange) but the password cannot be recovered. Roles other than the built-in
//! superuser `strata` live in `<data dir>/roles.json`, rewritten atomically (temporary
//! file, fsync, rename, fsync of the directory) on every CREATE/ALTER/DROP ROLE.
//!
//! The superuser's password comes from the server's configuration (`STRATA_PASSWORD` or
//! `--password-file`, set with [`Roles::set_superuser_password`]); when none is
//! configured, `ALTER ROLE strata PASSWORD '...'` stores one in the file like any role's.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, SqlState};

/// The built-in superuser.
pub const SUPERUSER: &str = "strata";
/// PBKDF2 iterations of new verifiers (PostgreSQL's default `scram_iterations`).
pub const ITERATIONS: u32 = 4096;
/// The file holding the roles, in the data directory.
pub const ROLES_FILE: &str = "roles.json";
const SALT_LEN: usize = 16;
const KEY_LEN: usize = 32;

/// A SCRAM-SHA-256 verifier: what a server needs to check a password, not the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier(SCRAM-SHA-256, {} iterations)", self.iterations)
    }
}

fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::user(SqlState::Internal, "cannot read random bytes"))?;
    Ok(buf)
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&k, msg).as_ref().to_vec()
}

fn sha256(msg: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, msg).as_ref().to_vec()
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    // SASLprep as PostgreSQL does: a password that cannot be normalised is used as is.
    let normalized = stringprep::saslprep(password).unwrap_or(Cow::Borrowed(password));
    let mut out = vec![0u8; KEY_LEN];
    let iters = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iters,
        salt,
        normalized.as_bytes(),
        &mut out,
    );
    out
}

impl Verifier {
    /// A verifier for `password` with a fresh random salt.
    pub fn new(password: &str) -> Result<Verifier> {
        Ok(Self::with_salt(
            password,
            &random_bytes(SALT_LEN)?,
            ITERATIONS,
        ))
    }

    /// A verifier for `password` with the given salt and iteration count.
    pub fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// Parses PostgreSQL's text form `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(s: &str) -> Option<Verifier> {
        let rest = s.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iters, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iters.parse().ok().filter(|i| *i > 0)?;
        let salt = B64.decode(salt).ok()?;
        let stored_key = B64.decode(stored).ok()?;
        let server_key = B64.decode(server).ok()?;
        if salt.is_empty() || stored_key.len() != KEY_LEN || server_key.len() != KEY_LEN {
            return None;
        }
        Some(Verifier {
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }

    /// PostgreSQL's text form (what `pg_authid.rolpassword` shows).
    pub fn encode(&self) -> String {
        format!(
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key)
        )
    }

    /// True if `password` is the password this verifier was made from.
    pub fn check_password(&self, password: &str) -> bool {
        let other = Self::with_salt(password, &self.salt, self.iterations);
        same(&other.stored_key, &self.stored_key)
    }
}

/// One role as stored.
#[derive(Debug, Clone)]
pub struct Role {
    /// May connect (`LOGIN`).
    pub login: bool,
    pub verifier: Option<Verifier>,
}

/// A stored role with its oid.
#[derive(Debug, Clone)]
struct Stored {
    role: Role,
    oid: u32,
}

/// The oid of the built-in superuser (PostgreSQL's bootstrap superuser's).
pub const SUPERUSER_OID: u32 = 10;
/// The first oid given to a created role (PostgreSQL's `FirstNormalObjectId`).
const FIRST_ROLE_OID: u32 = 16384;

#[derive(Debug, Serialize, Deserialize)]
struct RoleRecord {
    name: String,
    /// Absent in files written before roles had oids: given at load (see [`Roles::open`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oid: Option<u32>,
    login: bool,
    /// The verifier's text form; `None`: no password (cannot log in with one).
    #[serde(default)]
    password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct RolesFile {
    version: u32,
    roles: Vec<RoleRecord>,
}

/// What a login attempt is checked against.
#[derive(Debug, Clone)]
pub struct LoginTarget {
    /// `None`: unknown role or no password; authentication fails (after going through
    /// the motions, so that the client cannot tell which).
    pub verifier: Option<Verifier>,
    /// The role exists but is `NOLOGIN`.
    pub login_refused: bool,
}

/// All roles.
#[derive(Debug)]
pub struct Roles {
    path: Option<PathBuf>,
    roles: parking_lot::RwLock<BTreeMap<String, Stored>>,
    /// Serialises changes (file write included).
    write: parking_lot::Mutex<()>,
    /// The superuser's verifier from the configuration; wins over a stored one.
    configured: parking_lot::RwLock<Option<Verifier>>,
    /// Secret for the fake salts of unknown roles (stable for the process lifetime).
    mock_secret: Vec<u8>,
}

impl Roles {
    /// Roles kept in memory only (tests).
    pub fn in_memory() -> Result<Roles> {
        Ok(Roles {
            path: None,
            roles: Default::default(),
            write: Default::default(),
            configured: Default::default(),
            mock_secret: random_bytes(32)?,
        })
    }

    /// Loads `<data_dir>/roles.json` (none yet: no roles besides `strata`). A role stored
    /// without an oid (an older file) gets the next free one, in name order, so the same
    /// file always gives the same oids; the next change of the roles stores them.
    pub fn open(data_dir: &Path) -> Result<Roles> {
        let path = data_dir.join(ROLES_FILE);
        let mut map = BTreeMap::new();
        let mut without_oid = vec![];
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: RolesFile = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::user(
                        SqlState::DataCorrupted,
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                for r in file.roles {
                    let verifier = match &r.password {
                        None => None,
                        Some(p) => Some(Verifier::parse(p).ok_or_else(|| {
                            Error::user(
                                SqlState::DataCorrupted,
                                format!(
                                    "cannot read {}: the password verifier of role \"{}\" is malformed",
                                    path.display(),
                                    r.name
                                ),
                            )
                        })?),
                    };
                    let role = Role {
                        login: r.login,
                        verifier,
                    };
                    match r.oid {
                        Some(oid) => {
                            map.insert(r.name, Stored { role, oid });
                        }
                        None => without_oid.push((r.name, role)),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::user(
                    SqlState::IoError,
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        }
        without_oid.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, role) in without_oid {
            let oid = next_oid(&map);
            map.insert(name, Stored { role, oid });
        }
        let mut r = Self::in_memory()?;
        r.path = Some(path);
        *r.roles.get_mut() = map;
        Ok(r)
    }

    /// Sets the superuser's password from the configuration (it wins over a stored one).
    pub fn set_superuser_password(&self, password: &str) -> Result<()> {
        *self.configured.write() = Some(Verifier::new(password)?);
        Ok(())
    }

    /// True if the superuser's password comes from the configuration.
    pub fn superuser_password_configured(&self) -> bool {
        self.configured.read().is_some()
    }

    /// True if `name` exists and has a password.
    pub fn has_password(&self, name: &str) -> bool {
        self.login_target(name).verifier.is_some()
    }

    /// True if a role of that name exists (`strata` always does).
    pub fn exists(&self, name: &str) -> bool {
        name == SUPERUSER || self.roles.read().contains_key(name)
    }

    /// The names of the stored roles.
    pub fn names(&self) -> Vec<String> {
        self.roles.read().keys().cloned().collect()
    }

    /// Every role as the catalog lists it: `strata` first, then the stored roles by name.
    pub fn catalog(&self) -> Vec<CatalogRole> {
        let stored = self.roles.read();
        let superuser_verifier = self
            .configured
            .read()
            .clone()
            .or_else(|| stored.get(SUPERUSER).and_then(|r| r.role.verifier.clone()));
        let mut out = vec![CatalogRole {
            oid: SUPERUSER_OID,
            name: SUPERUSER.to_string(),
            superuser: true,
            login: true,
            password: superuser_verifier.map(|v| v.encode()),
        }];
        out.extend(
            stored
                .iter()
                .filter(|(n, _)| n.as_str() != SUPERUSER)
                .map(|(n, r)| CatalogRole {
                    oid: r.oid,
                    name: n.clone(),
                    superuser: false,
                    login: r.role.login,
                    password: r.role.verifier.as_ref().map(Verifier::encode),
                }),
        );
        out
    }

    /// What a login as `name` is checked against.
    pub fn login_target(&self, name: &str) -> LoginTarget {
        if name == SUPERUSER {
            let verifier = self.configured.read().clone().or_else(|| {
                self.roles
                    .read()
                    .get(SUPERUSER)
                    .and_then(|r| r.role.verifier.clone())
            });
            return LoginTarget {
                verifier,
                login_refused: false,
            };
        }
        match self.roles.read().get(name) {
            Some(r) => LoginTarget {
                verifier: r.role.verifier.clone(),
                login_refused: !r.role.login,
            },
            None => LoginTarget {
                verifier: None,
                login_refused: false,
            },
        }
    }

    /// Checks a cleartext password for `name`. Unknown roles and roles without a password
    /// fail, after the same amount of work.
    pub fn check_password(&self, name: &str, password: &str) -> bool {
        match self.login_target(name).verifier {
            Some(v) => v.check_password(password),
            None => {
                let _ = Verifier::with_salt(password, &self.mock_salt(name), ITERATIONS);
                false
            }
        }
    }

    /// A salt for an unknown role that stays the same across attempts (as PostgreSQL's
    /// mock authentication does), so that probing does not reveal which roles exist.
    fn mock_salt(&self, name: &str) -> Vec<u8> {
        let mut m = hmac_sha256(&self.mock_secret, name.as_bytes());
        m.truncate(SALT_LEN);
        m
    }

    /// Starts a SCRAM-SHA-256 exchange for `name` with the client-first message; returns
    /// the state and the server-first message.
    pub fn scram_start(
        &self,
        name: &str,
        client_first: &[u8],
    ) -> std::result::Result<(ScramServer, String), ScramError> {
        let verifier = self.login_target(name).verifier;
        let (verifier, mock) = match verifier {
            Some(v) => (v, false),
            None => (
                Verifier {
                    iterations: ITERATIONS,
                    salt: self.mock_salt(name),
                    stored_key: vec![0; KEY_LEN],
                    server_key: vec![0; KEY_LEN],
                },
                true,
            ),
        };
        ScramServer::start(verifier, mock, client_first)
    }

    /// Creates a role.
    pub fn create(&self, name: &str, role: Role, if_not_exists: bool) -> Result<bool> {
        let _w = self.write.lock();
        if self.exists(name) {
            if if_not_exists {
                return Ok(false);
            }
            return Err(Error::user(
                SqlState::DuplicateObject,
                format!("role \"{name}\" already exists"),
            ));
        }
        let mut next = self.roles.read().clone();
        let oid = next_oid(&next);
        next.insert(name.to_string(), Stored { role, oid });
        self.publish(next)?;
        Ok(true)
    }

    /// Changes a role: `login` and/or `verifier` (`Some(None)` removes the password).
    pub fn alter(
        &self,
        name: &str,
        login: Option<bool>,
        verifier: Option<Option<Verifier>>,
    ) -> Result<()> {
        let _w = self.write.lock();
        if !self.exists(name) {
            return Err(does_not_exist(name));
        }
        let mut next = self.roles.read().clone();
        let oid = next_oid(&next);
        let entry = &mut next
            .entry(name.to_string())
            .or_insert(Stored {
                role: Role {
                    login: true,
                    verifier: None,
                },
                oid,
            })
            .role;
        if let Some(l) = login {
            entry.login = l;
        }
        if let Some(v) = verifier {
            entry.verifier = v;
        }
        self.publish(next)
    }

    /// Drops roles; with `if_exists`, missing ones are skipped and returned.
    pub fn drop_roles(&self, names: &[String], if_exists: bool) -> Result<Vec<String>> {
        let _w = self.write.lock();
        let mut missing = vec![];
        for n in names {
            if n == SUPERUSER {
                return Err(Error::user(
                    SqlState::DependentObjectsStillExist,
                    format!(
                        "cannot drop role {SUPERUSER} because it is required by the database system"
                    ),
                ));
            }
            if !self.exists(n) {
                if !if_exists {
                    return Err(does_not_exist(n));
                }
                missing.push(n.clone());
            }
        }
        let mut next = self.roles.read().clone();
        for n in names {
            next.remove(n);
        }
        self.publish(next)?;
        Ok(missing)
    }

    /// Writes the roles durably, then makes them current.
    fn publish(&self, next: BTreeMap<String, Stored>) -> Result<()> {
        if let Some(path) = &self.path {
            let file = RolesFile {
                version: 1,
                roles: next
                    .iter()
                    .map(|(name, r)| RoleRecord {
                        name: name.clone(),
                        oid: Some(r.oid),
                        login: r.role.login,
                        password: r.role.verifier.as_ref().map(Verifier::encode),
                    })
                    .collect(),
            };
            let bytes = serde_json::to_vec_pretty(&file).map_err(|e| {
                Error::user(SqlState::Internal, format!("cannot encode roles: {e}"))
            })?;
            write_private(path, &bytes)?;
        }
        *self.roles.write() = next;
        Ok(())
    }
}

/// The oid for a new role: past every stored one (never reused while a later role lives).
fn next_oid(roles: &BTreeMap<String, Stored>) -> u32 {
    roles
        .values()
        .map(|r| r.oid.saturating_add(1))
        .max()
        .unwrap_or(FIRST_ROLE_OID)
        .max(FIRST_ROLE_OID)
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the
/// directory), readable by the server's user only: verifiers are not passwords, but an
/// offline guessing attack needs one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |p: &Path, e: std::io::Error| {
        Error::user(
            SqlState::IoError,
            format!("cannot write {}: {e}", p.display()),
        )
    };
    let tmp = path.with_extension("json.tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    if let Some(dir) = path.parent() {
        strata_storage::fsutil::sync_dir(dir)?;
    }
    Ok(())
}

fn does_not_exist(name: &str) -> Error {
    Error::user(
        SqlState::UndefinedObject,
        format!("role \"{name}\" does not exist"),
    )
}

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    /// The client's message does not follow the protocol.
    Malformed(String),
    /// Wrong password (or unknown role, or no password).
    Failed,
}

/// Server side of one SCRAM-SHA-256 exchange (no channel binding), after server-first.
#[derive(Debug)]
pub struct ScramServer {
    verifier: Verifier,
    mock: bool,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

fn malformed(what: &str) -> ScramError {
    ScramError::Malformed(format!("malformed SCRAM message ({what})"))
}

impl ScramServer {
    fn start(
        verifier: Verifier,
        mock: bool,
        client_first: &[u8],
    ) -> std::result::Result<(ScramServer, String), ScramError> {
        let msg = std::str::from_utf8(client_first).map_err(|_| malformed("not UTF-8"))?;
        // gs2-header: cbind-flag "," [authzid] ","
        let (flag, rest) = msg
            .split_once(',')
            .ok_or_else(|| malformed("no GS2 header"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => {
                return Err(ScramError::Malformed(
                    "channel binding is not supported by this server; connect with channel_binding=disable or prefer".into(),
                ));
            }
            _ => return Err(malformed("unexpected channel binding flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or_else(|| malformed("no GS2 header"))?;
        if !authzid.is_empty() {
            return Err(ScramError::Malformed(
                "client uses authorization identity, but it is not supported".into(),
            ));
        }
        let mut parts = bare.split(',');
        let user = parts.next().unwrap_or_default();
        if user.starts_with("m=") {
            return Err(malformed("mandatory extension is not supported"));
        }
        if !user.starts_with("n=") {
            return Err(malformed("no user name attribute"));
        }
        let client_nonce = parts
            .next()
            .and_then(|p| p.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| malformed("no nonce"))?;
        let server_nonce = random_bytes(18).map_err(|_| malformed("no randomness"))?;
        let nonce = format!("{client_nonce}{}", B64.encode(server_nonce));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&verifier.salt),
            verifier.iterations
        );
        Ok((
            ScramServer {
                verifier,
                mock,
                gs2_header: format!("{flag},,"),
                client_first_bare: bare.to_string(),
                server_first: server_first.clone(),
                nonce,
            },
            server_first,
        ))
    }

    /// Checks the client-final message; returns the server-final message.
    pub fn finish(self, client_final: &[u8]) -> std::result::Result<String, ScramError> {
        let msg = std::str::from_utf8(client_final).map_err(|_| malformed("not UTF-8"))?;
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("no proof"))?;
        let mut parts = without_proof.split(',');
        let cbind = parts
            .next()
            .and_then(|p| p.strip_prefix("c="))
            .ok_or_else(|| malformed("no channel binding attribute"))?;
        if B64.decode(cbind).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(malformed("unexpected channel binding data"));
        }
        let nonce = parts
            .next()
            .and_then(|p| p.strip_prefix("r="))
            .ok_or_else(|| malformed("no nonce"))?;
        if nonce != self.nonce {
            return Err(malformed("nonce does not match"));
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| malformed("proof is not base64"))?;
        if proof.len() != KEY_LEN {
            return Err(malformed("proof has the wrong length"));
        }
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let client_signature = hmac_sha256(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let ok = same(&sha256(&client_key), &self.verifier.stored_key);
        if !ok || self.mock {
            return Err(ScramError::Failed);
        }
        let server_signature = hmac_sha256(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

/// A role as `pg_authid` shows it (see [`Roles::catalog`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRole {
    pub oid: u32,
    pub name: String,
    /// `strata` only: also CREATEROLE, CREATEDB, REPLICATION and BYPASSRLS, as
    /// PostgreSQL's bootstrap superuser.
    pub superuser: bool,
    pub login: bool,
    /// The verifier's text form.
    pub password: Option<String>,
}

/// The roles as datafusion-pg-catalog lists them to its functions (its `pg_roles` is
/// replaced by `pg_roles::RoleTable`, which has the oids): `strata` (superuser) and every
/// stored role.
#[derive(Debug, Clone)]
pub struct CatalogRoles(pub std::sync::Arc<Roles>);

#[async_trait::async_trait]
impl datafusion_pg_catalog::pg_catalog::context::PgCatalogContextProvider for CatalogRoles {
    async fn roles(&self) -> Vec<String> {
        self.0.catalog().into_iter().map(|r| r.name).collect()
    }

    // Always Some: the crate unwraps it for every name `roles` listed (a role dropped in
    // between shows as one that cannot log in).
    async fn role(&self, name: &str) -> Option<datafusion_pg_catalog::pg_catalog::context::Role> {
        let r = self.0.catalog().into_iter().find(|r| r.name == name);
        let superuser = r.as_ref().is_some_and(|r| r.superuser);
        Some(datafusion_pg_catalog::pg_catalog::context::Role {
            name: name.to_string(),
            is_superuser: superuser,
            can_login: r.is_some_and(|r| r.login),
            can_create_db: superuser,
            can_create_role: superuser,
            can_create_user: superuser,
            can_replication: superuser,
            grants: vec![],
            inherited_roles: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client side of SCRAM-SHA-256 (RFC 5802) to drive the server.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str) -> String {
        let mut salt = None;
        let mut iters = 0;
        let mut nonce = "";
        for p in server_first.split(',') {
            if let Some(s) = p.strip_prefix("s=") {
                salt = Some(B64.decode(s).unwrap());
            } else if let Some(i) = p.strip_prefix("i=") {
                iters = i.parse().unwrap();
            } else if let Some(n) = p.strip_prefix("r=") {
                nonce = n;
            }
        }
        let salted = salted_password(password, &salt.unwrap(), iters);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored = sha256(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac_sha256(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    fn login(roles: &Roles, user: &str, password: &str) -> std::result::Result<String, ScramError> {
        let bare = "n=,r=abcdefghijklmnop";
        let (srv, first) = roles.scram_start(user, format!("n,,{bare}").as_bytes())?;
        srv.finish(client_final(password, bare, &first).as_bytes())
    }

    #[test]
    fn verifier_round_trips_and_checks() {
        let v = Verifier::new("s3cret").unwrap();
        let text = v.encode();
        assert!(text.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!text.contains("s3cret"));
        let back = Verifier::parse(&text).unwrap();
        assert_eq!(back, v);
        assert!(back.check_password("s3cret"));
        assert!(!back.check_password("s3cret "));
        assert!(Verifier::parse("md5abc").is_none());
    }

    /// RFC 7677's test vector: user "user", password "pencil".
    #[test]
    fn rfc7677_vector() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = Verifier::with_salt("pencil", &salt, 4096);
        let (srv, first) =
            ScramServer::start(v, false, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        // Replace the random server nonce with the RFC's to reproduce its proof.
        let srv = ScramServer {
            nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into(),
            server_first:
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
                    .into(),
            ..srv
        };
        assert!(first.starts_with("r=rOprNGfwEbeRWgbNEkqO"));
        let fin = srv
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(fin, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    #[test]
    fn scram_right_wrong_unknown() {
        let roles = Roles::in_memory().unwrap();
        roles
            .create(
                "bob",
                Role {
                    login: true,
                    verifier: Some(Verifier::new("pw").unwrap()),
                },
                false,
            )
            .unwrap();
        assert!(login(&roles, "bob", "pw").is_ok());
        assert_eq!(login(&roles, "bob", "nope"), Err(ScramError::Failed));
        assert_eq!(login(&roles, "alice", "pw"), Err(ScramError::Failed));
        // Unknown roles get a stable salt, like real ones.
        let s1 = roles.scram_start("alice", b"n,,n=,r=x").unwrap().1;
        let s2 = roles.scram_start("alice", b"n,,n=,r=x").unwrap().1;
        let salt = |s: &str| s.split(',').nth(1).unwrap().to_string();
        assert_eq!(salt(&s1), salt(&s2));
        assert!(matches!(
            roles.scram_start("bob", b"p=tls-server-end-point,,n=,r=x"),
            Err(ScramError::Malformed(_))
        ));
    }

    #[test]
    fn persisted_without_clear_text() {
        let dir = tempfile::tempdir().unwrap();
        let roles = Roles::open(dir.path()).unwrap();
        roles
            .create(
                "carol",
                Role {
                    login: true,
                    verifier: Some(Verifier::new("hunter2-secret").unwrap()),
                },
                false,
            )
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join(ROLES_FILE)).unwrap();
        assert!(!text.contains("hunter2"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ROLES_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(text.contains("SCRAM-SHA-256$4096:"));
        let again = Roles::open(dir.path()).unwrap();
        assert!(again.check_password("carol", "hunter2-secret"));
        assert!(!again.check_password("carol", "hunter3-secret"));
        assert!(matches!(
            again.create("carol", Role { login: true, verifier: None }, false),
            Err(e) if e.sqlstate() == SqlState::DuplicateObject
        ));
        again.drop_roles(&["carol".into()], false).unwrap();
        assert!(!Roles::open(dir.path()).unwrap().exists("carol"));
    }
}
