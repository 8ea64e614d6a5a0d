//! `/api/v1/agents` and `/api/v1/skills`: admins create agents (with an argon2-hashed
//! password, as the CTI login checks it), rename them, move their extension, disable and
//! enable them, reset their password and set their skills; supervisors read.
//!
//! A new or re-enabled agent can log in on CTI at once (the login reads the database). Skills
//! set here reach routing at the agent's next CTI login: the ACD is not yet told of changes to
//! an agent already logged in, nor logged out when disabled.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use hotline_store::{AgentRecord, NewAgent, Role, SkillLevel};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ADMIN, Caller, STAFF_READERS};
use super::problem::{ApiError, JsonBody, Problem};
use super::{ApiState, Paging, query_flag, query_map};

/// An agent's role on the desktop (not an API token role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    Agent,
    Supervisor,
    Admin,
}

impl From<AgentRole> for Role {
    fn from(r: AgentRole) -> Role {
        match r {
            AgentRole::Agent => Role::Agent,
            AgentRole::Supervisor => Role::Supervisor,
            AgentRole::Admin => Role::Admin,
        }
    }
}

impl From<Role> for AgentRole {
    fn from(r: Role) -> AgentRole {
        match r {
            Role::Agent => AgentRole::Agent,
            Role::Supervisor => AgentRole::Supervisor,
            Role::Admin => AgentRole::Admin,
        }
    }
}

/// A skill with its proficiency, 1 (novice) to 5 (expert).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillLevelOut {
    pub skill: String,
    #[schema(minimum = 1, maximum = 5)]
    pub proficiency: i64,
}

/// An agent as the API shows it (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentOut {
    /// The CTI login.
    pub id: String,
    pub name: String,
    pub extension: String,
    pub role: AgentRole,
    /// False once disabled (the CTI login refuses the agent).
    pub active: bool,
    pub skills: Vec<SkillLevelOut>,
    /// Unix epoch milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A page of agents.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentPage {
    pub items: Vec<AgentOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An agent to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// The CTI login: 1 to 64 of `a-z 0-9 . _ -`.
    pub id: String,
    /// The display name, 1 to 100 characters.
    pub name: String,
    /// The phone extension: 2 to 15 digits, unique.
    pub extension: String,
    /// Defaults to `agent`.
    #[serde(default)]
    pub role: Option<AgentRole>,
    /// At least 8 characters; stored as an argon2id hash.
    pub password: String,
}

/// Changes to an agent; an absent field is kept.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    pub name: Option<String>,
    pub extension: Option<String>,
}

/// A new password.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// At least 8 characters.
    pub password: String,
}

/// An agent's skills, replacing the ones she had.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSkills {
    pub skills: Vec<SkillLevelOut>,
}

/// A defined skill.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkillOut {
    pub name: String,
    pub description: String,
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "id",
            "must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

fn check_extension(ext: &str) -> Result<String, ApiError> {
    let ext = ext.trim();
    if !(2..=15).contains(&ext.len()) || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field("extension", "must be 2 to 15 digits"));
    }
    Ok(ext.to_string())
}

/// Checks a new password and hashes it with argon2id on a blocking thread (a hash takes tens of
/// milliseconds of CPU, which must not stall the runtime's workers), as the CTI login does.
async fn hash_password(password: &str) -> Result<String, ApiError> {
    if password.chars().count() < 8 {
        return Err(ApiError::field("password", "must be at least 8 characters"));
    }
    if password.len() > 1024 {
        return Err(ApiError::field("password", "must be at most 1024 bytes"));
    }
    let password = zeroize::Zeroizing::new(password.to_string());
    let hashed = tokio::task::spawn_blocking(move || hotline_store::password::hash(&password))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "API: the password hashing task failed");
            ApiError::Internal
        })?;
    hashed.map_err(|e| {
        tracing::error!(error = %e, "API: cannot hash a password");
        ApiError::Internal
    })
}

async fn agent_out(s: &ApiState, a: AgentRecord) -> Result<AgentOut, ApiError> {
    let skills = s.store.agent_skills(&a.id).await?;
    Ok(agent_view(a, skills))
}

