//! The demo's routing plugin: `plugins/tenant-router`, built from this source tree and
//! routing the `orders` table by tenant, so a user can edit its map (or its code) and see
//! the routing change without a restart.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Which shard holds each tenant's orders.
const TENANTS: [(&str, usize); 2] = [("acme", 0), ("globex", 1)];

/// Builds the plugin; `None` (with the reason printed) when that is not possible, and the
/// demo runs without it.
pub fn build_tenant_router() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    if !workspace.join("plugins/tenant-router").is_dir() {
        eprintln!("demo: the plugin sources are not here; running without the plugin");
        return None;
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == "wasm32-wasip2")
        })
        .unwrap_or(false);
    if !installed {
        println!("demo: adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)");
        let added = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()
            .is_ok_and(|s| s.success());
        if !added {
            eprintln!("demo: could not add the wasm32-wasip2 target; running without the plugin");
            return None;
        }
    }
    println!("demo: building the tenant-router plugin");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "tenant-router",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        eprintln!("demo: building the plugin failed; running without the plugin");
        return None;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let path = target.join("wasm32-wasip2/release/tenant_router.wasm");
    path.is_file().then_some(path)
}

/// The `[[plugins]]` entry of the demo's pgdog.toml.
pub fn config_block(path: &Path) -> String {
    let tenants: Vec<String> = TENANTS.iter().map(|(t, s)| format!("{t} = {s}")).collect();
    format!(
        "\n[[plugins]]\nname = \"tenant-router\"\npath = \"{}\"\non_error = \"fail_closed\"\n\n[plugins.config]\ncolumn = \"tenant\"\ncomment_key = \"tenant\"\nunknown = \"reject\"\n\n[plugins.config.tenants]\n{}\n",
        path.display(),
        tenants.join("\n")
    )
}

/// The `orders` table on `shard`: the orders of the tenants the plugin maps there.
pub fn orders(shard: usize) -> String {
    let rows: Vec<String> = TENANTS
        .iter()
        .filter(|(_, s)| *s == shard)
        .flat_map(|(tenant, _)| (1..=3).map(move |n| format!("('{tenant}', {n}, 'item {n}')")))
        .collect();
    format!(
        "CREATE TABLE orders (tenant text, id int, item text); INSERT INTO orders VALUES {}",
        rows.join(", ")
    )
}

pub fn explain(pgdog_toml: &Path) {
    println!(
        "The tenant-router plugin (plugins/tenant-router, a wasm component) routes the orders"
    );
    println!("table by tenant: acme's orders live on shard 0, globex's on shard 1.");
    println!();
    println!("    SELECT * FROM orders WHERE tenant = 'globex';    -- shard 1, by the plugin");
    println!("    /* tenant: acme */ SELECT count(*) FROM orders;  -- shard 0, by the comment");
    println!("    SELECT * FROM orders WHERE tenant = 'initech';   -- refused: unknown tenant");
    println!();
    println!(
        "Edit [plugins.config.tenants] in {} (say globex = 0) and save:",
        pgdog_toml.display()
    );
    println!("pgDog reloads the plugin within a second, without a restart, and the first query");
    println!("above then goes to shard 0, which holds no globex orders.");
    println!();
}
