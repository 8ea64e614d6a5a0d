//! API tokens for the REST API: stored by the SHA-256 of their secret, scoped to a role,
//! revoked (never deleted) by an admin. The secret itself never reaches the store.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{ApiRole, ApiToken, ApiTokenId, Error, Millis, NewApiToken, Result, Store};

const COLUMNS: &str = "id, name, role, created_by, created_at, revoked_at";

fn token_from_row(r: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: ApiRole::parse(&r.try_get::<String, _>("role")?)?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

impl Store {
    /// Stores a new token. `token_hash` must be 64 lowercase hex digits (a SHA-256).
    pub async fn create_api_token(&self, t: &NewApiToken, now: Millis) -> Result<ApiToken> {
        if t.name.trim().is_empty() {
            return Err(Error::Invalid("token name is empty".into()));
        }
        if t.token_hash.len() != 64
            || !t
                .token_hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::Invalid(
                "token_hash must be a SHA-256 in lowercase hex".into(),
            ));
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO api_tokens (name, role, token_hash, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        )))
        .bind(t.name.trim())
        .bind(t.role.as_str())
        .bind(t.token_hash.as_str())
        .bind(t.created_by.as_str())
        .bind(now)
        .fetch_one(self.pool())
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::Conflict("a token with this secret already exists".into())
            }
            _ => Error::Database(e),
        })?;
        token_from_row(&row)
    }

    /// The token whose secret hashes to `token_hash`, revoked or not (the caller refuses a
    /// revoked one and can say why).
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// Every token, revoked ones included, by id.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_tokens ORDER BY id"
        )))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes a token. Revoking it again keeps the first revocation time. An unknown id is
    /// [`Error::NotFound`].
    pub async fn revoke_api_token(&self, id: ApiTokenId, now: Millis) -> Result<ApiToken> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2
             RETURNING {COLUMNS}"
        )))
        .bind(now)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => token_from_row(&r),
            None => Err(Error::NotFound(format!("API token {id}"))),
        }
    }
}
