//! `pg_catalog.pg_attribute.attnotnull` for Strata's tables. datafusion-pg-catalog reads it
//! from the Arrow schema, where every column is nullable (NOT NULL is enforced by the write
//! path, see `strata_storage::schema::ColumnDef::arrow_field`), so clients (pgjdbc's
//! `getColumns`, psql's `\d`) saw NOT NULL columns as nullable. The overlay is a view:
//!
//! ```sql
//! SELECT a.attrelid, ..., a.attnotnull OR nn.col IS NOT NULL AS attnotnull, ...
//! FROM pg_attribute a LEFT JOIN (
//!   SELECT c.oid, nn.col FROM <NOT NULL columns of public tables> nn
//!   JOIN pg_class c ON c.relname = nn.rel JOIN pg_namespace n ON n.oid = c.relnamespace
//!   WHERE n.nspname = 'public') nn ON nn.oid = a.attrelid AND nn.col = a.attname
//! ```

use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::Column;
use datafusion::datasource::{TableProvider, provider_as_source};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, col, lit};
use strata_storage::Storage;

use crate::engine::SCHEMA;

/// `pg_attribute` with `attnotnull` true for the NOT NULL columns of Strata's tables.
pub fn pg_attribute_with_not_null(
    attr: Arc<dyn TableProvider>,
    class: Arc<dyn TableProvider>,
    ns: Arc<dyn TableProvider>,
    storage: &Storage,
) -> DfResult<Arc<dyn TableProvider>> {
    let (mut rels, mut cols) = (vec![], vec![]);
    for t in storage.catalog().tables.iter().filter(|t| !t.internal) {
        for c in t.columns.iter().filter(|c| !c.nullable) {
            rels.push(t.name.clone());
            cols.push(c.name.clone());
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("nn_rel", DataType::Utf8, false),
        Field::new("nn_col", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(rels)),
            Arc::new(StringArray::from(cols)),
        ],
    )?;
    let nn = MemTable::try_new(schema, vec![vec![batch]])?;
    let qcol = |q: &str, name: &str| Expr::Column(Column::new(Some(q), name));
    let ns = LogicalPlanBuilder::scan("n", provider_as_source(ns), None)?
        .filter(qcol("n", "nspname").eq(lit(SCHEMA)))?
        .project(vec![qcol("n", "oid").alias("nn_ns_oid")])?
        .build()?;
    let class = LogicalPlanBuilder::scan("c", provider_as_source(class), None)?
        .project(vec![
            qcol("c", "oid").alias("nn_oid"),
            qcol("c", "relname").alias("nn_relname"),
            qcol("c", "relnamespace").alias("nn_relns"),
        ])?
        .build()?;
    let not_null = LogicalPlanBuilder::scan("nn", provider_as_source(Arc::new(nn)), None)?
        .join(
            class,
            JoinType::Inner,
            (
                vec![Column::new(Some("nn"), "nn_rel")],
                vec![Column::from_name("nn_relname")],
            ),
            None,
        )?
        .join(
            ns,
            JoinType::Inner,
            (
                vec![Column::from_name("nn_relns")],
                vec![Column::from_name("nn_ns_oid")],
            ),
            None,
        )?
        .project(vec![col("nn_oid"), qcol("nn", "nn_col")])?
        .build()?;
    let attr_schema = attr.schema();
    let projection = attr_schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "attnotnull" {
                qcol("a", "attnotnull")
                    .or(qcol("nn", "nn_col").is_not_null())
                    .alias("attnotnull")
            } else {
                qcol("a", f.name())
            }
        })
        .collect::<Vec<_>>();
    let plan = LogicalPlanBuilder::scan("a", provider_as_source(attr), None)?
        .join(
            not_null,
            JoinType::Left,
            (
                vec![Column::new(Some("a"), "attrelid"), Column::new(Some("a"), "attname")],
                vec![Column::from_name("nn_oid"), Column::new(Some("nn"), "nn_col")],
            ),
            None,
        )?
        .project(projection)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}
