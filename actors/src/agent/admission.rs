//! Admission: what a call asks for, the actor's verdict, and the checks that reach it.
//!
//! `decide` does no I/O. In order: revoked or inactive, project granted, scope held, a pending stop (tracker writes, when
//! the agent's setting says so), rate. Only a call that passes every
//! other check consumes rate budget.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};

use super::{AgentActor, SessionMark, ADMITTED, DENIED, RATE_LIMITED};

/// A request for admission: the scope the operation needs and, when it targets one
/// project, that project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmitRequest {
    /// The scope the operation needs, e.g. `cards:write`; `None` for a request that
    /// needs none (a protocol message: only standing and rate are checked).
    pub scope: Option<String>,
    /// The project the operation touches, when it touches exactly one.
    pub project_id: Option<String>,
    /// Whether the call counts against the rate limit (every agent call does).
    pub rate_limited: bool,
    /// Whether the call writes to the tracker (refused while a stop of the agent's work
    /// session is pending, when the agent's setting says so).
    pub tracker_write: bool,
}

impl AdmitRequest {
    /// Any request of the agent: counts against its rate, needs no scope.
    pub fn any() -> Self {
        Self {
            scope: None,
            project_id: None,
            rate_limited: true,
            tracker_write: false,
        }
    }
}

/// The actor's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead. Carries the projects where the agent holds the requested scope, so
    /// list operations can filter without a second round trip.
    Allowed {
        /// Projects where the requested scope is held.
        projects: Vec<String>,
        /// The agent's open work session, which the call belongs to.
        session: Option<SessionMark>,
    },
    /// Refused, with the reason.
    Denied(DenyReason),
}

/// Why admission was refused. Each reason carries what the caller needs to do better.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// The agent is revoked or disabled, or its owner may no longer use agents.
    Revoked,
    /// The agent holds this scope nowhere (or not in the named project).
    MissingScope {
        /// The scope that was needed.
        scope: String,
        /// The scopes the agent does hold (in the project, when one was named).
        held: Vec<String>,
    },
    /// The project is not granted to the agent.
    ProjectNotGranted {
        /// The project asked for.
        project_id: String,
        /// The projects the agent may use.
        granted: Vec<String>,
    },
    /// A tracker write while a stop of the open work session is pending, and the agent's
    /// setting refuses writes then.
    StopRequested {
        /// The session asked to stop.
        session: SessionMark,
    },
    /// Over the rate limit; retry after this long.
    RateLimited {
        /// The earliest time a retry can succeed.
        retry_after: Duration,
        /// Refusals by the rate limit in a row, this one included (1 for the first), so
        /// callers can record a streak without recording every refusal.
        streak: u64,
    },
}

impl AgentActor {
    /// Decides `request`, counts the verdict and marks the agent active.
    pub(super) fn admit(&mut self, request: &AdmitRequest) -> Admission {
        self.shared.touch();
        let mut verdict = self.decide(request);
        let counter = match &mut verdict {
            Admission::Allowed { .. } => {
                self.rate_streak = 0;
                ADMITTED
            }
            Admission::Denied(DenyReason::RateLimited { streak, .. }) => {
                self.rate_streak += 1;
                *streak = self.rate_streak;
                RATE_LIMITED
            }
            Admission::Denied(_) => DENIED,
        };
        self.shared.counters[counter].fetch_add(1, Ordering::Relaxed);
        verdict
    }

    /// The granted projects, in order.
    fn granted(&self) -> impl Iterator<Item = String> + '_ {
        self.profile
            .grants
            .iter()
            .map(|grant| grant.project_id.clone())
    }

    /// The scopes held in `project_id`, if it is granted.
    fn scopes_in(&self, project_id: &str) -> Option<&BTreeSet<String>> {
        self.profile
            .grants
            .iter()
            .find(|grant| grant.project_id == project_id)
            .map(|grant| &grant.scopes)
    }

    fn decide(&self, request: &AdmitRequest) -> Admission {
        if self.shared.is_revoked() || !self.profile.active {
            return Admission::Denied(DenyReason::Revoked);
        }
        let projects: Vec<String> = match (&request.scope, &request.project_id) {
            (None, _) => self.granted().collect(),
            (Some(scope), Some(project_id)) => {
                let Some(scopes) = self.scopes_in(project_id) else {
                    return Admission::Denied(DenyReason::ProjectNotGranted {
                        project_id: project_id.clone(),
                        granted: self.granted().collect(),
                    });
                };
                if !scopes.contains(scope) {
                    return Admission::Denied(DenyReason::MissingScope {
                        scope: scope.clone(),
                        held: scopes.iter().cloned().collect(),
                    });
                }
                vec![project_id.clone()]
            }
            (Some(scope), None) => {
                let projects: Vec<String> = self
                    .profile
                    .grants
                    .iter()
                    .filter(|grant| grant.scopes.contains(scope))
                    .map(|grant| grant.project_id.clone())
                    .collect();
                if projects.is_empty() {
                    let held: BTreeSet<String> = self
                        .profile
                        .grants
                        .iter()
                        .flat_map(|grant| grant.scopes.iter().cloned())
                        .collect();
                    return Admission::Denied(DenyReason::MissingScope {
                        scope: scope.clone(),
                        held: held.into_iter().collect(),
                    });
                }
                projects
            }
        };
        let session = self.shared.session();
        if request.tracker_write && self.profile.stop_refuses_writes {
            if let Some(session) = session.as_ref().filter(|s| s.stop_requested) {
                return Admission::Denied(DenyReason::StopRequested {
                    session: session.clone(),
                });
            }
        }
        if request.rate_limited {
            if let Err(not_until) = self.limiter.check() {
                let retry_after = not_until.wait_time_from(DefaultClock::default().now());
                return Admission::Denied(DenyReason::RateLimited {
                    retry_after,
                    streak: 0,
                });
            }
        }
        Admission::Allowed { projects, session }
    }
}
