//! What the telemetry of a call knows beyond its span: the project, once its key is verified. The
//! observe layer opens the slot around the call; authentication fills it; the failed-call log line
//! and the database statements' spans read it.

use std::sync::{Arc, OnceLock};

use uuid::Uuid;

tokio::task_local! {
    static PROJECT: CallProject;
}

/// The project of the call being served, set at most once.
#[derive(Clone, Debug, Default)]
pub struct CallProject(Arc<OnceLock<Uuid>>);

impl CallProject {
    /// A slot already holding `project_id`, for work done for a project outside its call.
    pub fn of(project_id: Uuid) -> Self {
        Self(Arc::new(OnceLock::from(project_id)))
    }

    /// The project, when the call's key was verified.
    pub fn get(&self) -> Option<Uuid> {
        self.0.get().copied()
    }

    /// Runs `future` with this slot as the call's (a task-local: spawned tasks do not see it).
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        PROJECT.scope(self, future)
    }

    /// Runs `work` with this slot as the call's (for each poll of a streamed response).
    pub fn sync_scope<R>(&self, work: impl FnOnce() -> R) -> R {
        PROJECT.sync_scope(self.clone(), work)
    }
}

/// Notes the project of the call being served (a no-op outside one).
pub fn note_project(project_id: Uuid) {
    let _ = PROJECT.try_with(|slot| slot.0.set(project_id));
}

/// The project of the call being served, when known.
pub fn current_project() -> Option<Uuid> {
    PROJECT.try_with(CallProject::get).ok().flatten()
}
