//! `reachlab export [LAB|FILE] [-o toml|az] > FILE`: the running lab (changes included) or a
//! topology file, as a topology file or as az CLI would print the estate (which `import`
//! reads back).

use std::path::Path;

use clap::ValueEnum;

use super::call;
use crate::control::proto::Request;
use crate::diag::SourceFile;
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A topology file (`check` accepts it, `up` reproduces the lab)
    Toml,
    /// az CLI's JSON: {"circuits", "connections", "virtualNetworks"} plus a `reachlab` block
    /// for what Azure has no place for
    Az,
}

/// `reachlab export`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Lab name (default: the only running lab), or a topology file
    pub lab: Option<String>,
    /// Lab name, as the other live verbs take it
    #[arg(long = "lab", conflicts_with = "lab")]
    pub lab_flag: Option<String>,
    /// toml: a topology file; az: the estate as az CLI prints it (`import` reads it back)
    #[arg(short, long, value_enum, default_value_t = Format::Toml)]
    pub output: Format,
}

pub fn run(a: ExportArgs) -> i32 {
    let what = a.lab.or(a.lab_flag);
    let (what, format) = (what.as_deref(), a.output);
    // A topology file, when one is named and exists.
    let from_file = what.filter(|w| w.ends_with(".toml") || Path::new(w).is_file());
    let (mut topo, name) = match from_file {
        Some(f) => match Topology::load(Path::new(f)) {
            Ok(t) => {
                if format == Format::Toml {
                    let text = std::fs::read_to_string(f).unwrap_or_default();
                    print!("{text}");
                    return 0;
                }
                let n = t.lab.name.clone();
                (t, n)
            }
            Err(e) => {
                eprintln!("{e}");
                return super::EXIT_ERROR;
            }
        },
        None => {
            let text = match call(what, Request::Export) {
                Ok(serde_json::Value::String(text)) => text,
                Ok(_) => return super::fail("unexpected reply from the lab"),
                Err(c) => return c,
            };
            if format == Format::Toml {
                print!("{text}");
                return 0;
            }
            match Topology::from_source(SourceFile::new("(lab)", text), "lab") {
                Ok(t) => {
                    let n = t.lab.name.clone();
                    (t, n)
                }
                Err(e) => return super::fail(e.to_string()),
            }
        }
    };
    topo.resolve_defaults();
    super::print_json(&crate::az::export::estate(&topo, &name));
    0
}
