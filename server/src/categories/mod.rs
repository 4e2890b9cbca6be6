//! The category tree: domain → class → category (a leaf), and what each leaf implies —
//! the level that normally handles it, the department responsible, whether a grid
//! worker may handle it alone (自行处置), whether it dispatches itself, and its time
//! limits per step.
//!
//! A default tree ships with the binary (`default.json`: 51 categories over the four
//! domains, in the spirit of CJ/T 214's components and events for city management);
//! `gridlink serve --categories FILE` replaces it with a file of the same form. A leaf
//! inherits what it does not say from its class's `defaults`. Loading checks the whole
//! file and reports every problem, not just the first.

pub mod routes;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

const DEFAULT_TREE: &str = include_str!("default.json");

/// The four governance domains (四大治理).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// 大应急.
    Emergency,
    /// 大综治.
    Governance,
    /// 大城管.
    CityManagement,
    /// 大交通.
    Transport,
}

/// How a time limit counts (docs/domain.md, "The closed loop").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// 紧急工作时: the clock runs day and night.
    UrgentHours,
    /// 工作时: only inside the duty windows.
    WorkingHours,
    /// 工作日: weekends and holidays excluded, make-up days included.
    WorkingDays,
}

/// A time limit: an amount of a unit, written `"2 urgent_hours"` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub struct Limit {
    /// How many units.
    pub amount: u32,
    /// Which unit.
    pub unit: TimeUnit,
}

impl FromStr for Limit {
    type Err = String;
    fn from_str(s: &str) -> Result<Limit, String> {
        let mut words = s.split_whitespace();
        let (Some(amount), Some(unit), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("{s:?} is not \"<amount> <unit>\""));
        };
        let amount: u32 = amount
            .parse()
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| format!("{s:?}: the amount must be a whole number above 0"))?;
        let unit = match unit {
            "urgent_hours" => TimeUnit::UrgentHours,
            "working_hours" => TimeUnit::WorkingHours,
            "working_days" => TimeUnit::WorkingDays,
            other => return Err(format!("{s:?}: unit {other:?} is not urgent_hours, working_hours or working_days")),
        };
        Ok(Limit { amount, unit })
    }
}

impl Limit {
    /// Its length at face value: an hour per hour, a whole day per working day. Only for
    /// comparing limits; deadlines are reckoned by the calendar.
    fn nominal_ms(self) -> u64 {
        let unit: u64 = match self.unit {
            TimeUnit::UrgentHours | TimeUnit::WorkingHours => 3_600_000,
            TimeUnit::WorkingDays => 86_400_000,
        };
        u64::from(self.amount) * unit
    }

    /// The tighter of two limits: the shorter at face value; of two as long, urgent hours,
    /// which run day and night.
    pub fn tighter(self, other: Limit) -> Limit {
        let key = |l: Limit| (l.nominal_ms(), l.unit != TimeUnit::UrgentHours);
        if key(other) < key(self) { other } else { self }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            TimeUnit::UrgentHours => "urgent_hours",
            TimeUnit::WorkingHours => "working_hours",
            TimeUnit::WorkingDays => "working_days",
        };
        write!(f, "{} {unit}", self.amount)
    }
}

/// The time limits of the steps of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Limits {
    /// 受理时限.
    pub accept: Limit,
    /// 派遣时限.
    pub dispatch: Limit,
    /// 处置时限.
    pub handle: Limit,
    /// 核查时限.
    pub verify: Limit,
}

/// An emergency's grade (docs/domain.md): I 特别重大, II 重大, III 较大, IV 一般. Grades order by
/// gravity: `I < II` means I is the graver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Severity {
    /// 特别重大.
    I,
    /// 重大.
    II,
    /// 较大.
    III,
    /// 一般.
    IV,
}

impl Severity {
    /// Every grade, gravest first.
    pub const ALL: [Severity; 4] = [Severity::I, Severity::II, Severity::III, Severity::IV];

    /// The grade as written on the wire and in storage: `I`…`IV`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::I => "I",
            Severity::II => "II",
            Severity::III => "III",
            Severity::IV => "IV",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Severity, String> {
        Severity::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| format!("severity {s:?} is not I, II, III or IV"))
    }
}

/// A department that cases can be sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Department {
    /// Its code (also the suffix of its demo account, `dept-<code>`).
    pub code: String,
    /// Its name.
    pub name: String,
}

