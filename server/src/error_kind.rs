//! The one list of error kinds: every slug the server answers with, over HTTP (a
//! problem document's `type`) and on the socket (an `error`'s or a refused
//! `mutation_result`'s `code`), with its HTTP status and title.
//!
//! The same condition has the same kind on every door: a photo not uploaded is
//! `unknown-attachment` over HTTP and on the socket alike. Each route names the kinds it
//! can answer ([`crate::openapi::ROUTES`]); the OpenAPI document lists them from there,
//! and the server counts any answer outside its route's list (docs/contract.md#errors).

/// Declares [`ErrorKind`] from one table: variant, slug, HTTP status, title, and the doc
/// comment, which is also the kind's description in the OpenAPI document.
macro_rules! kinds {
    ($( $(#[doc = $doc:literal])+ $variant:ident = $slug:expr, $status:literal, $title:literal; )+) => {
        /// A kind of error, as clients switch on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorKind {
            $( $(#[doc = $doc])+ $variant, )+
        }

        impl ErrorKind {
            /// Every kind, in the table's order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant),+];

            /// The stable slug: a problem's `type`, a socket answer's `code`.
            pub fn slug(self) -> &'static str {
                match self { $(ErrorKind::$variant => $slug,)+ }
            }

            /// The HTTP status it is answered with (on the socket, the kind alone travels).
            pub fn status(self) -> u16 {
                match self { $(ErrorKind::$variant => $status,)+ }
            }

            /// A short title for people.
            pub fn title(self) -> &'static str {
                match self { $(ErrorKind::$variant => $title,)+ }
            }

            /// What the kind means, for the API's description.
            pub fn description(self) -> &'static str {
                match self { $(ErrorKind::$variant => concat!($($doc),+).trim_ascii(),)+ }
            }
        }
    };
}

