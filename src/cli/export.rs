//! `reachlab export [LAB] > FILE`: the running lab as a topology file.

use super::call;
use crate::control::proto::Request;

pub fn run(lab: Option<&str>) -> i32 {
    match call(lab, Request::Export) {
        Ok(serde_json::Value::String(text)) => {
            print!("{text}");
            0
        }
        Ok(_) => super::fail("unexpected reply from the lab"),
        Err(c) => c,
    }
}
