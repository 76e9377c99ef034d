//! `reachlab circuit show|authorize`: a circuit of a running lab.

use clap::Subcommand;

use super::{call, decode, print_az, print_json, print_table, resolve, LiveArgs, Output};
use crate::control::proto::{AuthorizationRow, CircuitInfo, Path, Request};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// SKU, family, bandwidth, location, region, peering addresses, VNet links, Global Reach
    Show {
        /// The circuit
        circuit: String,
        #[command(flatten)]
        to: LiveArgs,
    },
    /// Take a circuit's primary or secondary link down: its flows move to the other link
    Fail {
        /// The circuit
        circuit: String,
        /// Which of its links
        #[arg(value_enum)]
        path: Path,
        #[command(flatten)]
        to: LiveArgs,
    },
    /// Bring a failed link back
    Restore {
        /// The circuit
        circuit: String,
        /// Which of its links
        #[arg(value_enum)]
        path: Path,
        #[command(flatten)]
        to: LiveArgs,
    },
    /// Put a link under maintenance as Microsoft does: its MSEE prepends 12076 to what it
    /// advertises (a router that honours it moves its traffic to the other link) and the lab
    /// moves its own traffic off the link; `--end` ends it
    Maintenance {
        /// The circuit
        circuit: String,
        /// Which of its links
        #[arg(value_enum)]
        path: Path,
        /// End the maintenance
        #[arg(long)]
        end: bool,
        #[command(flatten)]
        to: LiveArgs,
    },
    /// Create an authorization key on a circuit, for a Global Reach link from another
    /// subscription (a key serves one connection)
    Authorize {
        /// The circuit the key is for (the peer of the connection to be made)
        circuit: String,
        /// A name for the authorization
        #[arg(long)]
        name: String,
        #[command(flatten)]
        to: LiveArgs,
    },
}

pub fn run(cmd: Cmd) -> i32 {
    match cmd {
        Cmd::Fail { circuit, path, to } => link(circuit, path, false, &to),
        Cmd::Restore { circuit, path, to } => link(circuit, path, true, &to),
        Cmd::Maintenance {
            circuit,
            path,
            end,
            to,
        } => maintenance(circuit, path, end, &to),
        Cmd::Show { circuit, to } => show(circuit, &to),
        Cmd::Authorize { circuit, name, to } => authorize(circuit, name, &to),
    }
}

/// `circuit maintenance`: starts or (`end`) ends maintenance on a link.
fn maintenance(circuit: String, path: Path, end: bool, to: &LiveArgs) -> i32 {
    let lab = match resolve(to.lab.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let v = match call(
        Some(&lab),
        Request::CircuitMaintenance {
            circuit: circuit.clone(),
            path,
            on: !end,
        },
    ) {
        Ok(v) => v,
        Err(c) => return c,
    };
    if to.output == Output::Json {
        print_json(&v);
    } else {
        println!(
            "circuit {circuit}: {} link {}",
            v["path"].as_str().unwrap_or_default(),
            if end {
                "out of maintenance"
            } else {
                "under maintenance (its MSEE prepends 12076)"
            }
        );
    }
    0
}

/// `circuit show`: az's JSON, or the circuit, its timing, Global Reach and authorizations.
fn show(circuit: String, to: &LiveArgs) -> i32 {
    let lab = match resolve(to.lab.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let v = match call(Some(&lab), Request::CircuitShow { circuit }) {
        Ok(v) => v,
        Err(c) => return c,
    };
    if to.output == Output::Json {
        // As `az network express-route show`.
        let scope = crate::az::Scope {
            resource_group: &lab,
        };
        return print_az(v, |c: &CircuitInfo| crate::az::circuit(&scope, c));
    }
    let c: CircuitInfo = match decode(v) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let kv = [
        ("Name", c.name.clone()),
        ("PeeringLocation", c.peering_location.clone()),
        ("GeopoliticalRegion", c.geopolitical_region.clone()),
        ("Sku", c.sku.clone()),
        ("Family", c.family.clone()),
        ("Bandwidth", c.bandwidth.clone()),
        ("Provider", c.provider.clone().unwrap_or_else(|| "-".into())),
        ("Subscription", c.subscription.clone()),
        (
            "PrimaryPeering",
            format!(
                "{} (customer {}, Microsoft {})",
                c.primary.prefix, c.primary.customer, c.primary.microsoft
            ),
        ),
        (
            "SecondaryPeering",
            c.secondary
                .as_ref()
                .map(|s| {
                    format!(
                        "{} (customer {}, Microsoft {})",
                        s.prefix, s.customer, s.microsoft
                    )
                })
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "Ipv6Peering",
            c.ipv6
                .as_ref()
                .map(|l| {
                    l.iter()
                        .map(|s| {
                            format!(
                                "{} (customer {}, Microsoft {})",
                                s.prefix, s.customer, s.microsoft
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_else(|| "-".into()),
        ),
        ("Sites", join(&c.sites)),
        (
            "VnetLinks",
            join(
                &c.vnet_links
                    .iter()
                    .map(|v| match c.vnet_weights.get(v) {
                        Some(w) => format!("{v} (weight {w})"),
                        None => v.clone(),
                    })
                    .collect::<Vec<_>>(),
            ),
        ),
        ("Maintenance", join(&c.maintenance)),
    ];
    for (k, v) in kv {
        println!("{k:<20}{v}");
    }
    println!(
        "\nTiming ({} latency): access {} ms each way, shaper queue {} ms, MTU {}",
        c.timing.latency_model, c.timing.access_delay_ms, c.timing.queue_ms, c.timing.mtu
    );
    let rows: Vec<Vec<String>> = c
        .timing
        .rtts
        .iter()
        .map(|r| vec![r.to.clone(), r.via.clone(), format!("{:.1}", r.rtt_ms)])
        .collect();
    print_table(&["To", "Via", "ModelledRttMs"], &rows);
    println!("\nGlobal Reach:");
    if c.global_reach.is_empty() {
        println!("  none");
    } else {
        super::global_reach::print_gr(&c.global_reach);
    }
    if !c.authorizations.is_empty() {
        println!("\nAuthorizations:");
        let rows: Vec<Vec<String>> = c
            .authorizations
            .iter()
            .map(|a| vec![a.name.clone(), a.key.clone(), a.state.clone()])
            .collect();
        print_table(&["Name", "Key", "State"], &rows);
    }
    0
}

/// `circuit authorize`: prints the new key.
fn authorize(circuit: String, name: String, to: &LiveArgs) -> i32 {
    let v = match call(
        to.lab.as_deref(),
        Request::CircuitAuthorize { circuit, name },
    ) {
        Ok(v) => v,
        Err(c) => return c,
    };
    if to.output == Output::Json {
        print_json(&v);
        return 0;
    }
    match decode::<AuthorizationRow>(v) {
        Ok(a) => {
            println!("{}", a.key);
            0
        }
        Err(c) => c,
    }
}

fn link(circuit: String, path: Path, up: bool, to: &LiveArgs) -> i32 {
    let req = Request::CircuitLink {
        circuit: circuit.clone(),
        path,
        up,
    };
    match call(to.lab.as_deref(), req) {
        Ok(v) if to.output == Output::Json => {
            print_json(&v);
            0
        }
        Ok(v) => {
            let state = |k: &str| if v[k] == true { "up" } else { "down" };
            println!(
                "circuit {circuit}: primary {}, secondary {}",
                state("primary_up"),
                state("secondary_up")
            );
            0
        }
        Err(c) => c,
    }
}

fn join(v: &[String]) -> String {
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}
