//! The table of running limits, as diesel sees it (see `migrations/`).

diesel::table! {
    /// Every limit running on a case, kept by the one write path.
    deadlines (incident_id, deadline) {
        /// The case.
        incident_id -> Text,
        /// The limit's key within the case: `accept`, `dispatch`, `verify` or a task's id.
        deadline -> Text,
        /// The step it times (`accept`, `dispatch`, `confirm`, `handle`, `verify`).
        step -> Text,
        /// The task, for a task's limit.
        task_id -> Nullable<Text>,
        /// The unit it counts in (`urgent_hours`, `working_hours`, `working_days`).
        unit -> Text,
        /// When it started (Unix ms).
        started_at_ms -> BigInt,
        /// When it turns yellow (80 %); none while parked.
        yellow_at_ms -> Nullable<BigInt>,
        /// When it falls due; red past it.
        due_at_ms -> BigInt,
        /// When it climbs to the next supervision queue; none at the city or while parked.
        climb_at_ms -> Nullable<BigInt>,
        /// The next instant the timer has something to do for it; none when nothing is left.
        next_at_ms -> Nullable<BigInt>,
        /// Parked (挂账): its clock stands still.
        parked -> Bool,
        /// Whether the warning (预警) fired.
        warned -> Bool,
        /// Whether it went overdue (超期).
        overdue -> Bool,
        /// The level supervising it (督办), once overdue.
        level -> Nullable<Integer>,
        /// The supervising centre's unit, once overdue.
        supervisor_code -> Nullable<Text>,
    }
}

use crate::incidents::schema::incidents;

diesel::joinable!(deadlines -> incidents (incident_id));
diesel::allow_tables_to_appear_in_same_query!(deadlines, incidents);
