//! `reachlab down [LAB] | --all`: stop labs and remove what they made. Twice is fine.

use crate::lab::{self, state};

pub fn run(lab: Option<&str>, all: bool) -> i32 {
    if !lab::is_root() {
        return super::fail(lab::LabError::NotRoot);
    }
    let labs: Vec<String> = if all {
        state::list_labs()
    } else {
        match lab {
            Some(l) => vec![l.to_string()],
            None => match lab::resolve_lab(None) {
                Ok(l) => vec![l],
                Err(lab::LabError::NoLab) => {
                    println!("no lab is running; nothing to do");
                    return 0;
                }
                Err(e) => return super::fail(e),
            },
        }
    };
    if labs.is_empty() {
        println!("no lab is running; nothing to do");
    }
    let mut code = 0;
    for l in labs {
        match lab::down(&l) {
            Ok(msg) => println!("{msg}"),
            Err(e) => code = super::fail(e),
        }
    }
    code
}