fn agent_view(a: AgentRecord, skills: Vec<SkillLevel>) -> AgentOut {
    AgentOut {
        skills: skills
            .into_iter()
            .map(|k| SkillLevelOut {
                skill: k.skill,
                proficiency: k.proficiency,
            })
            .collect(),
        id: a.id,
        name: a.name,
        extension: a.extension,
        role: a.role.into(),
        active: a.active,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

async fn find(s: &ApiState, id: &str) -> Result<AgentRecord, ApiError> {
    s.store
        .agent(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no agent {id:?}")))
}

/// Lists agents by id, a page at a time.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents",
    params(
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("include_disabled" = Option<bool>, Query, description = "Also list disabled agents"),
    ),
    responses(
        (status = 200, description = "A page of agents", body = AgentPage),
        (status = 400, description = "Bad query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or supervisor token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    query: RawQuery,
) -> Result<Json<AgentPage>, ApiError> {
    caller.require(STAFF_READERS)?;
    let q = query_map(&query);
    let paging = Paging::from_query(&q)?;
    let include_disabled = query_flag(&q, "include_disabled")?;
    let mut rows = s
        .store
        .agents_page(paging.cursor.as_deref(), paging.limit + 1, include_disabled)
        .await?;
    let more = rows.len() as i64 > paging.limit;
    rows.truncate(paging.limit as usize);
    let next_cursor = more.then(|| rows.last().map(|a| a.id.clone())).flatten();
    // The page's skills in one query (the page is ordered by id, in the database's collation,
    // which the range follows too).
    let mut skills: HashMap<String, Vec<SkillLevel>> = HashMap::new();
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        for (agent, k) in s.store.agent_skills_between(&first.id, &last.id).await? {
            skills.entry(agent).or_default().push(k);
        }
    }
    let items: Vec<AgentOut> = rows
        .into_iter()
        .map(|a| {
            let mine = skills.remove(&a.id).unwrap_or_default();
            agent_view(a, mine)
        })
        .collect();
    Ok(Json(AgentPage { items, next_cursor }))
}

/// One agent, with her skills.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "The agent's login")),
    responses(
        (status = 200, description = "The agent", body = AgentOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or supervisor token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<AgentOut>, ApiError> {
    caller.require(STAFF_READERS)?;
    let a = find(&s, &id).await?;
    Ok(Json(agent_out(&s, a).await?))
}

/// Creates an agent who can log in on CTI at once.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents",
    request_body = CreateAgent,
    responses(
        (status = 201, description = "Created", body = AgentOut),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Id or extension taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    raw: JsonBody,
) -> Result<(StatusCode, Json<AgentOut>), ApiError> {
    s.require_write(&caller, ADMIN, "api.agent.create", None)
        .await?;
    let body: CreateAgent = raw.parse()?;
    check_id(&body.id)?;
    let name = check_name(&body.name)?;
    let extension = check_extension(&body.extension)?;
    let password_hash = hash_password(&body.password).await?;
    let role = body.role.unwrap_or(AgentRole::Agent);
    let a = s
        .store
        .create_agent(
            &NewAgent {
                id: body.id.clone(),
                name,
                extension,
                role: role.into(),
                password_hash,
            },
            crate::app::now_millis(),
        )
        .await?;
    s.audit(
        &caller,
        "api.agent.create",
        Some(&a.id),
        true,
        serde_json::json!({ "name": a.name, "extension": a.extension, "role": role }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(agent_out(&s, a).await?)))
}

/// Renames an agent and/or moves her extension.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "The agent's login")),
    request_body = UpdateAgent,
    responses(
        (status = 200, description = "Updated", body = AgentOut),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Extension taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: JsonBody,
) -> Result<Json<AgentOut>, ApiError> {
    s.require_write(&caller, ADMIN, "api.agent.update", Some(&id))
        .await?;
    let body: UpdateAgent = raw.parse()?;
    let name = body.name.as_deref().map(check_name).transpose()?;
    let extension = body.extension.as_deref().map(check_extension).transpose()?;
    if name.is_none() && extension.is_none() {
        return Err(ApiError::field("body", "give name and/or extension"));
    }
    let before = find(&s, &id).await?;
    let a = s
        .store
        .update_agent(
            &id,
            name.as_deref(),
            extension.as_deref(),
            crate::app::now_millis(),
        )
        .await?;
    s.audit(
        &caller,
        "api.agent.update",
        Some(&id),
        true,
        serde_json::json!({
            "name": { "from": before.name, "to": a.name },
            "extension": { "from": before.extension, "to": a.extension },
        }),
    )
    .await;
    Ok(Json(agent_out(&s, a).await?))
}

async fn set_active(
    s: &ApiState,
    caller: &Caller,
    id: &str,
    active: bool,
) -> Result<Json<AgentOut>, ApiError> {
    let action = if active {
        "api.agent.enable"
    } else {
        "api.agent.disable"
    };
    s.require_write(caller, ADMIN, action, Some(id)).await?;
    let a = s
        .store
        .set_agent_active(id, active, crate::app::now_millis())
        .await?;
    s.audit(caller, action, Some(id), true, serde_json::json!({}))
        .await;
    Ok(Json(agent_out(s, a).await?))
}

/// Disables an agent: her next CTI login is refused. (A session already logged in is not
/// ended by this part of the API.)
#[utoipa::path(post, path = "/api/v1/agents/{id}/disable", tag = "agents",
    params(("id" = String, Path, description = "The agent's login")),
    responses(
        (status = 200, description = "Disabled", body = AgentOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn disable(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<AgentOut>, ApiError> {
    set_active(&s, &caller, &id, false).await
}

/// Enables a disabled agent again.
#[utoipa::path(post, path = "/api/v1/agents/{id}/enable", tag = "agents",
    params(("id" = String, Path, description = "The agent's login")),
    responses(
        (status = 200, description = "Enabled", body = AgentOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn enable(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<AgentOut>, ApiError> {
    set_active(&s, &caller, &id, true).await
}

/// Sets a new password (the old one stops working at once).
#[utoipa::path(post, path = "/api/v1/agents/{id}/password", tag = "agents",
    params(("id" = String, Path, description = "The agent's login")),
    request_body = ResetPassword,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Bad input (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn reset_password(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: JsonBody,
) -> Result<StatusCode, ApiError> {
    s.require_write(&caller, ADMIN, "api.agent.password", Some(&id))
        .await?;
    let body: ResetPassword = raw.parse()?;
    let hash = hash_password(&body.password).await?;
    s.store
        .set_agent_password(&id, &hash, crate::app::now_millis())
        .await?;
    // The audit says that it changed, never what to.
    s.audit(
        &caller,
        "api.agent.password",
        Some(&id),
        true,
        serde_json::json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces an agent's skills.
#[utoipa::path(put, path = "/api/v1/agents/{id}/skills", tag = "agents",
    params(("id" = String, Path, description = "The agent's login")),
    request_body = SetSkills,
    responses(
        (status = 200, description = "The agent with her new skills", body = AgentOut),
        (status = 400, description = "Unknown skill, proficiency outside 1 to 5, a skill twice (the problem names the field)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn set_skills(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    raw: JsonBody,
) -> Result<Json<AgentOut>, ApiError> {
    s.require_write(&caller, ADMIN, "api.agent.skills", Some(&id))
        .await?;
    let body: SetSkills = raw.parse()?;
    let known: HashSet<String> = s
        .store
        .skills()
        .await?
        .into_iter()
        .map(|k| k.name)
        .collect();
    let mut seen = HashSet::new();
    for (i, k) in body.skills.iter().enumerate() {
        if !known.contains(&k.skill) {
            return Err(ApiError::field(
                &format!("skills[{i}].skill"),
                format!(
                    "unknown skill {:?} (GET /api/v1/skills lists them)",
                    k.skill
                ),
            ));
        }
        if !(1..=5).contains(&k.proficiency) {
            return Err(ApiError::field(
                &format!("skills[{i}].proficiency"),
                format!("must be 1 to 5, not {}", k.proficiency),
            ));
        }
        if !seen.insert(k.skill.as_str()) {
            return Err(ApiError::field(
                &format!("skills[{i}].skill"),
                format!("{:?} is given twice", k.skill),
            ));
        }
    }
    let before = find(&s, &id).await?;
    let old = s.store.agent_skills(&id).await?;
    let levels: Vec<SkillLevel> = body
        .skills
        .iter()
        .map(|k| SkillLevel {
            skill: k.skill.clone(),
            proficiency: k.proficiency,
        })
        .collect();
    s.store.set_agent_skills(&id, &levels).await?;
    s.audit(
        &caller,
        "api.agent.skills",
        Some(&id),
        true,
        serde_json::json!({ "from": old, "to": levels }),
    )
    .await;
    Ok(Json(agent_out(&s, before).await?))
}

/// Lists the defined skills.
#[utoipa::path(get, path = "/api/v1/skills", tag = "skills",
    responses(
        (status = 200, description = "Every skill, by name", body = Vec<SkillOut>),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or supervisor token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn skills(
    State(s): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<SkillOut>>, ApiError> {
    caller.require(STAFF_READERS)?;
    let all = s.store.skills().await?;
    Ok(Json(
        all.into_iter()
            .map(|k| SkillOut {
                name: k.name,
                description: k.description,
            })
            .collect(),
    ))
}
