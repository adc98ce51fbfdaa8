//! What the adapter knows of a workspace: its projects, and each project's states,
//! labels and members, read from Plane and kept for a short while ([`TTL`]) so that one
//! agent call costs few of the API key's 60 requests a minute. A name that does not
//! resolve against a kept copy is looked up once more against a fresh one before it is
//! refused, so a label made in Plane a moment ago is never refused.
//!
//! Plane's endpoints (makeplane/plane, `apps/api/plane/api/views/`): `project.py`
//! (`GET projects/`, paginated, only the projects the key's user is a member of or that
//! are public), `state.py` and `issue.py` (`GET …/states/`, `GET …/labels/`,
//! paginated), `member.py` (`GET …/members/` lists a project's users *without* their
//! project role, `GET members/` the workspace's users *with* their workspace role),
//! `user.py` (`GET /api/v1/users/me/`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::client::Http;
use super::wire;
use crate::tasker::{Member, ProjectSummary, TaskerResult};

/// How long a read of the workspace's projects, states, labels and members is kept.
pub const TTL: Duration = Duration::from_secs(30);
/// Page size of the lists the adapter reads whole.
const PER_PAGE: u32 = 100;
/// Pages read at most of one list (100 000 entries).
const MAX_PAGES: u32 = 1000;

/// One project with everything needed to check and show names.
#[derive(Debug)]
pub struct ProjectData {
    pub project: wire::Project,
    /// In workflow order (Plane's `sequence`).
    pub states: Vec<wire::State>,
    /// By name.
    pub labels: Vec<wire::Label>,
    /// By display name; the role is the user's *workspace* role (see module docs).
    pub members: Vec<Member>,
}

impl ProjectData {
    pub fn summary(&self) -> ProjectSummary {
        summary(&self.project)
    }
}

pub fn summary(p: &wire::Project) -> ProjectSummary {
    ProjectSummary {
        id: p.id.clone(),
        identifier: p.identifier.clone(),
        name: p.name.clone(),
    }
}

type Kept<T> = Mutex<Option<(Instant, T)>>;

/// The kept reads of one workspace.
#[derive(Debug)]
pub struct Catalog {
    http: Http,
    projects: Kept<Arc<Vec<wire::Project>>>,
    roles: Kept<Arc<HashMap<String, (String, i64)>>>,
    data: Mutex<HashMap<String, (Instant, Arc<ProjectData>)>>,
    me: Mutex<Option<String>>,
}

fn fresh<T: Clone>(kept: &Kept<T>) -> Option<T> {
    let kept = kept
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    kept.as_ref()
        .filter(|(at, _)| at.elapsed() < TTL)
        .map(|(_, v)| v.clone())
}

fn keep<T>(kept: &Kept<T>, value: T) {
    *kept
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((Instant::now(), value));
}

/// Plane's workspace role as one of the port's three: 20, 15 or 5.
fn role(plane: Option<i64>) -> i64 {
    match plane.unwrap_or(5) {
        r if r >= 20 => 20,
        r if r >= 15 => 15,
        _ => 5,
    }
}

impl Catalog {
    pub fn new(http: Http) -> Self {
        Self {
            http,
            projects: Mutex::new(None),
            roles: Mutex::new(None),
            data: Mutex::new(HashMap::new()),
            me: Mutex::new(None),
        }
    }