/// A category a case can be reported under (a leaf of the tree).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Category {
    /// The category's code; the service code of Open311.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its domain.
    pub domain: Domain,
    /// The level that normally handles it: 1 (city) to 5 (grid).
    pub level: u8,
    /// The department responsible, if any.
    pub department: Option<String>,
    /// Whether a grid worker may handle it alone (自行处置).
    pub self_handle: bool,
    /// Whether a case of it is dispatched without waiting for a person to route it.
    pub auto_dispatch: bool,
    /// Its time limits.
    pub limits: Limits,
    /// Its time limits for an emergency of a given grade, where they differ (emergencies only).
    pub severity_limits: BTreeMap<Severity, Limits>,
}

impl Category {
    /// Whether a case of this category may carry `severity`: a grade is for emergencies
    /// only (docs/domain.md). Why not, if not.
    pub fn takes(&self, severity: Option<Severity>) -> Result<(), String> {
        match severity {
            Some(grade) if self.domain != Domain::Emergency => {
                Err(format!("severity {} is for emergencies; {} is not one", grade.as_str(), self.code))
            }
            _ => Ok(()),
        }
    }

    /// The time limits of a case of this category with this grade.
    pub fn limits_for(&self, severity: Option<Severity>) -> &Limits {
        severity.and_then(|s| self.severity_limits.get(&s)).unwrap_or(&self.limits)
    }
}

/// A major class: a node between a domain and its categories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Class {
    /// The class's code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its categories.
    pub children: Vec<Category>,
}

/// A domain with its classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DomainNode {
    /// Which domain.
    pub domain: Domain,
    /// Its name.
    pub name: String,
    /// Its classes.
    pub classes: Vec<Class>,
}

/// The whole tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CategoryTree {
    /// The departments cases may go to.
    pub departments: Vec<Department>,
    /// The domains.
    pub domains: Vec<DomainNode>,
}

