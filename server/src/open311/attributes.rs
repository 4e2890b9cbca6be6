//! The attributes of Open311 services (a service definition's `attributes`): what a client
//! may, or must, say about a request of a category beyond its description, kept as data
//! (`attributes.json`, beside this file) rather than in the category tree, whose file
//! form is the city's and says nothing of Open311.
//!
//! Each attribute applies to the categories of a domain (`emergency`, …), of a class
//! (`C01`) or to one category (`C0101`), and has one of the standard's datatypes:
//! `string`, `number`, `datetime`, `text`, `singlevaluelist`, `multivaluelist`. A request's
//! `attribute[CODE]` values are checked against its service's list ([`Attributes::check`]):
//! required ones present, each of its datatype, list values among its keys, no attribute
//! the service does not define. What passes is kept with the case (its trace, for staff);
//! an emergency's `severity` is the reporter's claimed grade, as a resident's is.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::categories::{Category, CategoryTree, Domain};

const BUILTIN: &str = include_str!("attributes.json");

/// The standard's datatypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    /// A short line of text.
    String,
    /// A number.
    Number,
    /// A W3C date and time with its offset.
    Datetime,
    /// A longer text.
    Text,
    /// One of the listed keys.
    Singlevaluelist,
    /// Any number of the listed keys.
    Multivaluelist,
}

impl Datatype {
    /// Whether values are keys of a list.
    fn is_list(self) -> bool {
        matches!(self, Datatype::Singlevaluelist | Datatype::Multivaluelist)
    }
}

/// A key of a list attribute and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// What a client sends.
    pub key: String,
    /// What people read.
    pub name: String,
}

/// One attribute as the file defines it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Its code: the `CODE` of `attribute[CODE]`.
    pub code: String,
    /// Domains, classes or categories (by code) whose services have it.
    pub applies_to: Vec<String>,
    /// Its datatype.
    pub datatype: Datatype,
    /// Whether a request must give it.
    pub required: bool,
    /// What it asks, for people.
    pub description: String,
    /// What a value must look like, for people.
    pub datatype_description: String,
    /// The keys of a list attribute.
    #[serde(default)]
    pub values: Vec<Choice>,
    /// A number must be whole.
    #[serde(default)]
    pub integer: bool,
    /// A number's least value.
    pub min: Option<f64>,
    /// A number's greatest value.
    pub max: Option<f64>,
    /// A text's or string's most characters (200 for a string, 2000 for a text by default).
    pub max_length: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    version: u32,
    attributes: Vec<Definition>,
}

/// Every attribute, in the file's order (the order services list them).
#[derive(Debug, Clone)]
pub struct Attributes {
    definitions: Vec<Definition>,
}

/// The most characters of a `string` value unless its definition says.
const STRING_CHARS: usize = 200;
/// The most characters of a `text` value unless its definition says.
const TEXT_CHARS: usize = 2000;

/// A domain as files name it.
pub fn domain_name(domain: Domain) -> &'static str {
    match domain {
        Domain::Emergency => "emergency",
        Domain::Governance => "governance",
        Domain::CityManagement => "city_management",
        Domain::Transport => "transport",
    }
}

impl Attributes {
    /// The attributes that ship with gridlink.
    pub fn builtin() -> Result<Attributes, String> {
        Attributes::from_json(BUILTIN)
    }

    /// Reads and checks a file of attributes, reporting every problem.
    pub fn from_json(text: &str) -> Result<Attributes, String> {
        let file: File = serde_json::from_str(text).map_err(|e| format!("the attributes file is not valid: {e}"))?;
        let mut problems = Vec::new();
        let mut codes = BTreeSet::new();
        for d in &file.attributes {
            let mut problem = |what: &str| problems.push(format!("attribute {}: {what}", d.code));
            if !codes.insert(d.code.as_str()) {
                problem("the code appears more than once");
            }
            let code_ok = !d.code.is_empty()
                && d.code.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && d.code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !code_ok {
                problem("the code must be ASCII letters, digits and _, starting with a letter");
            }
            if d.applies_to.is_empty() {
                problem("applies_to names nothing");
            }
            if d.datatype.is_list() == d.values.is_empty() {
                problem("a list attribute needs values, and only a list attribute has them");
            }
            let keys: BTreeSet<&str> = d.values.iter().map(|v| v.key.as_str()).collect();
            if keys.len() != d.values.len() || keys.iter().any(|k| k.is_empty() || k.contains(',')) {
                problem("its keys must be unique, non-empty and without commas");
            }
            if (d.integer || d.min.is_some() || d.max.is_some()) && d.datatype != Datatype::Number {
                problem("integer, min and max are for numbers");
            }
            if d.max_length.is_some() && !matches!(d.datatype, Datatype::String | Datatype::Text) {
                problem("max_length is for strings and texts");
            }
        }
        if problems.is_empty() { Ok(Attributes { definitions: file.attributes }) } else { Err(problems.join("\n")) }
    }

