//! The project a call acts for, established from its API key. Every read and write is scoped to it.

use uuid::Uuid;

use super::api_key::ApiKeyKind;

/// Who is calling: the key's project and what the key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub project_id: Uuid,
    pub key_id: Uuid,
    pub key_kind: ApiKeyKind,
}
