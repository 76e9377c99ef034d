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
    /// A containerlab topology with each site's router as a node, and the reachlab topology
    /// that attaches them (files in --dir)
    Containerlab,
}

/// `reachlab export`'s arguments.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Lab name (default: the only running lab), or a topology file
    pub lab: Option<String>,
    /// Lab name, as the other live verbs take it
    #[arg(long = "lab", conflicts_with = "lab")]
    pub lab_flag: Option<String>,
    /// toml: a topology file; az: the estate as az CLI prints it (`import` reads it back);
    /// containerlab: NAME.clab.yml, NAME.toml and each router's FRR files, into --dir
    #[arg(short, long, value_enum, default_value_t = Format::Toml)]
    pub output: Format,
    /// containerlab: where the files go (default ./NAME-clab); made, refused if it holds
    /// NAME.clab.yml already
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
    /// containerlab: the routers' image
    #[arg(long, value_name = "IMAGE", default_value = crate::clab::DEFAULT_IMAGE)]
    pub ce_image: String,
    /// containerlab: the routers' kind; with another kind than linux, the FRR configuration
    /// is written as a reference only (README: Attach your own routers)
    #[arg(long, value_name = "KIND", default_value = crate::clab::DEFAULT_KIND)]
    pub ce_kind: String,
    /// containerlab: VXLAN links instead of host links; this host's address as the
    /// containerlab host reaches it (needs --node-host)
    #[arg(long, value_name = "ADDRESS", requires = "node_host")]
    pub remote: Option<std::net::IpAddr>,
    /// containerlab with --remote: the containerlab host's address as this host reaches it
    #[arg(long, value_name = "ADDRESS", requires = "remote")]
    pub node_host: Option<std::net::IpAddr>,
    /// containerlab with --remote: the first link's VNI (the others count up)
    #[arg(long, default_value_t = crate::clab::DEFAULT_VNI, value_parser = clap::value_parser!(u32).range(1..=16_777_215))]
    pub vni: u32,
    /// containerlab with --remote: the VXLAN UDP port on both ends (containerlab's default)
    #[arg(long, default_value_t = crate::clab::DEFAULT_DST_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub dst_port: u16,
}

pub fn run(a: ExportArgs) -> i32 {
    let what = a.lab.clone().or(a.lab_flag.clone());
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
    if format == Format::Containerlab {
        return containerlab(&topo, &a, what.unwrap_or(&name));
    }
    topo.resolve_defaults();
    super::print_json(&crate::az::export::estate(&topo, &name));
    0
}

/// Writes the containerlab bundle into --dir; nothing when anything is wrong.
fn containerlab(topo: &Topology, a: &ExportArgs, source: &str) -> i32 {
    let opts = crate::clab::Options {
        image: a.ce_image.clone(),
        kind: a.ce_kind.clone(),
        vxlan: a
            .remote
            .zip(a.node_host)
            .map(|(remote, node_host)| crate::clab::Vxlan {
                remote,
                node_host,
                vni: a.vni,
                dst_port: a.dst_port,
            }),
    };
    let bundle = match crate::clab::export(topo, &opts, source) {
        Ok(b) => b,
        Err(e) => return super::fail(e),
    };
    let name = &topo.lab.name;
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(format!("{name}-clab")));
    let first = dir.join(&bundle.files[0].0);
    if first.exists() {
        return super::fail(format!(
            "{} exists; remove it or name another --dir",
            first.display()
        ));
    }
    for (path, text) in &bundle.files {
        let p = dir.join(path);
        let written = p
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&p, text));
        if let Err(e) = written {
            return super::fail(format!("writing {}: {e}", p.display()));
        }
    }
    println!(
        "Wrote {} ({} routers as containerlab nodes: {}):",
        dir.display(),
        bundle.nodes.len(),
        bundle.nodes.join(", ")
    );
    for (path, _) in &bundle.files {
        println!("  {}", dir.join(path).display());
    }
    println!(
        "Then: containerlab deploy -t {} && sudo reachlab up {}",
        dir.join(&bundle.files[0].0).display(),
        dir.join(&bundle.files[1].0).display()
    );
    0
}
