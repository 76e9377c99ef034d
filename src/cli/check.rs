//! `reachlab check FILE...`: validate without touching the machine.

use std::path::PathBuf;

use crate::topology::Topology;

pub fn run(files: &[PathBuf]) -> i32 {
    let mut code = 0;
    for f in files {
        match Topology::load(f) {
            Ok(t) => {
                if files.len() > 1 {
                    println!("{}: ok (lab {})", f.display(), t.lab.name);
                } else {
                    println!("ok");
                }
            }
            Err(e) => {
                eprintln!("{e}");
                let n = e.diagnostics.len();
                eprintln!(
                    "{}: {n} error{}",
                    f.display(),
                    if n == 1 { "" } else { "s" }
                );
                code = 1;
            }
        }
    }
    code
}
