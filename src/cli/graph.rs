//! `reachlab graph FILE|LAB --format svg|dot|mermaid`: a picture of a topology file, or of a
//! running lab as it is now (live changes, failed links, disconnected Global Reach dashed).

use std::path::Path;

use clap::ValueEnum;

use super::fail;
use crate::graph::{self, View};
use crate::lab;
use crate::topology::Topology;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A picture (open it in a browser, put it on a slide)
    Svg,
    /// Graphviz (`| dot -Tpng > lab.png`)
    Dot,
    /// A Mermaid flowchart (Markdown, GitHub)
    Mermaid,
}

/// `reachlab graph`'s arguments.
#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// A topology file, or the name of a running lab (drawn as it is now)
    pub what: String,
    /// Output format
    #[arg(short, long, visible_alias = "format", value_enum, default_value_t = Format::Svg)]
    pub output: Format,
    /// Write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
}

pub fn run(a: GraphArgs) -> i32 {
    let (what, format, out) = (&a.what[..], a.output, a.file.as_deref());
    // A file when one exists under that name, else a running lab.
    let (topo, carrying) = if Path::new(what).is_file() {
        match Topology::load(Path::new(what)) {
            Ok(t) => {
                let n = t.circuit.len();
                (t, [vec![[true, true]; n], vec![[true, true]; n]])
            }
            Err(e) => {
                eprintln!("{e}");
                return fail(format!("{what} is not a valid topology"));
            }
        }
    } else {
        match running(what) {
            Ok(x) => x,
            Err(c) => return c,
        }
    };
    let view = View::carrying(&topo, carrying);
    let text = match format {
        Format::Svg => graph::svg(&view),
        Format::Dot => graph::dot(&view),
        Format::Mermaid => graph::mermaid(&view),
    };
    match out {
        None => {
            print!("{text}");
            0
        }
        Some(p) => match std::fs::write(p, text) {
            Ok(()) => 0,
            Err(e) => fail(format!("writing {}: {e}", p.display())),
        },
    }
}

/// The running lab `name`: its topology now, and what each circuit's links carry, per family.
fn running(name: &str) -> Result<(Topology, super::Carrying), i32> {
    let labs = lab::state::list_labs();
    if !labs.iter().any(|l| l == name) {
        return Err(fail(format!(
            "{name} is neither a topology file nor a running lab{}",
            if labs.is_empty() {
                String::new()
            } else {
                format!(" (running: {})", labs.join(", "))
            }
        )));
    }
    super::running_lab_families(name)
}
