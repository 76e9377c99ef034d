//! The value schemas of the topology file's JSON Schema (`reachlab schema`, for editors: taplo,
//! Even Better TOML): completion and checking of values with a fixed set of choices. The
//! structure comes from the parser's own raw types (`parse::schema`, derived with schemars,
//! which point at these); this module owns the value schemas, with the allowed values taken from the
//! same places the parser and the rules take them (`Sku::ALL`, the catalogue, ...).
//!
//! The schema says what a file may contain; `reachlab check` still has the last word (overlaps,
//! references, Global Reach rules are beyond a schema).

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::rules::{MAX_NAME, MICROSOFT_ASN, RESERVED_ASNS};
use super::{Family, LatencyModel, Sku};
use crate::catalogue::catalogue;

fn names_of<T>(all: &[(&str, T)]) -> Vec<String> {
    all.iter().map(|(n, _)| n.to_string()).collect()
}

/// A regular expression matching `names` in any case and with spaces optional, the way the
/// parser compares them (JSON Schema patterns have no case-insensitive flag).
fn any_case(names: &[String]) -> String {
    let alts: Vec<String> = names
        .iter()
        .map(|n| {
            n.chars()
                .filter(|c| c.is_alphanumeric())
                .map(|c| {
                    if c.is_alphabetic() {
                        format!("[{}{}]", c.to_lowercase(), c.to_uppercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ?")
        })
        .collect();
    format!("^(?:{})$", alts.join("|"))
}

/// One of `names` exactly (what editors offer), or any case/spacing of one (what the parser
/// takes).
fn choice_any_case(names: Vec<String>, what: &str) -> Schema {
    let pattern = any_case(&names);
    json_schema!({
        "description": what,
        "anyOf": [
            { "type": "string", "enum": names },
            { "type": "string", "pattern": pattern },
        ],
    })
}

fn choice(names: Vec<String>) -> Schema {
    json_schema!({ "type": "string", "enum": names })
}

pub(super) fn sku(_: &mut SchemaGenerator) -> Schema {
    choice(names_of(Sku::ALL))
}

pub(super) fn family(_: &mut SchemaGenerator) -> Schema {
    choice(names_of(Family::ALL))
}

pub(super) fn router(_: &mut SchemaGenerator) -> Schema {
    choice(names_of(super::Router::ALL))
}

pub(super) fn latency(_: &mut SchemaGenerator) -> Schema {
    choice(names_of(LatencyModel::ALL))
}

pub(super) fn peering_location(_: &mut SchemaGenerator) -> Schema {
    choice_any_case(
        catalogue().location_names().map(String::from).collect(),
        "An ExpressRoute peering location",
    )
}

pub(super) fn region(_: &mut SchemaGenerator) -> Schema {
    let cat = catalogue();
    let mut names: Vec<String> = cat.azure_region_names().map(String::from).collect();
    names.extend(cat.azure_region.iter().map(|r| r.az_name()));
    choice_any_case(names, "An Azure region")
}

fn name_schema() -> Value {
    json!({
        "type": "string",
        "pattern": format!("^[A-Za-z0-9][A-Za-z0-9_-]{{0,{}}}$", MAX_NAME - 1),
    })
}

pub(super) fn name(_: &mut SchemaGenerator) -> Schema {
    Schema::try_from(name_schema()).expect("an object")
}

pub(super) fn names(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": name_schema() })
}

pub(super) fn circuit_pair(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array", "items": name_schema(), "minItems": 2, "maxItems": 2,
    })
}

pub(super) fn bandwidth(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": "^ *(?:[0-9]+(?:\\.[0-9]+)? *[KkMmGg][Bb][Pp][Ss]|[Uu][Nn][Ll][Ii][Mm][Ii][Tt][Ee][Dd]) *$",
        "examples": ["50Mbps", "1Gbps", "10Gbps", "unlimited"],
    })
}

pub(super) fn duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": "^ *[0-9]+(?:\\.[0-9]+)? *(?:[NnUuMm]?[Ss]) *$",
        "examples": ["1ms", "500us", "0.5ms", "2s"],
    })
}

fn percent() -> Value {
    json!({ "type": "string", "pattern": "^ *[0-9]+(?:\\.[0-9]+)? *% *$" })
}