    /// The attributes of a category of `class`, in order.
    pub fn of(&self, category: &Category, class: &str) -> Vec<&Definition> {
        let domain = domain_name(category.domain);
        let applies = |name: &String| name == domain || name == class || *name == category.code;
        self.definitions.iter().filter(|d| d.applies_to.iter().any(applies)).collect()
    }

    /// Every definition.
    pub fn all(&self) -> &[Definition] {
        &self.definitions
    }

    /// Checks a request's `attribute[CODE]` values (each code's values as given, in order)
    /// against the definitions of its service: the values kept, by code — a string, a
    /// number, a datetime normalised to `+08:00`, a key, or a list of keys. Why not, if not.
    pub fn check(
        definitions: &[&Definition],
        service: &str,
        given: &BTreeMap<String, Vec<String>>,
    ) -> Result<Map<String, Value>, String> {
        for code in given.keys() {
            if !definitions.iter().any(|d| d.code == *code) {
                let known: Vec<&str> = definitions.iter().map(|d| d.code.as_str()).collect();
                return Err(if known.is_empty() {
                    format!("service {service} has no attributes, and attribute[{code}] was given")
                } else {
                    format!("service {service} has no attribute {code:?}; its attributes: {}", known.join(", "))
                });
            }
        }
        let mut kept = Map::new();
        for d in definitions {
            let values: Vec<&str> = given
                .get(&d.code)
                .map(|v| v.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            if values.is_empty() {
                if d.required {
                    return Err(format!("attribute[{}] is required for service {service}: {}", d.code, d.description));
                }
                continue;
            }
            if d.datatype != Datatype::Multivaluelist && values.len() > 1 {
                return Err(format!("attribute[{}] takes one value, and {} were given", d.code, values.len()));
            }
            let wrong = |what: &str| format!("attribute[{}] {what} ({})", d.code, d.datatype_description);
            let value = match d.datatype {
                Datatype::String | Datatype::Text => {
                    let most =
                        d.max_length.unwrap_or(if d.datatype == Datatype::Text { TEXT_CHARS } else { STRING_CHARS });
                    let text = values[0];
                    if text.chars().count() > most {
                        return Err(wrong(&format!("is longer than {most} characters")));
                    }
                    if d.datatype == Datatype::String && text.contains(['\n', '\r']) {
                        return Err(wrong("is a single line"));
                    }
                    Value::String(text.to_owned())
                }
                Datatype::Number => {
                    let n: f64 = values[0]
                        .parse()
                        .ok()
                        .filter(|n: &f64| n.is_finite())
                        .ok_or_else(|| wrong(&format!("must be a number, not {:?}", values[0])))?;
                    if d.integer && n.fract() != 0.0 {
                        return Err(wrong("must be a whole number"));
                    }
                    if d.min.is_some_and(|min| n < min) || d.max.is_some_and(|max| n > max) {
                        return Err(wrong("is out of range"));
                    }
                    if d.integer {
                        Value::from(n as i64)
                    } else {
                        serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)
                    }
                }
                Datatype::Datetime => {
                    let ms = super::parse_w3c(values[0])
                        .ok_or_else(|| wrong(&format!("must be a W3C date and time, not {:?}", values[0])))?;
                    Value::String(super::w3c(ms))
                }
                Datatype::Singlevaluelist | Datatype::Multivaluelist => {
                    let mut keys: Vec<&str> = Vec::new();
                    for v in &values {
                        if !d.values.iter().any(|c| c.key == *v) {
                            let allowed: Vec<&str> = d.values.iter().map(|c| c.key.as_str()).collect();
                            return Err(wrong(&format!("has no key {v:?}; keys: {}", allowed.join(", "))));
                        }
                        if !keys.contains(v) {
                            keys.push(v);
                        }
                    }
                    if d.datatype == Datatype::Singlevaluelist {
                        Value::String(keys[0].to_owned())
                    } else {
                        Value::from(keys)
                    }
                }
            };
            kept.insert(d.code.clone(), value);
        }
        Ok(kept)
    }
}