kinds! {
    // 400: the request could not be read.
    /// The request could not be read: a malformed query string or body.
    BadRequest = "bad-request", 400, "Bad request";
    /// A coordinate is missing, malformed or out of range.
    InvalidCoordinates = "invalid-coordinates", 400, "Invalid coordinates";
    /// The coordinate system named is not one the server converts from.
    InvalidCrs = "invalid-crs", 400, "Unknown coordinate system";

    // 401: who is asking is not known.
    /// A wrong login or password, or a refresh token not valid for this device.
    InvalidCredentials = "invalid-credentials", 401, "Invalid credentials";
    /// No valid session: the token is missing, expired or revoked; log in again (or refresh).
    Unauthenticated = sync_protocol::codes::UNAUTHENTICATED, 401, "Not authenticated";

    // 403: known, and not allowed.
    /// The caller's role or area does not allow this (docs/domain.md, who may do what).
    Forbidden = "forbidden", 403, "Forbidden";
    /// The task is not the caller's: not among its assignees, or held by another.
    NotYourTask = "not-your-task", 403, "Not your task";
    /// An Open311 request to file names no API key, or one the server did not issue or revoked.
    InvalidApiKey = "invalid-api-key", 403, "Invalid API key";

    // 404: nothing there the caller may see.
    /// No such route, case, task or file that the caller may see.
    NotFound = "not-found", 404, "Not found";
    /// The point is outside every grid, beyond the snapping tolerance.
    OutsideServiceArea = "outside-service-area", 404, "Outside the service area";

    // 409: the case's state does not allow it now (docs/domain.md, refusals).
    /// The case's status does not allow this action.
    IllegalTransition = "illegal-transition", 409, "Not allowed in this status";
    /// Whoever handled or assisted a case may not verify it.
    VerifierIsHandler = "verifier-is-handler", 409, "Verifier handled the case";
    /// The task is of another kind than the action is for (e.g. `confirm_task` on a handle task).
    WrongTaskKind = "wrong-task-kind", 409, "Wrong kind of task";
    /// The task is not waiting for this step: already taken, completed or withdrawn.
    TaskNotActive = "task-not-active", 409, "Task not active";
    /// The task already has a request for more time waiting for an answer.
    ExtensionPending = "extension-pending", 409, "Extension already asked";
    /// The task has no request for more time to answer.
    NoExtensionRequest = "no-extension-request", 409, "No extension asked";
    /// Whoever a task was sent to may not grant or refuse it more time.
    OwnExtension = "own-extension", 409, "Own extension";
    /// The case is already recorded as stranded in this grid.
    AlreadyStranded = "already-stranded", 409, "Already stranded";
    /// The deadline timer already raised this on this limit.
    AlreadyRaised = "already-raised", 409, "Already raised";
    /// The task is parked (挂账): resume it first.
    TaskParked = "task-parked", 409, "Task parked";
    /// The task is not parked.
    NotParked = "not-parked", 409, "Task not parked";
    /// The task already has a request to park it waiting for an answer.
    ParkPending = "park-pending", 409, "Park already asked";
    /// The task has no request to park it to answer.
    NoParkRequest = "no-park-request", 409, "No park asked";
    /// Whoever a task was sent to may not approve or refuse parking it.
    OwnPark = "own-park", 409, "Own park";
    /// The case to merge into has left the loop.
    SurvivorNotOpen = "survivor-not-open", 409, "Survivor not open";
    /// There is no level above to escalate to (the city).
    NoLevelAbove = "no-level-above", 409, "No level above";
    /// This closing of the case is already rated.
    AlreadyRated = "already-rated", 409, "Already rated";
    /// A new account's login is taken by another account.
    LoginTaken = "login-taken", 409, "Login taken";
    /// An administrator may not disable their own account (nobody would be left to enable it).
    OwnAccount = "own-account", 409, "Own account";

    // 413, 415: the body.
    /// The body is larger than the route takes.
    PayloadTooLarge = "payload-too-large", 413, "Payload too large";
    /// The body's media type is not one the route takes.
    UnsupportedMediaType = "unsupported-media-type", 415, "Unsupported media type";

    // 422: well-formed, but naming something that does not hold.
    /// A command is malformed: an empty reason, a task id used twice, a bad field of an op.
    InvalidCommand = "invalid-command", 422, "Invalid command";
    /// No such leaf category.
    UnknownCategory = "unknown-category", 422, "Unknown category";
    /// A photo cited is malformed or not uploaded (on the socket: answered with
    /// `retry`, so that the phone uploads it and sends again).
    UnknownAttachment = "unknown-attachment", 422, "Unknown attachment";
    /// More photos than a report or result takes.
    TooManyPhotos = "too-many-photos", 422, "Too many photos";
    /// A report says nothing (no description and no photo), or its grade does not apply.
    InvalidReport = "invalid-report", 422, "Invalid report";
    /// A reporter's name or phone is malformed.
    InvalidContact = "invalid-contact", 422, "Invalid contact";
    /// An `Idempotency-Key` was used before with another body.
    IdempotencyKeyReused = "idempotency-key-reused", 422, "Idempotency key reused";
    /// A text (description, note, reason, result) is longer than the server keeps.
    TextTooLong = "text-too-long", 422, "Text too long";
    /// An upload is empty or is not what its media type says.
    InvalidFile = "invalid-file", 422, "Invalid file";
    /// A dispatch target names no grid, unit, department or user.
    UnknownTarget = "unknown-target", 422, "Unknown target";
    /// A merge names a case that does not exist.
    UnknownCase = "unknown-case", 422, "Unknown case";
    /// A task would go to nobody (e.g. a grid with no worker on the roster).
    NoAssignee = "no-assignee", 422, "No assignee";
    /// A case cannot be merged into itself.
    MergeIntoItself = "merge-into-itself", 422, "Merge into itself";
    /// Duplicates are merged only into a case of the same category.
    DifferentCategory = "different-category", 422, "Different category";
    /// Duplicates are merged only when reported near each other and not long apart.
    NotADuplicate = "not-a-duplicate", 422, "Not a duplicate";
    /// The route takes the operations on a task, and this is another.
    NotATaskOperation = "not-a-task-operation", 422, "Not a task operation";
    /// The action is part of the contract but not served by this version.
    NotSupportedYet = "not-supported-yet", 422, "Not supported yet";
    /// A duty roster's shift is malformed.
    InvalidShift = "invalid-shift", 422, "Invalid shift";
    /// A roster names someone who is not a grid worker of that grid.
    NotAGridWorker = "not-a-grid-worker", 422, "Not a grid worker";
    /// The routing rules have nothing to suggest for this case.
    NoSuggestion = "no-suggestion", 422, "No suggestion";
    /// A push endpoint is not an allowed push service's URL.
    InvalidPushEndpoint = "invalid-push-endpoint", 422, "Invalid push endpoint";
    /// A push subscription's keys are malformed.
    InvalidPushKeys = "invalid-push-keys", 422, "Invalid push keys";
    /// A device id is empty, too long or not printable ASCII.
    InvalidDeviceId = "invalid-device-id", 422, "Invalid device id";
    /// The device named is not the session's.
    DeviceMismatch = "device-mismatch", 422, "Device mismatch";
    /// A new password breaks the password policy; the detail names the rule (at least 10
    /// characters, not digits only nor one character repeated, not the login, not a common password).
    WeakPassword = "weak-password", 422, "Weak password";
    /// A new account's login, role or unit does not hold: a login with spaces, an unknown
    /// role, or a unit that does not exist or does not fit the role.
    InvalidAccount = "invalid-account", 422, "Invalid account";
    /// A phone's own finding reuses a case id that exists.
    DuplicateId = "duplicate-id", 422, "Duplicate id";
    /// A finding sent as handled alone (自行处置) does not qualify: its category is not
    /// one a worker may handle alone, or it lacks the photos before or after, or the
    /// result. Nothing is stored; send it as a plain finding instead.
    NotSelfHandled = "not-self-handled", 422, "Not a self-handled finding";
    /// An Open311 request's `attribute[CODE]` is not one its service defines, a required one
    /// is missing, or a value is not of the attribute's datatype or among its keys.
    InvalidAttribute = "invalid-attribute", 422, "Invalid attribute";

    // 429, 503: not now.
    /// Too many requests from this address or for this login; try again after `Retry-After`.
    RateLimited = "rate-limited", 429, "Too many requests";
    /// This address has used its allowance (bytes uploaded in a day); try again after `Retry-After`.
    QuotaExceeded = "quota-exceeded", 429, "Quota exceeded";
    /// The server's password checks are queued up; try again after `Retry-After`.
    Busy = "busy", 503, "Busy";

    // 500.
    /// Something failed inside the server; the cause is logged with its chain, never sent.
    Internal = "internal", 500, "Internal error";

    // The socket's own (sync-protocol): its frames, not any route's.
    /// The hello named a protocol version the server does not speak.
    UnsupportedProtocol = sync_protocol::codes::UNSUPPORTED_PROTOCOL, 400, "Unsupported protocol";
    /// The first message was not a hello, or a hello came twice.
    ExpectedHello = sync_protocol::codes::EXPECTED_HELLO, 400, "Expected hello";
    /// A frame was not a JSON object of a known form.
    Malformed = sync_protocol::codes::MALFORMED, 400, "Malformed frame";
    /// The op's kind is not one this server applies; the client may drop it.
    UnsupportedOp = sync_protocol::codes::UNSUPPORTED_OP, 422, "Unsupported op";
    /// A new device's hello is refused: the user has as many devices as the server keeps,
    /// all of them connected.
    TooManyDevices = "too-many-devices", 409, "Too many devices";
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

/// A kind is its slug, so that a test may say `assert_eq!(refusal.kind(), "not-found")`.
impl PartialEq<&str> for ErrorKind {
    fn eq(&self, slug: &&str) -> bool {
        self.slug() == *slug
    }
}

/// The kind whose slug is `slug`, for reading an answer back (tests, the phone client).
pub fn by_slug(slug: &str) -> Option<ErrorKind> {
    ErrorKind::ALL.iter().copied().find(|k| k.slug() == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_lowercase_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            assert!(seen.insert(kind.slug()), "{kind:?} repeats {}", kind.slug());
            assert!(kind.slug().bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{kind:?}");
            assert!((400..600).contains(&kind.status()), "{kind:?}");
            assert!(!kind.description().is_empty() && !kind.title().is_empty(), "{kind:?}");
            assert_eq!(by_slug(kind.slug()), Some(*kind));
        }
        assert_eq!(by_slug("attachment-missing"), None, "the socket's old name is gone");
    }
}