pub(super) fn loss(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "anyOf": [
            percent(),
            {
                "type": "object",
                "properties": {
                    "model": { "type": "string", "enum": ["random", "gilbert-elliott"] },
                    "rate": percent(), "p": percent(), "r": percent(),
                },
                "required": ["model"],
                "additionalProperties": false,
            },
        ],
    })
}

pub(super) fn mtu(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "minimum": 1280, "maximum": 9000 })
}

pub(super) fn vlan_id(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "minimum": 1, "maximum": 4094 })
}

pub(super) fn asn(_: &mut SchemaGenerator) -> Schema {
    let reserved: Vec<u32> = std::iter::once(MICROSOFT_ASN)
        .chain(RESERVED_ASNS)
        .collect();
    json_schema!({
        "type": "integer", "minimum": 1, "maximum": u32::MAX,
        "not": { "enum": reserved },
    })
}

fn prefix_schema(pattern: Option<&str>) -> Value {
    match pattern {
        Some(p) => json!({ "type": "string", "pattern": p }),
        None => json!({ "type": "string" }),
    }
}

const V4: &str = "^[0-9]{1,3}(?:\\.[0-9]{1,3}){3}/[0-9]{1,2}$";
const V6: &str = "^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*/[0-9]{1,3}$";

pub(super) fn ipv4_prefix(_: &mut SchemaGenerator) -> Schema {
    Schema::try_from(prefix_schema(Some(V4))).expect("an object")
}

pub(super) fn ipv6_prefix(_: &mut SchemaGenerator) -> Schema {
    Schema::try_from(prefix_schema(Some(V6))).expect("an object")
}

/// A circuit's IPv6 peering: a /125, or the two /126s.
pub(super) fn peering_v6(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "The IPv6 private peering: a /125 (split into the primary and secondary /126s) or the two /126s.",
        "anyOf": [
            prefix_schema(Some(V6)),
            { "type": "array", "minItems": 2, "maxItems": 2, "items": prefix_schema(Some(V6)) },
        ],
    })
}

pub(super) fn prefixes(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "minItems": 1,
        "items": { "anyOf": [prefix_schema(Some(V4)), prefix_schema(Some(V6))] },
        "examples": [["10.0.1.0/24"], ["10.0.1.0/24", "fd00:1::/64"]],
    })
}

/// An external site's ports: by link, an interface name or a VXLAN reachlab makes.
pub(super) fn ports(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "propertyNames": { "pattern": "^(?:[^/]+/)?(?:primary|secondary)$" },
        "additionalProperties": {
            "anyOf": [
                {
                    "type": "string",
                    "description": "IFNAME (in reachlab's namespace) or NETNS/IFNAME",
                    "pattern": "^(?:[A-Za-z0-9_.-]+/)?[!-.0-9;-~]{1,15}$",
                },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["vxlan"],
                    "properties": {
                        "netns": { "type": "string", "description": "the namespace that holds the underlay" },
                        "vxlan": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["remote", "vni", "dst_port"],
                            "properties": {
                                "remote": { "type": "string", "description": "the other host's underlay address" },
                                "vni": { "type": "integer", "minimum": 1, "maximum": 16777215 },
                                "dst_port": { "type": "integer", "minimum": 1, "maximum": 65535, "description": "UDP port, as on the other end (containerlab: 14789)" },
                            },
                        },
                    },
                },
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_case_pattern_takes_what_the_parser_takes() {
        let re = any_case(&["Silicon Valley".to_string(), "West US 2".to_string()]);
        assert_eq!(
            re,
            "^(?:[sS] ?[iI] ?[lL] ?[iI] ?[cC] ?[oO] ?[nN] ?[vV] ?[aA] ?[lL] ?[lL] ?[eE] ?[yY]|[wW] ?[eE] ?[sS] ?[tT] ?[uU] ?[sS] ?2)$"
        );
    }

    #[test]
    fn schema_has_the_choices() {
        let s = crate::topology::schema();
        let text = s.to_string();
        for needle in [
            "\"Premium\"",
            "\"UnlimitedData\"",
            "\"Silicon Valley\"",
            "\"westus\"",
            "\"UK South\"",
        ] {
            assert!(text.contains(needle), "schema lacks {needle}");
        }
        assert_eq!(s["additionalProperties"], json!(false));
    }
}
