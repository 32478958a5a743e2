//! `pg_get_viewdef(oid [, pretty])`: the defining query of a view or continuous aggregate
//! (SQLAlchemy's `get_view_definition`, psql's `\d+ view`). PostgreSQL prints the query
//! it deparses from its parse tree (` SELECT t.a, ...;`); Strata keeps the text as the user
//! wrote it after `AS` and answers that. NULL for any other oid.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use strata_storage::Storage;

use crate::engine::SCHEMA;

/// Registers `pg_get_viewdef`.
pub fn register(ctx: &SessionContext, storage: &Arc<Storage>) {
    let st = Arc::clone(storage);
    ctx.register_udf(crate::pg_functions::array_udf(
        "pg_get_viewdef",
        crate::pg_functions::any_signature(&[1, 2]),
        DataType::Utf8,
        move |a, _| {
            let cat = st.catalog();
            let defs: Vec<(i64, &str)> = cat
                .views
                .iter()
                .map(|v| (v.name.as_str(), v.sql.as_str()))
                .chain(cat.caggs.iter().map(|v| (v.name.as_str(), v.sql.as_str())))
                .map(|(name, sql)| (i64::from(crate::pg_relations::rel_oid(SCHEMA, name)), sql))
                .collect();
            let oids = cast(&a[0], &DataType::Int64)?;
            let out: StringArray = oids
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .map(|oid| {
                    let oid = oid?;
                    defs.iter()
                        .find(|(o, _)| *o == oid)
                        .map(|(_, sql)| sql.to_string())
                })
                .collect();
            Ok(Arc::new(out) as ArrayRef)
        },
    ));
}
