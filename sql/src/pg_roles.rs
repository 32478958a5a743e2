//! `pg_authid`, `pg_roles` and `pg_user` over Strata's roles ([`Roles::catalog`]):
//! `strata` (oid 10, PostgreSQL's bootstrap superuser's) and the roles of `roles.json`
//! with their stored oids. `pg_roles` and `pg_user` are PostgreSQL's view definitions over
//! `pg_authid` (the password masked). datafusion-pg-catalog's `pg_roles` gives every role
//! oid 0 and its `pg_authid` holds PostgreSQL's own rows; both are replaced, and
//! `pg_user`, which it lacks, is added.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::view::ViewTable;
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::error::Result as DfResult;
use datafusion::prelude::SessionContext;

use crate::roles::Roles;

/// The relations this module provides.
pub const TABLES: &[&str] = &["pg_authid", "pg_roles", "pg_user"];

const PG_ROLES: &str = "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, \
     rolcanlogin, rolreplication, rolconnlimit, '********' AS rolpassword, rolvaliduntil, \
     rolbypassrls, CAST(NULL AS VARCHAR[]) AS rolconfig, oid FROM pg_authid";

const PG_USER: &str = "SELECT rolname AS usename, oid AS usesysid, rolcreatedb AS usecreatedb, \
     rolsuper AS usesuper, rolreplication AS userepl, rolbypassrls AS usebypassrls, \
     '********' AS passwd, rolvaliduntil AS valuntil, rolconfig AS useconfig \
     FROM pg_roles WHERE rolcanlogin";

/// `pg_authid` as of now.
fn authid(roles: &Roles) -> DfResult<Arc<dyn TableProvider>> {
    let rows = roles.catalog();
    let b = |f: &dyn Fn(&crate::roles::CatalogRole) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("oid", DataType::Int32, false),
        Field::new("rolname", DataType::Utf8, false),
        Field::new("rolsuper", DataType::Boolean, false),
        Field::new("rolinherit", DataType::Boolean, false),
        Field::new("rolcreaterole", DataType::Boolean, false),
        Field::new("rolcreatedb", DataType::Boolean, false),
        Field::new("rolcanlogin", DataType::Boolean, false),
        Field::new("rolreplication", DataType::Boolean, false),
        Field::new("rolbypassrls", DataType::Boolean, false),
        Field::new("rolconnlimit", DataType::Int32, false),
        Field::new("rolpassword", DataType::Utf8, true),
        Field::new(
            "rolvaliduntil",
            DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC"))),
            true,
        ),
    ]));
    let n = rows.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(
            rows.iter()
                .map(|r| i32::try_from(r.oid).unwrap_or(i32::MAX))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        )),
        b(&|r| r.superuser),
        b(&|_| true),
        b(&|r| r.superuser),
        b(&|r| r.superuser),
        b(&|r| r.login),
        b(&|r| r.superuser),
        b(&|r| r.superuser),
        Arc::new(Int32Array::from(vec![-1; n])),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.password.clone()).collect::<Vec<_>>(),
        )),
        arrow::array::new_null_array(schema.field(11).data_type(), n),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// The relation `name` (one of [`TABLES`]), None for any other name.
pub async fn table(name: &str, roles: &Roles) -> DfResult<Option<Arc<dyn TableProvider>>> {
    if !TABLES.contains(&name) {
        return Ok(None);
    }
    let authid = authid(roles)?;
    if name == "pg_authid" {
        return Ok(Some(authid));
    }
    let ctx = SessionContext::new();
    ctx.register_table("pg_authid", authid)?;
    let roles_plan = ctx.sql(PG_ROLES).await?.into_unoptimized_plan();
    let pg_roles: Arc<dyn TableProvider> = Arc::new(ViewTable::new(roles_plan, None));
    if name == "pg_roles" {
        return Ok(Some(pg_roles));
    }
    ctx.register_table("pg_roles", pg_roles)?;
    let plan = ctx.sql(PG_USER).await?.into_unoptimized_plan();
    Ok(Some(Arc::new(ViewTable::new(plan, None))))
}
