//! The duty roster in storage (`duty_roster`): each grid's shifts, in order.

use diesel::prelude::*;
use uuid::Uuid;

use super::Shift;
use crate::store::{DbConnection, insert_rows};

diesel::table! {
    /// Who is on duty in which grid, when (see the migration).
    duty_roster (grid_code, position) {
        /// The grid.
        grid_code -> Text,
        /// The shift's place in the grid's roster, from 0.
        position -> Integer,
        /// The worker's user id.
        user_id -> Text,
        /// Days of the week, bit 0 Monday.
        weekdays -> Integer,
        /// Start, minutes after local midnight.
        from_min -> Integer,
        /// End, minutes after local midnight (below the start: past midnight).
        to_min -> Integer,
    }
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = duty_roster)]
struct Row {
    grid_code: String,
    position: i32,
    user_id: String,
    weekdays: i32,
    from_min: i32,
    to_min: i32,
}

/// The grid's shifts, in the roster's order. A row that no longer reads (a user id that
/// is not a UUID) is skipped.
pub fn shifts_of(conn: &mut DbConnection, grid: &str) -> QueryResult<Vec<Shift>> {
    let rows: Vec<Row> =
        duty_roster::table.filter(duty_roster::grid_code.eq(grid)).order(duty_roster::position).load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(Shift {
                user: Uuid::parse_str(&r.user_id).ok()?,
                weekdays: u8::try_from(r.weekdays).ok()?,
                from_min: u16::try_from(r.from_min).ok()?,
                to_min: u16::try_from(r.to_min).ok()?,
                grid: r.grid_code,
            })
        })
        .collect())
}

/// Replaces the grid's shifts with these, in this order (within the caller's transaction).
pub fn replace(conn: &mut DbConnection, grid: &str, shifts: &[Shift]) -> QueryResult<()> {
    diesel::delete(duty_roster::table.filter(duty_roster::grid_code.eq(grid))).execute(conn)?;
    let rows: Vec<Row> = shifts
        .iter()
        .enumerate()
        .map(|(position, s)| Row {
            grid_code: grid.to_owned(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            user_id: s.user.to_string(),
            weekdays: i32::from(s.weekdays),
            from_min: i32::from(s.from_min),
            to_min: i32::from(s.to_min),
        })
        .collect();
    insert_rows(conn, duty_roster::table, &rows)?;
    Ok(())
}