/// Every category of `tree` with its class's code.
pub fn leaves(tree: &CategoryTree) -> impl Iterator<Item = (&Category, &crate::categories::Class)> {
    tree.domains.iter().flat_map(|d| d.classes.iter().flat_map(|k| k.children.iter().map(move |c| (c, k))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            map.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        map
    }

    #[test]
    fn the_builtin_attributes_cover_every_datatype_and_reach_every_domain() {
        let attributes = Attributes::builtin().unwrap();
        let types: BTreeSet<String> =
            attributes.all().iter().map(|d| serde_json::to_value(d.datatype).unwrap().to_string()).collect();
        assert_eq!(types.len(), 6, "{types:?}");
        let tree = CategoryTree::default_tree().unwrap();
        for domain in [Domain::Emergency, Domain::Governance, Domain::CityManagement, Domain::Transport] {
            assert!(
                leaves(&tree).any(|(c, k)| c.domain == domain && !attributes.of(c, &k.code).is_empty()),
                "{domain:?}"
            );
        }
        // Every name applies_to gives is a domain, class or category of the default tree.
        for d in attributes.all() {
            for name in &d.applies_to {
                let known =
                    leaves(&tree).any(|(c, k)| *name == c.code || *name == k.code || name == domain_name(c.domain));
                assert!(known, "{}: {name}", d.code);
            }
        }
        let cover = tree.category("C0101").unwrap();
        let codes: Vec<&str> = attributes.of(cover, "C01").iter().map(|d| d.code.as_str()).collect();
        assert_eq!(codes, ["component_id", "observed_at"]);
    }

    #[test]
    fn values_are_checked_against_their_datatypes() {
        let attributes = Attributes::builtin().unwrap();
        let tree = CategoryTree::default_tree().unwrap();
        let defs = |code: &str, class: &str| attributes.of(tree.category(code).unwrap(), class);
        let gas = defs("E0104", "E01");
        let kept = Attributes::check(&gas, "E0104", &given(&[("severity", "II"), ("people_affected", "3")])).unwrap();
        assert_eq!(Value::Object(kept), serde_json::json!({"severity": "II", "people_affected": 3}));
        for bad in [
            &[("severity", "V")][..],
            &[("people_affected", "three")],
            &[("people_affected", "2.5")],
            &[("people_affected", "-1")],
            &[("severity", "I"), ("severity", "II")],
            &[("colour", "red")],
        ] {
            assert!(Attributes::check(&gas, "E0104", &given(bad)).is_err(), "{bad:?}");
        }
        let jam = defs("T0102", "T01");
        let kept = Attributes::check(
            &jam,
            "T0102",
            &given(&[("lanes_blocked", "left"), ("lanes_blocked", "right"), ("lanes_blocked", "left")]),
        )
        .unwrap();
        assert_eq!(kept["lanes_blocked"], serde_json::json!(["left", "right"]));
        let dispute = defs("G0101", "G01");
        let missing = Attributes::check(&dispute, "G0101", &given(&[("parties", "  ")])).unwrap_err();
        assert!(missing.contains("required"), "{missing}");
        let street = defs("C0301", "C03");
        let kept = Attributes::check(&street, "C0301", &given(&[("observed_at", "2026-12-06T01:30:00Z")])).unwrap();
        assert_eq!(kept["observed_at"], "2026-12-06T09:30:00+08:00");
        assert!(Attributes::check(&street, "C0301", &given(&[("observed_at", "yesterday")])).is_err());
        let plate = defs("T0101", "T01");
        assert!(Attributes::check(&plate, "T0101", &given(&[("vehicle_plate", &"苏".repeat(17))])).is_err());
    }

    #[test]
    fn a_bad_file_is_refused_with_every_problem() {
        let bad = r#"{"version": 1, "attributes": [
            {"code": "a", "applies_to": ["emergency"], "datatype": "singlevaluelist", "required": false,
             "description": "", "datatype_description": ""},
            {"code": "a", "applies_to": [], "datatype": "string", "required": false, "integer": true,
             "description": "", "datatype_description": "", "values": [{"key": "x", "name": "y"}]}]}"#;
        let problems = Attributes::from_json(bad).unwrap_err();
        for expected in ["more than once", "applies_to", "needs values", "integer"] {
            assert!(problems.contains(expected), "{expected}: {problems}");
        }
        assert!(Attributes::from_json(r#"{"version": 1, "attributes": [], "x": 1}"#).is_err());
    }
}
