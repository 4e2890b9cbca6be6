//! The tables of cases, tasks and their trace, as diesel sees them (see `migrations/`).

diesel::table! {
    /// Named counters, e.g. `case-2026` for the human case numbers of a year.
    counters (name) {
        /// The counter's name.
        name -> Text,
        /// The last value given out.
        value -> BigInt,
    }
}

diesel::table! {
    /// Cases.
    incidents (id) {
        /// The case's id (a UUID).
        id -> Text,
        /// Its human number, e.g. `2026-0000123`.
        code -> Text,
        /// Its category (a leaf code).
        category_code -> Text,
        /// Its status, as on the wire.
        status -> Text,
        /// The level handling it now (1–5).
        level -> Integer,
        /// The grid it lies in.
        grid_code -> Text,
        /// The grid's community.
        community_code -> Text,
        /// The grid's township.
        township_code -> Text,
        /// The grid's county.
        county_code -> Text,
        /// The grid's city.
        city_code -> Text,
        /// WGS-84 longitude.
        lon -> Double,
        /// WGS-84 latitude.
        lat -> Double,
        /// What the reporter wrote.
        description -> Text,
        /// Attachment ids of the report's photos (a JSON array).
        photos -> Text,
        /// The reporter's name, if given (personal data: sealed, shown masked).
        contact_name -> Nullable<Text>,
        /// The reporter's phone, if given (personal data: sealed, shown masked).
        contact_phone -> Nullable<Text>,
        /// Where the report came from (`resident`, `staff`, …).
        source -> Text,
        /// The staff user who reported it, if one did.
        reporter_id -> Nullable<Text>,
        /// SHA-256 of the reporter's follow token.
        follow_token_hash -> Text,
        /// The workflow's view of the case (JSON).
        state -> Text,
        /// When reported (Unix ms).
        reported_at_ms -> BigInt,
        /// When last changed (Unix ms).
        updated_at_ms -> BigInt,
        /// When the current step falls due (Unix ms), if it has a limit.
        due_at_ms -> Nullable<BigInt>,
        /// An emergency's grade (`I`…`IV`), if it has one.
        severity -> Nullable<Text>,
        /// The current step's deadline light (`green`, `yellow`, `red`), kept with the state.
        light -> Text,
        /// The reporter's ID number, if given (personal data: sealed, shown masked).
        contact_id_number -> Nullable<Text>,
    }
}

diesel::table! {
    /// Tasks, one unit of work each.
    tasks (id) {
        /// The task's id (a UUID).
        id -> Text,
        /// Its case.
        incident_id -> Text,
        /// `handle`, `confirm` or `verify`.
        kind -> Text,
        /// `lead` or `assist`.
        role -> Text,
        /// What it was sent to (JSON, e.g. `{"grid": "…"}`).
        target -> Text,
        /// Who holds it.
        holder_id -> Nullable<Text>,
        /// Where it stands.
        status -> Text,
        /// How many times it came back for rework.
        rework -> Integer,
        /// When created (Unix ms).
        created_at_ms -> BigInt,
        /// When last changed (Unix ms).
        updated_at_ms -> BigInt,
        /// When it falls due (Unix ms).
        due_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Who may take each task.
    task_assignees (task_id, user_id) {
        /// The task.
        task_id -> Text,
        /// One of its assignees.
        user_id -> Text,
    }
}

diesel::table! {
    /// The trace: every event of every case, numbered within the case.
    events (incident_id, n) {
        /// The case.
        incident_id -> Text,
        /// The event's number within the case, from 1.
        n -> Integer,
        /// What happened (`reported`, `registered`, `dispatched`, …).
        action -> Text,
        /// Who did it (a user id; none for a resident).
        actor_id -> Nullable<Text>,
        /// Their role at the time.
        actor_role -> Nullable<Text>,
        /// The device it came from, if named.
        device_id -> Nullable<Text>,
        /// The event's data (JSON).
        data -> Text,
        /// When (Unix ms).
        at_ms -> BigInt,
        /// When the server heard of it (Unix ms), if recorded.
        received_at_ms -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Idempotency keys with the body they were bound to and the result to repeat.
    idempotency (scope, key) {
        /// Whose keys (`report`, later `mutation:<user>:<device>`).
        scope -> Text,
        /// The key.
        key -> Text,
        /// SHA-256 of the request body it was first used with.
        body_hash -> Text,
        /// The result returned (JSON; a report's sealed, since it holds the follow token).
        result -> Text,
        /// When first used (Unix ms).
        created_at_ms -> BigInt,
    }
}

diesel::joinable!(tasks -> incidents (incident_id));
diesel::joinable!(task_assignees -> tasks (task_id));
diesel::joinable!(events -> incidents (incident_id));
diesel::allow_tables_to_appear_in_same_query!(incidents, tasks, task_assignees, events);
