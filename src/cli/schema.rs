//! `reachlab schema`: the topology file's JSON Schema, for editors.

pub fn run() -> i32 {
    super::print_json(&crate::topology::schema());
    0
}
