//! `reachlab check FILE...`: validate without touching the machine.

use std::path::PathBuf;

use super::{print_json, Output};
use crate::topology::Topology;

/// `reachlab check`'s arguments.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Topology files (TOML)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format (json: one object per file with its errors' line, column and message)
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

pub fn run(a: CheckArgs) -> i32 {
    let (files, output) = (&a.files[..], a.output);
    let mut code = 0;
    let mut reports = Vec::new();
    for f in files {
        match Topology::load(f) {
            Ok(t) => {
                if output == Output::Json {
                    reports.push(serde_json::json!({
                        "file": f.display().to_string(),
                        "ok": true,
                        "lab": t.lab.name,
                        "errors": [],
                    }));
                } else if files.len() > 1 {
                    println!("{}: ok (lab {})", f.display(), t.lab.name);
                } else {
                    println!("ok");
                }
            }
            Err(e) => {
                code = 1;
                if output == Output::Json {
                    let errors: Vec<serde_json::Value> = e
                        .diagnostics
                        .iter()
                        .map(|d| {
                            let (line, col) = d
                                .span
                                .as_ref()
                                .map(|s| e.source.line_col(s.start))
                                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
                            serde_json::json!({"line": line, "column": col, "message": d.message})
                        })
                        .collect();
                    reports.push(serde_json::json!({
                        "file": f.display().to_string(),
                        "ok": false,
                        "errors": errors,
                    }));
                    continue;
                }
                eprintln!("{e}");
                let n = e.diagnostics.len();
                eprintln!(
                    "{}: {n} error{}",
                    f.display(),
                    if n == 1 { "" } else { "s" }
                );
            }
        }
    }
    if output == Output::Json {
        print_json(&serde_json::Value::Array(reports));
    }
    code
}
