//! `CREATE ROLE`, `ALTER ROLE`, `DROP ROLE` (and their `USER` spellings) over
//! [`crate::roles::Roles`].
//!
//! Strata has no privileges on data: every role that can log in may read and write every
//! table. Roles exist to give each client its own password. Only the superuser `strata`
//! may create and drop roles or change another role; any role may change its own password.

use sqlparser::ast::{self, AlterRoleOperation, Expr, RoleOption, Value};

use crate::ddl::{ident_name, object_name};
use crate::error::{Error, Result, SqlState};
use crate::roles::{Role, SUPERUSER, Verifier};
use crate::session::{Output, Session, starts_with_words};

fn command(tag: &str) -> Output {
    Output::Command {
        tag: tag.into(),
        params: vec![],
    }
}

fn denied(what: &str) -> Error {
    Error::with_hint(
        SqlState::InsufficientPrivilege,
        format!("permission denied to {what}"),
        format!(
            "Only the superuser {SUPERUSER} can manage roles; a role can change its own password."
        ),
    )
}

/// `CREATE USER ...` → `CREATE ROLE ... LOGIN`, `ALTER USER` → `ALTER ROLE` (PostgreSQL's
/// aliases, which sqlparser reads as other dialects' statements). One statement only.
pub fn user_to_role(sql: &str) -> Option<String> {
    let lead = if starts_with_words(sql, &["create", "user"]) {
        "CREATE ROLE"
    } else if starts_with_words(sql, &["alter", "user"]) {
        "ALTER ROLE"
    } else {
        return None;
    };
    // Skip the two leading words, keep the rest verbatim.
    let mut rest = sql.trim_start();
    for _ in 0..2 {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    let mut out = format!("{lead} {rest}");
    if lead == "CREATE ROLE"
        && !rest
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case("login") || w.eq_ignore_ascii_case("nologin"))
    {
        out.push_str(" LOGIN");
    }
    Some(out)
}

/// A password given as a string literal: a SCRAM-SHA-256 verifier is stored as is (as
/// PostgreSQL does, e.g. from pg_dumpall), anything else is the password itself.
fn verifier_of(p: &ast::Password) -> Result<Option<Verifier>> {
    let e = match p {
        ast::Password::NullPassword => return Ok(None),
        ast::Password::Password(e) => e,
    };
    let text = match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s.clone(),
            Value::DollarQuotedString(d) => d.value.clone(),
            Value::Null => return Ok(None),
            _ => return Err(not_a_string()),
        },
        _ => return Err(not_a_string()),
    };
    if text.is_empty() {
        // PostgreSQL: "empty string is not a valid password, clearing password".
        return Ok(None);
    }
    if text.starts_with("SCRAM-SHA-256$") {
        return Verifier::parse(&text).map(Some).ok_or_else(|| {
            Error::user(
                SqlState::InvalidParameterValue,
                "malformed SCRAM-SHA-256 verifier",
            )
        });
    }
    if text.len() == 35
        && text.starts_with("md5")
        && text[3..].chars().all(|c| c.is_ascii_hexdigit())
    {
        return Err(Error::with_hint(
            SqlState::FeatureNotSupported,
            "MD5 password hashes are not supported",
            "Give the password itself; it is stored as a SCRAM-SHA-256 verifier.",
        ));
    }
    Verifier::new(&text).map(Some)
}

fn not_a_string() -> Error {
    Error::user(
        SqlState::SyntaxError,
        "syntax error: the password must be a string literal",
    )
}

/// The options Strata keeps: LOGIN/NOLOGIN and PASSWORD; INHERIT is the default anyway.
#[derive(Default)]
struct Options {
    login: Option<bool>,
    password: Option<Option<Verifier>>,
}

fn unsupported_option(name: &str) -> Error {
    Error::with_hint(
        SqlState::FeatureNotSupported,
        format!("role option {name} is not supported"),
        "Strata roles have LOGIN/NOLOGIN and a PASSWORD; every role that can log in can read and write all tables.",
    )
}

fn options(opts: &[RoleOption]) -> Result<Options> {
    let mut o = Options::default();
    for opt in opts {
        match opt {
            RoleOption::Login(l) => o.login = Some(*l),
            RoleOption::Password(p) => o.password = Some(verifier_of(p)?),
            RoleOption::Inherit(true) => {}
            RoleOption::SuperUser(_) => return Err(unsupported_option("SUPERUSER")),
            RoleOption::CreateDB(_) => return Err(unsupported_option("CREATEDB")),
            RoleOption::CreateRole(_) => return Err(unsupported_option("CREATEROLE")),
            RoleOption::Replication(_) => return Err(unsupported_option("REPLICATION")),
            RoleOption::BypassRLS(_) => return Err(unsupported_option("BYPASSRLS")),
            RoleOption::ConnectionLimit(_) => return Err(unsupported_option("CONNECTION LIMIT")),
            RoleOption::ValidUntil(_) => return Err(unsupported_option("VALID UNTIL")),
            RoleOption::Inherit(false) => return Err(unsupported_option("NOINHERIT")),
        }
    }
    Ok(o)
}

