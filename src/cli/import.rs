//! `reachlab import FILE... [--site NAME=CIRCUIT:PREFIX,...]... [--routes CIRCUIT=FILE]...`:
//! az CLI / ARM JSON of an ExpressRoute estate as a topology on stdout, checked as `check`
//! would check it.

use std::path::PathBuf;

use clap::Args;

use crate::az::import::{import, Input, Options, SiteArg};
use crate::diag::SourceFile;
use crate::topology::Topology;

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// JSON files: `az network express-route list -o json`, `az network vnet list`,
    /// `az network vpn-connection list`, ARM GET bodies; single objects, lists, `{"value": [...]}`
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// An on-premises site (not an Azure resource): NAME=CIRCUIT:PREFIX[,PREFIX...]
    #[arg(long = "site", value_name = "NAME=CIRCUIT:PREFIXES")]
    sites: Vec<SiteArg>,
    /// A circuit's route table (`az network express-route list-route-tables -o json`): a site
    /// from the prefixes whose AS path ends in the peering's peerASN
    #[arg(long = "routes", value_name = "CIRCUIT=FILE")]
    routes: Vec<String>,
    /// Leave out what cannot be mapped (with a warning) instead of failing
    #[arg(long)]
    skip_unknown: bool,
    /// The lab's name in the topology (default: the name `export -o az` recorded, else
    /// "imported")
    #[arg(long)]
    name: Option<String>,
}

fn read(path: &std::path::Path) -> Result<Input, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let json = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not JSON: {e} (az's `-o json` output is; `-o table` and `-o tsv` are not)",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    Ok(Input {
        file: path.display().to_string(),
        json,
    })
}

pub fn run(a: ImportArgs) -> i32 {
    let mut inputs = Vec::new();
    let mut failed = false;
    for f in &a.files {
        match read(f) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!("reachlab: {e}");
                failed = true;
            }
        }
    }
    let mut routes = Vec::new();
    for r in &a.routes {
        let Some((circuit, file)) = r.split_once('=') else {
            eprintln!("reachlab: --routes {r}: write CIRCUIT=FILE");
            return super::EXIT_USAGE;
        };
        match read(std::path::Path::new(file)) {
            Ok(i) => routes.push((circuit.to_string(), i)),
            Err(e) => {
                eprintln!("reachlab: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return super::EXIT_ERROR;
    }
    let opts = Options {
        name: a.name,
        sites: a.sites,
        routes,
        skip_unknown: a.skip_unknown,
    };
    match import(&inputs, &opts) {
        Ok(imported) => {
            for w in &imported.warnings {
                eprintln!("reachlab: warning: left out: {w}");
            }
            // Checked as `check` would: a rule the input breaks is reported in its words.
            if let Err(e) = Topology::from_source(
                SourceFile::new("(imported)", imported.toml.clone()),
                "imported",
            ) {
                eprintln!("{e}");
                eprintln!(
                    "reachlab: the imported topology breaks the rules above; it follows:\n{}",
                    imported.toml
                );
                return super::EXIT_ERROR;
            }
            print!("{}", imported.toml);
            super::EXIT_OK
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("reachlab: {p}");
            }
            eprintln!(
                "reachlab: {} thing{} could not be mapped; --skip-unknown leaves them out with a warning",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
            super::EXIT_ERROR
        }
    }
}