    /// Every page of a paginated list.
    pub async fn all<T: DeserializeOwned>(
        &self,
        deadline: Instant,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> TaskerResult<Vec<T>> {
        let mut out = Vec::new();
        let per_page = PER_PAGE.to_string();
        for page in 0..MAX_PAGES {
            let cursor = format!("{PER_PAGE}:{page}:0");
            let mut q: Vec<(&str, &str)> =
                vec![("per_page", per_page.as_str()), ("cursor", cursor.as_str())];
            q.extend_from_slice(query);
            let p: wire::Page<T> = self.http.get(deadline, segments, &q).await?;
            out.extend(p.results);
            if !p.next_page_results {
                break;
            }
        }
        Ok(out)
    }

    /// The projects the key's user sees, by identifier.
    pub async fn projects(
        &self,
        deadline: Instant,
        refresh: bool,
    ) -> TaskerResult<Arc<Vec<wire::Project>>> {
        if let Some(p) = fresh(&self.projects).filter(|_| !refresh) {
            return Ok(p);
        }
        let mut projects: Vec<wire::Project> = self.all(deadline, &["projects"], &[]).await?;
        projects.sort_by(|a, b| a.identifier.cmp(&b.identifier));
        let projects = Arc::new(projects);
        keep(&self.projects, Arc::clone(&projects));
        Ok(projects)
    }

    /// The project with this id, if the key's user sees it.
    pub async fn find_project(
        &self,
        deadline: Instant,
        id: &str,
    ) -> TaskerResult<Option<wire::Project>> {
        let cached = self.projects(deadline, false).await?;
        if let Some(p) = cached.iter().find(|p| p.id == id) {
            return Ok(Some(p.clone()));
        }
        let refreshed = self.projects(deadline, true).await?;
        Ok(refreshed.iter().find(|p| p.id == id).cloned())
    }

    /// The project whose identifier is `identifier` (case-insensitive).
    pub async fn by_identifier(
        &self,
        deadline: Instant,
        identifier: &str,
    ) -> TaskerResult<Option<wire::Project>> {
        for refresh in [false, true] {
            let projects = self.projects(deadline, refresh).await?;
            if let Some(p) = projects
                .iter()
                .find(|p| p.identifier.eq_ignore_ascii_case(identifier))
            {
                return Ok(Some(p.clone()));
            }
        }
        Ok(None)
    }

    /// Workspace members: user id → (name, role).
    async fn roles(
        &self,
        deadline: Instant,
        refresh: bool,
    ) -> TaskerResult<Arc<HashMap<String, (String, i64)>>> {
        if let Some(r) = fresh(&self.roles).filter(|_| !refresh) {
            return Ok(r);
        }
        let users: Vec<wire::User> = self.http.get(deadline, &["members"], &[]).await?;
        let roles: HashMap<String, (String, i64)> = users
            .into_iter()
            .map(|u| (u.id.clone(), (u.name(), role(u.role))))
            .collect();
        let roles = Arc::new(roles);
        keep(&self.roles, Arc::clone(&roles));
        Ok(roles)
    }

    /// A user's name, for history and comments by people.
    pub async fn user_name(&self, deadline: Instant, user_id: &str) -> String {
        match self.roles(deadline, false).await {
            Ok(r) => r.get(user_id).map(|(n, _)| n.clone()),
            Err(_) => None,
        }
        .unwrap_or_else(|| user_id.to_owned())
    }

    /// The members of a project (which must exist), by display name.
    pub async fn members(
        &self,
        deadline: Instant,
        project: &wire::Project,
        refresh: bool,
    ) -> TaskerResult<Vec<Member>> {
        let users: Vec<wire::User> = self
            .http
            .get(deadline, &["projects", &project.id, "members"], &[])
            .await?;
        let roles = self.roles(deadline, refresh).await?;
        let mut members: Vec<Member> = users
            .into_iter()
            .map(|u| {
                let role = roles.get(&u.id).map_or(5, |(_, r)| *r);
                Member {
                    display_name: u.name(),
                    user_id: u.id,
                    role,
                }
            })
            .collect();
        members.sort_by(|a, b| {
            a.display_name
                .cmp(&b.display_name)
                .then(a.user_id.cmp(&b.user_id))
        });
        Ok(members)
    }

    /// A project's states, labels and members.
    pub async fn project(
        &self,
        deadline: Instant,
        project: &wire::Project,
        refresh: bool,
    ) -> TaskerResult<Arc<ProjectData>> {
        if !refresh {
            let data = self
                .data
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((at, d)) = data.get(&project.id) {
                if at.elapsed() < TTL {
                    return Ok(Arc::clone(d));
                }
            }
        }
        let p = project.id.as_str();
        let mut states: Vec<wire::State> =
            self.all(deadline, &["projects", p, "states"], &[]).await?;
        states.sort_by(|a, b| a.sequence.total_cmp(&b.sequence).then(a.name.cmp(&b.name)));
        let mut labels: Vec<wire::Label> =
            self.all(deadline, &["projects", p, "labels"], &[]).await?;
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let members = self.members(deadline, project, refresh).await?;
        let data = Arc::new(ProjectData {
            project: project.clone(),
            states,
            labels,
            members,
        });
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(project.id.clone(), (Instant::now(), Arc::clone(&data)));
        Ok(data)
    }

    /// The id of the API key's own user (the "bot").
    pub async fn me(&self, deadline: Instant) -> TaskerResult<String> {
        if let Some(me) = self
            .me
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        {
            return Ok(me);
        }
        let me: wire::User = self.http.get_root(deadline, &["users", "me"]).await?;
        *self
            .me
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(me.id.clone());
        Ok(me.id)
    }
}
