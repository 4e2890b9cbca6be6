//! Why a command was refused, with the stable slug each refusal has on the wire.

use super::{Status, Target, TaskId, TaskKind, TaskStatus};

/// Why a command was refused. The case is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The timer already raised this on this limit.
    #[error("{0} was already raised on this limit")]
    AlreadyRaised(String),
    /// The case's state does not allow this action.
    #[error("a {status} case cannot be sent `{action}`")]
    IllegalTransition {
        /// The case's status.
        status: Status,
        /// The action refused.
        action: &'static str,
    },
    /// The verifier handled or assisted the case.
    #[error("whoever handled or assisted a case may not verify it")]
    VerifierIsHandler,
    /// The task is not on this case.
    #[error("the case has no task {0}")]
    NoSuchTask(TaskId),
    /// The task is not this kind (e.g. `confirm_task` on a handle task).
    #[error("task {task} is a {kind:?} task; `{action}` does not apply to it")]
    WrongTaskKind {
        /// Which task.
        task: TaskId,
        /// What it is.
        kind: TaskKind,
        /// The action refused.
        action: &'static str,
    },
    /// The actor is not among the task's assignees, or does not hold it.
    #[error("task {0} is not yours")]
    NotYourTask(TaskId),
    /// The task is not waiting for this step (already taken, completed or withdrawn).
    #[error("task {task} is {status:?}; `{action}` does not apply")]
    TaskNotActive {
        /// Which task.
        task: TaskId,
        /// Where it stands.
        status: TaskStatus,
        /// The action refused.
        action: &'static str,
    },
    /// A task would go to nobody (e.g. a grid with no worker on the roster).
    #[error("no one to send the task to: {0:?} has no assignee")]
    NoAssignee(Target),
    /// The task already has a request for more time waiting.
    #[error("task {0} already has a request for more time waiting for an answer")]
    ExtensionPending(TaskId),
    /// There is no request for more time to answer.
    #[error("task {0} has no request for more time to answer")]
    NoExtensionRequest(TaskId),
    /// Whoever the task was sent to may not answer its request for more time.
    #[error("whoever a task was sent to may not grant or refuse it more time")]
    OwnExtension,
    /// The case was already found stranded in this grid; nothing new to record.
    #[error("the case is already recorded as stranded in grid {0}")]
    AlreadyStranded(String),
    /// The task is parked (挂账): resume it first.
    #[error("task {0} is parked; resume it first")]
    TaskParked(TaskId),
    /// The task is not parked.
    #[error("task {0} is not parked")]
    NotParked(TaskId),
    /// The task already has a request to park it waiting.
    #[error("task {0} already has a request to park it waiting for an answer")]
    ParkPending(TaskId),
    /// There is no request to park to answer.
    #[error("task {0} has no request to park it to answer")]
    NoParkRequest(TaskId),
    /// Whoever the task was sent to may not approve or refuse parking it.
    #[error("whoever a task was sent to may not approve or refuse parking it")]
    OwnPark,
    /// A case cannot be merged into itself.
    #[error("a case cannot be merged into itself")]
    MergeIntoItself,
    /// Duplicates are merged only into a case of the same category.
    #[error("case of category {duplicate} cannot be merged into a case of category {survivor}")]
    DifferentCategory {
        /// The duplicate's category.
        duplicate: String,
        /// The survivor's category.
        survivor: String,
    },
    /// Duplicates are merged only when reported near each other and not long apart.
    #[error("not a duplicate: {0}")]
    NotADuplicate(String),
    /// The case to merge into has left the loop.
    #[error("the case to merge into is {0}; merge only into an open case")]
    SurvivorNotOpen(Status),
    /// There is no level above to escalate to (the city).
    #[error("there is no level above {0} to escalate to")]
    NoLevelAbove(String),
    /// The reporter already rated this closing of the case.
    #[error("this closing of the case is already rated")]
    AlreadyRated,
    /// The command is malformed (an empty reason, a task id used twice).
    #[error("{0}")]
    Invalid(String),
}

impl Refusal {
    /// The kind of the refusal, the same on every door.
    pub fn kind(&self) -> crate::error_kind::ErrorKind {
        use crate::error_kind::ErrorKind;
        match self {
            Refusal::IllegalTransition { .. } => ErrorKind::IllegalTransition,
            Refusal::AlreadyRaised(_) => ErrorKind::AlreadyRaised,
            Refusal::VerifierIsHandler => ErrorKind::VerifierIsHandler,
            Refusal::NoSuchTask(_) => ErrorKind::NotFound,
            Refusal::WrongTaskKind { .. } => ErrorKind::WrongTaskKind,
            Refusal::NotYourTask(_) => ErrorKind::NotYourTask,
            Refusal::TaskNotActive { .. } => ErrorKind::TaskNotActive,
            Refusal::NoAssignee(_) => ErrorKind::NoAssignee,
            Refusal::ExtensionPending(_) => ErrorKind::ExtensionPending,
            Refusal::NoExtensionRequest(_) => ErrorKind::NoExtensionRequest,
            Refusal::OwnExtension => ErrorKind::OwnExtension,
            Refusal::AlreadyStranded(_) => ErrorKind::AlreadyStranded,
            Refusal::TaskParked(_) => ErrorKind::TaskParked,
            Refusal::NotParked(_) => ErrorKind::NotParked,
            Refusal::ParkPending(_) => ErrorKind::ParkPending,
            Refusal::NoParkRequest(_) => ErrorKind::NoParkRequest,
            Refusal::OwnPark => ErrorKind::OwnPark,
            Refusal::MergeIntoItself => ErrorKind::MergeIntoItself,
            Refusal::DifferentCategory { .. } => ErrorKind::DifferentCategory,
            Refusal::NotADuplicate(_) => ErrorKind::NotADuplicate,
            Refusal::SurvivorNotOpen(_) => ErrorKind::SurvivorNotOpen,
            Refusal::NoLevelAbove(_) => ErrorKind::NoLevelAbove,
            Refusal::AlreadyRated => ErrorKind::AlreadyRated,
            Refusal::Invalid(_) => ErrorKind::InvalidCommand,
        }
    }

    /// Every kind [`Refusal::kind`] gives: what the workflow may answer to any command.
    pub const KINDS: &'static [crate::error_kind::ErrorKind] = {
        use crate::error_kind::ErrorKind::*;
        &[
            IllegalTransition,
            AlreadyRaised,
            VerifierIsHandler,
            NotFound,
            WrongTaskKind,
            NotYourTask,
            TaskNotActive,
            NoAssignee,
            ExtensionPending,
            NoExtensionRequest,
            OwnExtension,
            AlreadyStranded,
            TaskParked,
            NotParked,
            ParkPending,
            NoParkRequest,
            OwnPark,
            MergeIntoItself,
            DifferentCategory,
            NotADuplicate,
            SurvivorNotOpen,
            NoLevelAbove,
            AlreadyRated,
            InvalidCommand,
        ]
    };
}
