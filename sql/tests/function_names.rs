//! Every name of a registered function resolves to that function. A function Strata puts
//! in place of DataFusion's (`array_length`, `avg`) must take DataFusion's aliases too:
//! otherwise DataFusion's stays registered under an alias, and a session state rebuilt
//! from an existing one (`SessionStateBuilder::new_from_existing` registers the functions
//! again in hash order) gives the name back to DataFusion's in some processes only.

mod common;

use std::sync::Arc;

use common::TestEngine;

#[test]
fn every_name_of_a_function_resolves_to_it() {
    let t = TestEngine::new(64 * 1024 * 1024);
    let s = t.engine.new_session().expect("session");
    let state = s.context().state();
    let mut wrong = vec![];
    let scalars = state.scalar_functions();
    for (key, f) in scalars {
        for name in std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str)) {
            match scalars.get(name) {
                Some(g) if Arc::ptr_eq(f, g) || f == g => {}
                _ => wrong.push(format!("scalar {key}: {name}")),
            }
        }
    }
    let aggregates = state.aggregate_functions();
    for (key, f) in aggregates {
        for name in std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str)) {
            match aggregates.get(name) {
                Some(g) if Arc::ptr_eq(f, g) || f == g => {}
                _ => wrong.push(format!("aggregate {key}: {name}")),
            }
        }
    }
    assert!(
        scalars.contains_key("array_length") && aggregates.contains_key("avg"),
        "the functions Strata replaces are registered"
    );
    assert!(
        wrong.is_empty(),
        "names resolving to another function: {wrong:?}"
    );
}
