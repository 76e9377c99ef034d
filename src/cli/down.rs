//! `reachlab down [LAB] | --all`: stop labs and remove what they made. Twice is fine.

use crate::lab::{self, state};

/// `reachlab down`'s arguments.
#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// Lab name (default: the only lab there is)
    pub lab: Option<String>,
    /// Stop and clean every lab
    #[arg(long, conflicts_with = "lab")]
    pub all: bool,
}

pub fn run(a: DownArgs) -> i32 {
    let (lab, all) = (a.lab.as_deref(), a.all);
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
    let running = state::list_labs();
    let mut code = 0;
    for l in labs {
        let known = running.contains(&l);
        match lab::down(&l) {
            Ok(_) if !known => println!("{}", not_running(&l, &running)),
            Ok(msg) => println!("{msg}"),
            Err(e) => code = super::fail(e),
        }
    }
    code
}

/// What `down NAME` says when no lab of that name runs: which labs do, and the closest name.
fn not_running(lab: &str, running: &[String]) -> String {
    if running.is_empty() {
        return format!("lab {lab} is not running (no lab is); nothing to do");
    }
    let hint = crate::catalogue::close_matches(lab, running.iter().map(String::as_str))
        .first()
        .map(|m| format!("; did you mean {m}?"))
        .unwrap_or_default();
    format!(
        "lab {lab} is not running; nothing to do. Running: {}{hint}",
        running.join(", ")
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_running_labs_and_the_closest() {
        let running = vec!["global-reach".to_string(), "chain".to_string()];
        assert_eq!(
            super::not_running("global-rech", &running),
            "lab global-rech is not running; nothing to do. Running: global-reach, chain; did you mean global-reach?"
        );
        assert_eq!(
            super::not_running("x", &[]),
            "lab x is not running (no lab is); nothing to do"
        );
    }
}