fn is_superuser(session: &Session) -> bool {
    session.settings.user == SUPERUSER
}

/// `CREATE ROLE name [[WITH] LOGIN | NOLOGIN | PASSWORD '...' | PASSWORD NULL ...]`.
pub fn create_role(session: &Session, cr: &ast::CreateRole) -> Result<Output> {
    if !is_superuser(session) {
        return Err(denied("create role"));
    }
    let mut opts = vec![];
    if let Some(l) = cr.login {
        opts.push(RoleOption::Login(l));
    }
    if let Some(p) = &cr.password {
        opts.push(RoleOption::Password(p.clone()));
    }
    if let Some(b) = cr.inherit {
        opts.push(RoleOption::Inherit(b));
    }
    if let Some(b) = cr.superuser {
        opts.push(RoleOption::SuperUser(b));
    }
    if let Some(b) = cr.create_db {
        opts.push(RoleOption::CreateDB(b));
    }
    if let Some(b) = cr.create_role {
        opts.push(RoleOption::CreateRole(b));
    }
    if let Some(b) = cr.replication {
        opts.push(RoleOption::Replication(b));
    }
    if let Some(b) = cr.bypassrls {
        opts.push(RoleOption::BypassRLS(b));
    }
    if let Some(e) = &cr.connection_limit {
        opts.push(RoleOption::ConnectionLimit(e.clone()));
    }
    if let Some(e) = &cr.valid_until {
        opts.push(RoleOption::ValidUntil(e.clone()));
    }
    if !cr.in_role.is_empty() || !cr.in_group.is_empty() {
        return Err(unsupported_option("IN ROLE"));
    }
    if !cr.role.is_empty() || !cr.user.is_empty() || !cr.admin.is_empty() {
        return Err(unsupported_option("ROLE/ADMIN"));
    }
    if cr.authorization_owner.is_some() {
        return Err(unsupported_option("AUTHORIZATION"));
    }
    let o = options(&opts)?;
    let roles = session.engine().roles();
    let notice = session.notice_fn();
    for n in &cr.names {
        let name = object_name(n)?;
        let created = roles.create(
            &name,
            Role {
                // PostgreSQL: CREATE ROLE defaults to NOLOGIN (CREATE USER to LOGIN).
                login: o.login.unwrap_or(false),
                verifier: o.password.clone().flatten(),
            },
            cr.if_not_exists,
        )?;
        if !created {
            notice(format!("role \"{name}\" already exists, skipping"));
        }
    }
    Ok(command("CREATE ROLE"))
}

/// `ALTER ROLE name [WITH] option ...`.
pub fn alter_role(session: &Session, name: &ast::Ident, op: &AlterRoleOperation) -> Result<Output> {
    let name = ident_name(name);
    let AlterRoleOperation::WithOptions { options: opts } = op else {
        return Err(Error::unsupported(format!("ALTER ROLE {op}")));
    };
    let o = options(opts)?;
    let roles = session.engine().roles();
    let own_password_only = name == session.settings.user && o.login.is_none();
    if !is_superuser(session) && !own_password_only {
        return Err(denied("alter role"));
    }
    if !roles.exists(&name) {
        return Err(Error::user(
            SqlState::UndefinedObject,
            format!("role \"{name}\" does not exist"),
        ));
    }
    if name == SUPERUSER {
        if o.login == Some(false) {
            return Err(Error::user(
                SqlState::InsufficientPrivilege,
                format!("role \"{SUPERUSER}\" must be able to log in"),
            ));
        }
        if o.password.is_some() && roles.superuser_password_configured() {
            return Err(Error::with_hint(
                SqlState::InsufficientPrivilege,
                format!(
                    "the password of role \"{SUPERUSER}\" is set by the server's configuration"
                ),
                "Change STRATA_PASSWORD or the --password-file and restart the server.",
            ));
        }
    }
    roles.alter(&name, o.login, o.password)?;
    Ok(command("ALTER ROLE"))
}

/// `DROP ROLE [IF EXISTS] name [, ...]`.
pub fn drop_role(session: &Session, names: &[ast::ObjectName], if_exists: bool) -> Result<Output> {
    if !is_superuser(session) {
        return Err(denied("drop role"));
    }
    let names = names.iter().map(object_name).collect::<Result<Vec<_>>>()?;
    let missing = session.engine().roles().drop_roles(&names, if_exists)?;
    let notice = session.notice_fn();
    for m in missing {
        notice(format!("role \"{m}\" does not exist, skipping"));
    }
    Ok(command("DROP ROLE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_aliases() {
        assert_eq!(
            user_to_role("create user bob password 'x'").as_deref(),
            Some("CREATE ROLE bob password 'x' LOGIN")
        );
        assert_eq!(
            user_to_role("CREATE  USER bob NOLOGIN").as_deref(),
            Some("CREATE ROLE bob NOLOGIN")
        );
        assert_eq!(
            user_to_role("ALTER USER bob WITH PASSWORD 'y'").as_deref(),
            Some("ALTER ROLE bob WITH PASSWORD 'y'")
        );
        assert_eq!(user_to_role("create table users (x int)"), None);
    }
}
