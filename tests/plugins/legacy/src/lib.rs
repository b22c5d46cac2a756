//! A plugin built against `pgdog:router@0.2.0` (`wit/router.wit` here is that contract as
//! it was released, frozen): it answers `/* legacy */` queries with the contract it was
//! built for and passes everything else. A pgDog serving a later 0.2 contract must load it
//! and call it, since 0.2.x only ever adds to the contract.

// The generated glue for `after-query` takes the flattened outcome as a dozen arguments.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "wit",
    world: "router",
});

use pgdog::router::types::Respond;

struct Legacy;

impl Guest for Legacy {
    fn init(_config: String) -> Result<PluginInfo, String> {
        Ok(PluginInfo {
            version: "built-for-0.2.0".into(),
            wants_after_query: false,
        })
    }

    fn route(statement: &Statement, context: &Context) -> Decision {
        if statement.comment().as_deref() != Some("legacy") {
            return Decision::Pass;
        }
        // Reads through methods 0.2.0 had, so the handles and their calls are exercised.
        let values = statement.predicate_values("k");
        Decision::Respond(Respond {
            columns: vec!["contract".into(), "k".into(), "shards".into()],
            rows: vec![vec![
                Some("pgdog:router@0.2.0".into()),
                Some(format!("{values:?}")),
                Some(context.shards().to_string()),
            ]],
        })
    }

    fn after_query(_statement: &Statement, _context: &Context, _outcome: QueryOutcome) {}
}

export!(Legacy);
