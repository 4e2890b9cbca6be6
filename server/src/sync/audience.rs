//! Which rows of the change log a user reads: the audience subjects of their sessions.
//!
//! Both the live session ([`super::socket`]) and the snapshot a device starts from
//! ([`super::snapshot`]) read through these subjects; they sit here so that neither of
//! those two depends on the other for them (the socket uses the snapshot, not back).

use crate::auth::Role;
use crate::changes::unit_subject;
use crate::incidents::scope::Viewer;

/// The audience subjects a user reads the log through: themselves, and the area of
/// their unit if they direct cases there. Workers read only their own rows, so that a
/// task a colleague took reaches them as removed, not as their grid's. A department's
/// staff also read what is told to their department (抄告), under its code.
pub fn subjects(viewer: &Viewer) -> Vec<String> {
    let mut subjects = vec![viewer.id.to_string()];
    let told = viewer.role == Role::DepartmentStaff;
    if (viewer.directs() || told) && !viewer.unit_code.is_empty() {
        subjects.push(unit_subject(&viewer.unit_code));
    }
    subjects
}