/// Why a tree file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    /// Not JSON of the expected form.
    #[error("the category file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// Every problem found in it.
    #[error("the category file has {} problem(s):\n{}", .0.len(), .0.join("\n"))]
    Invalid(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    version: u32,
    departments: Vec<Department>,
    domains: Vec<RawDomain>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    domain: Domain,
    name: String,
    classes: Vec<RawClass>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    code: String,
    name: String,
    #[serde(default)]
    defaults: RawLeafFields,
    children: Vec<RawLeaf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLeafFields {
    level: Option<u8>,
    department: Option<String>,
    self_handle: Option<bool>,
    auto_dispatch: Option<bool>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    severity_limits: BTreeMap<Severity, RawLimits>,
}

/// Limits per grade, as a file gives them.
type RawLeafLimits = BTreeMap<Severity, RawLimits>;

/// The limits a file gives for `grade` (none without a grade or for a grade it does not name).
fn for_grade(raw: &RawLeafLimits, grade: Option<Severity>) -> &RawLimits {
    static NONE: RawLimits = RawLimits { accept: None, dispatch: None, handle: None, verify: None };
    grade.and_then(|g| raw.get(&g)).unwrap_or(&NONE)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    accept: Option<String>,
    dispatch: Option<String>,
    handle: Option<String>,
    verify: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLeaf {
    code: String,
    name: String,
    level: Option<u8>,
    department: Option<String>,
    self_handle: Option<bool>,
    auto_dispatch: Option<bool>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    severity_limits: BTreeMap<Severity, RawLimits>,
}

impl CategoryTree {
    /// The tree that ships with gridlink.
    pub fn default_tree() -> Result<CategoryTree, CategoryError> {
        CategoryTree::from_json(DEFAULT_TREE)
    }

    /// Reads and checks a tree file, reporting every problem.
    pub fn from_json(text: &str) -> Result<CategoryTree, CategoryError> {
        let file: File = serde_json::from_str(text)?;
        let mut problems = Vec::new();
        let departments: BTreeSet<&str> = file.departments.iter().map(|d| d.code.as_str()).collect();
        if departments.len() != file.departments.len() {
            problems.push("a department code appears more than once".to_owned());
        }
        let mut codes = BTreeSet::new();
        let mut domains = Vec::new();
        for raw in &file.domains {
            let mut classes = Vec::new();
            for class in &raw.classes {
                if !codes.insert(class.code.clone()) {
                    problems.push(format!("code {} appears more than once", class.code));
                }
                let mut children = Vec::new();
                for leaf in &class.children {
                    let mut problem = |what: String| problems.push(format!("category {}: {what}", leaf.code));
                    if !codes.insert(leaf.code.clone()) {
                        problem("the code appears more than once".into());
                    }
                    if leaf.name.trim().is_empty() {
                        problem("the name is empty".into());
                    }
                    let (f, d) = (leaf, &class.defaults);
                    let level = f.level.or(d.level).unwrap_or(0);
                    if !(1..=5).contains(&level) {
                        problem(format!("level {level} is not 1 (city) to 5 (grid)"));
                    }
                    let department = f.department.clone().or_else(|| d.department.clone());
                    if let Some(dep) = &department
                        && !departments.contains(dep.as_str())
                    {
                        problem(format!("department {dep:?} is not in the departments list"));
                    }
                    // Per step: the leaf's own limit for the grade, as written; else the tighter
                    // of the category's limit (the leaf's, else its class's) and the class's limit
                    // for the grade — a class's grade tightens a leaf's limit, never loosens it.
                    let mut limits_of = |grade: Option<Severity>| {
                        let which = grade.map_or(String::new(), |g| format!(" for grade {}", g.as_str()));
                        let mut limit = |step: &str, pick: fn(&RawLimits) -> &Option<String>| {
                            let parse = |text: &Option<String>| text.as_ref().map(|t| t.parse::<Limit>()).transpose();
                            let parsed = (
                                parse(pick(for_grade(&f.severity_limits, grade))),
                                parse(if pick(&f.limits).is_some() { pick(&f.limits) } else { pick(&d.limits) }),
                                parse(pick(for_grade(&d.severity_limits, grade))),
                            );
                            let (own, base, class) = match parsed {
                                (Ok(own), Ok(base), Ok(class)) => (own, base, class),
                                (own, base, class) => {
                                    for e in [own.err(), base.err(), class.err()].into_iter().flatten() {
                                        problem(format!("{step} limit{which} {e}"));
                                    }
                                    return None;
                                }
                            };
                            match (own, base, class) {
                                (Some(own), _, _) => Some(own),
                                (None, Some(base), Some(class)) => Some(base.tighter(class)),
                                (None, base, class) => {
                                    // Said once, for the category's own limits.
                                    if base.is_none() && grade.is_none() {
                                        problem(format!("no {step} limit, and its class gives none"));
                                    }
                                    base.or(class)
                                }
                            }
                        };
                        match (
                            limit("accept", |r| &r.accept),
                            limit("dispatch", |r| &r.dispatch),
                            limit("handle", |r| &r.handle),
                            limit("verify", |r| &r.verify),
                        ) {
                            (Some(accept), Some(dispatch), Some(handle), Some(verify)) => {
                                Some(Limits { accept, dispatch, handle, verify })
                            }
                            _ => None,
                        }
                    };
                    let limits = limits_of(None);
                    let grades: BTreeSet<Severity> =
                        f.severity_limits.keys().chain(d.severity_limits.keys()).copied().collect();
                    let severity_limits: BTreeMap<Severity, Limits> =
                        grades.into_iter().filter_map(|g| Some((g, limits_of(Some(g))?))).collect();
                    if !severity_limits.is_empty() && raw.domain != Domain::Emergency {
                        problems.push(format!(
                            "category {}: severity_limits are for emergencies only, and it is {}",
                            leaf.code, raw.name
                        ));
                    }
                    if let Some(limits) = limits {
                        children.push(Category {
                            code: leaf.code.clone(),
                            name: leaf.name.clone(),
                            domain: raw.domain,
                            level,
                            department,
                            self_handle: f.self_handle.or(d.self_handle).unwrap_or(false),
                            auto_dispatch: f.auto_dispatch.or(d.auto_dispatch).unwrap_or(false),
                            limits,
                            severity_limits,
                        });
                    }
                }
                if class.children.is_empty() {
                    problems.push(format!("class {} has no categories", class.code));
                }
                classes.push(Class { code: class.code.clone(), name: class.name.clone(), children });
            }
            domains.push(DomainNode { domain: raw.domain, name: raw.name.clone(), classes });
        }
        if problems.is_empty() {
            Ok(CategoryTree { departments: file.departments, domains })
        } else {
            Err(CategoryError::Invalid(problems))
        }
    }

    /// Every category (leaf), domain by domain.
    pub fn categories(&self) -> impl Iterator<Item = &Category> {
        self.domains.iter().flat_map(|d| d.classes.iter().flat_map(|c| c.children.iter()))
    }

    /// The category with this code.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories().find(|c| c.code == code)
    }
}

/// Writes the tree in force into storage (replacing what was there), so that cases
/// and statistics can join on categories and departments. Run inside a write transaction.
pub fn store_tree(conn: &mut crate::store::DbConnection, tree: &CategoryTree) -> diesel::QueryResult<()> {
    use diesel::prelude::*;
    use schema::{categories, departments};
    diesel::delete(categories::table).execute(conn)?;
    diesel::delete(departments::table).execute(conn)?;
    let departments: Vec<_> =
        tree.departments.iter().map(|d| (departments::code.eq(&d.code), departments::name.eq(&d.name))).collect();
    crate::store::insert_rows(conn, departments::table, &departments)?;
    let rows = tree
        .domains
        .iter()
        .flat_map(|d| d.classes.iter().flat_map(move |k| k.children.iter().map(move |c| (d.domain, c))))
        .map(|(domain, c)| {
            let domain =
                serde_json::to_value(domain).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let definition =
                serde_json::to_string(c).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
            Ok((
                categories::code.eq(&c.code),
                categories::name.eq(&c.name),
                categories::domain.eq(domain),
                categories::level.eq(i32::from(c.level)),
                categories::department_code.eq(&c.department),
                categories::definition.eq(definition),
            ))
        })
        .collect::<diesel::QueryResult<Vec<_>>>()?;
    crate::store::insert_rows(conn, categories::table, &rows)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tree_loads_with_at_least_forty_categories_in_every_domain() {
        let tree = CategoryTree::default_tree().unwrap();
        assert!(tree.categories().count() >= 40);
        for domain in [Domain::Emergency, Domain::Governance, Domain::CityManagement, Domain::Transport] {
            assert!(tree.categories().filter(|c| c.domain == domain).count() >= 6, "{domain:?}");
        }
        // A missing manhole cover: 2 urgent hours (docs/domain.md's example), sent at once.
        let cover = tree.category("C0101").unwrap();
        assert_eq!(cover.limits.handle, Limit { amount: 2, unit: TimeUnit::UrgentHours });
        assert!(cover.auto_dispatch);
        // Exposed rubbish: 4 working hours, and a grid worker may handle it alone.
        let rubbish = tree.category("C0301").unwrap();
        assert_eq!(rubbish.limits.handle, Limit { amount: 4, unit: TimeUnit::WorkingHours });
        assert!(rubbish.self_handle);
        assert_eq!(rubbish.level, 5);
        assert_eq!(rubbish.department.as_deref(), Some("cgj"));
        // A leaf overrides its class's defaults.
        assert_eq!(tree.category("C0405").unwrap().level, 3);
        assert_eq!(tree.category("C0405").unwrap().department.as_deref(), Some("scjgj"));
    }

    #[test]
    fn limits_parse_and_print() {
        let l: Limit = "2 working_days".parse().unwrap();
        assert_eq!(l, Limit { amount: 2, unit: TimeUnit::WorkingDays });
        assert_eq!(l.to_string(), "2 working_days");
        for bad in
            ["", "2", "two working_days", "0 urgent_hours", "2 fortnights", "2 working_days extra", "-1 urgent_hours"]
        {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_problem_of_a_bad_file_is_reported() {
        let bad = r#"{"version": 1, "departments": [{"code": "cgj", "name": "城管"}],
          "domains": [{"domain": "city_management", "name": "大城管", "classes": [
            {"code": "C01", "name": "x", "defaults": {"level": 5, "limits": {"accept": "1 working_hours"}},
             "children": [
               {"code": "C0101", "name": "a", "department": "nope", "limits": {"dispatch": "1 hours", "handle": "1 urgent_hours", "verify": "1 urgent_hours"}},
               {"code": "C0101", "name": "b", "level": 7, "limits": {"dispatch": "1 urgent_hours", "handle": "1 urgent_hours", "verify": "1 urgent_hours"}},
               {"code": "C0103", "name": "c"}
             ]},
            {"code": "C02", "name": "empty", "children": []}
          ]}]}"#;
        let Err(CategoryError::Invalid(problems)) = CategoryTree::from_json(bad) else { panic!("accepted") };
        let all = problems.join("\n");
        for expected in [
            "department \"nope\"",
            "unit \"hours\"",
            "appears more than once",
            "level 7",
            "no dispatch limit",
            "class C02 has no categories",
        ] {
            assert!(all.contains(expected), "{expected} missing from:\n{all}");
        }
    }

    #[test]
    fn unknown_fields_and_domains_are_refused() {
        assert!(matches!(CategoryTree::from_json("{}"), Err(CategoryError::Json(_))));
        let typo =
            r#"{"version": 1, "departments": [], "domains": [{"domain": "weather", "name": "x", "classes": []}]}"#;
        assert!(matches!(CategoryTree::from_json(typo), Err(CategoryError::Json(_))));
        let extra = r#"{"version": 1, "departments": [], "domains": [], "colour": "red"}"#;
        assert!(matches!(CategoryTree::from_json(extra), Err(CategoryError::Json(_))));
    }

    #[test]
    fn a_grade_takes_its_own_limits_where_the_tree_gives_them() {
        let file = r#"{"version": 1, "departments": [], "domains": [
          {"domain": "emergency", "name": "大应急", "classes": [{"code": "E9", "name": "x",
            "defaults": {"level": 3, "limits": {"accept": "1 urgent_hours", "dispatch": "1 urgent_hours",
                "handle": "1 working_days", "verify": "1 working_days"},
              "severity_limits": {"I": {"handle": "2 urgent_hours"}, "II": {"verify": "8 urgent_hours"}}},
            "children": [
              {"code": "E901", "name": "own handle limit", "limits": {"handle": "1 urgent_hours"},
               "severity_limits": {"II": {"accept": "2 urgent_hours"}}},
              {"code": "E902", "name": "class limits only"}]}]},
          {"domain": "governance", "name": "大综治", "classes": [{"code": "G9", "name": "y",
            "defaults": {"level": 4, "limits": {"accept": "1 working_hours", "dispatch": "1 working_hours",
                "handle": "1 working_days", "verify": "1 working_days"}},
            "children": [{"code": "G901", "name": "z", "severity_limits": {"I": {"handle": "1 urgent_hours"}}}]}]}]}"#;
        let Err(CategoryError::Invalid(problems)) = CategoryTree::from_json(file) else { panic!("accepted") };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("G901") && problems[0].contains("emergencies only"), "{problems:?}");

        let tree =
            CategoryTree::from_json(&file.replace(r#", "severity_limits": {"I": {"handle": "1 urgent_hours"}}"#, ""))
                .unwrap();
        let hours = |amount| Limit { amount, unit: TimeUnit::UrgentHours };
        let (own, plain) = (tree.category("E901").unwrap(), tree.category("E902").unwrap());
        // The class's grade I handle limit does not loosen a leaf's own tighter limit...
        assert_eq!(own.limits_for(Some(Severity::I)).handle, hours(1));
        // ...but tightens the class's plain one; grades not named keep the category's limits.
        assert_eq!(plain.limits_for(Some(Severity::I)).handle, hours(2));
        assert_eq!(plain.limits_for(Some(Severity::III)), &plain.limits);
        assert_eq!(plain.limits_for(None), &plain.limits);
        // A leaf's own limit for a grade stands as written, even looser; other steps take the
        // tighter of the plain limit and the class's for the grade.
        let grade_two = own.limits_for(Some(Severity::II));
        assert_eq!((grade_two.accept, grade_two.handle, grade_two.verify), (hours(2), hours(1), hours(8)));
        let day = Limit { amount: 1, unit: TimeUnit::WorkingDays };
        let four_working = Limit { amount: 4, unit: TimeUnit::WorkingHours };
        assert_eq!((day.tighter(hours(8)), hours(8).tighter(day)), (hours(8), hours(8)));
        assert_eq!((four_working.tighter(hours(4)), hours(4).tighter(four_working)), (hours(4), hours(4)));
        assert_eq!("II".parse::<Severity>(), Ok(Severity::II));
        assert!("V".parse::<Severity>().is_err());
    }
}
