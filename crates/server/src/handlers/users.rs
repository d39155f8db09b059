//! Logins (both dialects), users and personal access tokens. Passwords and raw tokens are
//! never stored nor logged: passwords as argon2id PHC strings, tokens as a BLAKE2b digest.

use std::rc::Rc;

use whippet_metadata::{Command, Ref, USER_STATUS_ACTIVE, User};
use whippet_protocol::codes;
use whippet_protocol::permissions::{Action, Permissions};
use whippet_protocol::requests::{Login, PASSWORD_LENGTH, USERNAME_LENGTH};
use whippet_protocol::responses;
use whippet_protocol::status::ErrorCode;
use whippet_protocol::users::{
    ChangePassword, CreatePersonalAccessToken, CreateUser, DeletePersonalAccessToken, LoginUser,
    LoginWithPersonalAccessToken, PersonalAccessTokenInfo, RawToken, UpdatePermissions, UpdateUser, UserDetails,
    UserInfo, UserRef,
};
use whippet_protocol::vsr::{self, EvictionReason};

use super::{SERVER_VERSION, authorize, decoded, denied_code, metadata_denied, reference};
use crate::connection::{Denied, Outcome, Reply, Session};
use crate::shard::{Shard, now_micros};

/// Prefix of raw tokens, so a connection string tells a token from a username.
const TOKEN_PREFIX: &str = "iggypat-";

/// How a login failed; each dialect reports it its own way.
enum LoginFailure {
    Credentials,
    Token,
    Inactive,
    Status(ErrorCode),
}

impl LoginFailure {
    fn vsr(self) -> Denied {
        match self {
            LoginFailure::Credentials => Denied::Evict(EvictionReason::InvalidCredentials, None),
            LoginFailure::Token => Denied::Evict(EvictionReason::InvalidToken, None),
            LoginFailure::Inactive => Denied::Evict(EvictionReason::UserInactive, None),
            LoginFailure::Status(code) => Denied::Status(code),
        }
    }

    fn legacy(self) -> Denied {
        Denied::Status(match self {
            LoginFailure::Credentials => ErrorCode::InvalidCredentials,
            LoginFailure::Token => ErrorCode::InvalidPersonalAccessToken,
            LoginFailure::Inactive => ErrorCode::UserInactive,
            LoginFailure::Status(code) => code,
        })
    }
}

fn check_credentials_shape(username: &str, password: &str) -> Result<(), LoginFailure> {
    if !USERNAME_LENGTH.contains(&username.len()) {
        return Err(LoginFailure::Status(ErrorCode::InvalidUsername));
    }
    if !PASSWORD_LENGTH.contains(&password.len()) {
        return Err(LoginFailure::Status(ErrorCode::InvalidPassword));
    }
    Ok(())
}

/// Checks a username and password; the user id on success. Counted by the login guard.
async fn password_login(shard: &Shard, session: &Session, username: &str, password: &str) -> Result<u32, LoginFailure> {
    let address = session.peer.ip();
    if !shard.shared.login_guard.admits(address) {
        return Err(LoginFailure::Credentials);
    }
    let result = check_password_login(shard, username, password).await;
    match &result {
        Ok(_) => shard.shared.login_guard.succeeded(address),
        Err(LoginFailure::Credentials) => shard.shared.login_guard.failed(address),
        Err(_) => {}
    }
    result
}

async fn check_password_login(shard: &Shard, username: &str, password: &str) -> Result<u32, LoginFailure> {
    check_credentials_shape(username, password)?;
    let user = shard.with_metadata(|m| m.user_by_name(username).map(|u| (u.id, u.status, u.password_hash.clone())));
    let hash = user.as_ref().map(|(_, _, hash)| hash.clone());
    if !crate::auth::check_password(password.to_string(), hash).await {
        return Err(LoginFailure::Credentials);
    }
    let Some((user_id, status, _)) = user else { return Err(LoginFailure::Credentials) };
    if status != USER_STATUS_ACTIVE {
        return Err(LoginFailure::Inactive);
    }
    Ok(user_id)
}

/// Checks a raw personal access token; the user id on success. Counted by the login guard.
fn token_login(shard: &Shard, session: &Session, token: &str) -> Result<u32, LoginFailure> {
    let address = session.peer.ip();
    if !shard.shared.login_guard.admits(address) {
        return Err(LoginFailure::Token);
    }
    let result = check_token_login(shard, token);
    match &result {
        Ok(_) => shard.shared.login_guard.succeeded(address),
        Err(LoginFailure::Token) => shard.shared.login_guard.failed(address),
        Err(_) => {}
    }
    result
}

fn check_token_login(shard: &Shard, token: &str) -> Result<u32, LoginFailure> {
    let hash = crate::auth::hash_token(token);
    let found = shard.with_metadata(|m| {
        m.personal_access_token_by_hash(&hash).map(|(user, token)| (user.id, user.status, token.expiry_at))
    });
    let Some((user_id, status, expiry_at)) = found else { return Err(LoginFailure::Token) };
    if expiry_at.is_some_and(|at| at <= now_micros()) {
        return Err(LoginFailure::Token);
    }
    if status != USER_STATUS_ACTIVE {
        return Err(LoginFailure::Inactive);
    }
    Ok(user_id)
}

fn logged_in(shard: &Shard, session: &mut Session, user_id: u32) {
    session.user_id = Some(user_id);
    session.reset_permissions();
    shard.shared.clients.logged_in(session.client_id, Some(user_id));
    tracing::debug!(user_id, "logged in");
}

/// LOGIN_REGISTER (40) and LOGIN_REGISTER_WITH_PAT (45), the V logins (operation Register).
pub async fn login_register(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let Ok(login) = Login::decode(body) else {
        return Err(Denied::Evict(EvictionReason::MalformedLogin, None));
    };
    if !login.version().is_compatible() {
        return Err(Denied::Evict(EvictionReason::IncompatibleProtocol, Some(vsr::PROTOCOL_WINDOW)));
    }
    let user_id = match &login {
        Login::Password(login) => password_login(shard, session, &login.username, &login.password).await,
        Login::Token(login) => token_login(shard, session, &login.token),
    }
    .map_err(LoginFailure::vsr)?;
    logged_in(shard, session, user_id);
    session.session = shard.new_session();
    let mut reply = Reply::default();
    responses::LoginReply {
        user_id,
        session: session.session,
        server_protocol_version: vsr::SERVER_PROTOCOL_VERSION,
        server_version: SERVER_VERSION.to_string(),
    }
    .encode(&mut reply.body);
    Ok(reply)
}

/// LOGIN_USER (38) and LOGIN_WITH_PERSONAL_ACCESS_TOKEN (44), the legacy logins; the reply is
/// `[user_id u32]`.
pub async fn login_legacy(shard: &Rc<Shard>, session: &mut Session, code: u32, body: &[u8]) -> Outcome {
    let user_id = if code == codes::LOGIN_USER {
        let login = decoded(LoginUser::decode(body))?;
        password_login(shard, session, &login.username, &login.password).await
    } else {
        let login = decoded(LoginWithPersonalAccessToken::decode(body))?;
        token_login(shard, session, &login.token)
    }
    .map_err(LoginFailure::legacy)?;
    logged_in(shard, session, user_id);
    let mut reply = Reply::default();
    reply.body.extend_from_slice(&user_id.to_le_bytes());
    Ok(reply)
}

pub fn logout(shard: &Shard, session: &mut Session) -> Reply {
    session.user_id = None;
    session.session = 0;
    session.reset_permissions();
    shard.shared.clients.logged_in(session.client_id, None);
    Reply::default()
}

fn user_header(user: &User) -> UserInfo {
    UserInfo {
        id: user.id,
        created_at: user.created_at,
        status: user.status,
        username: user.username.clone(),
        options: Default::default(),
    }
}

fn permission_bytes(permissions: &Permissions) -> Vec<u8> {
    let mut buffer = bytes::BytesMut::with_capacity(permissions.encoded_len());
    permissions.encode(&mut buffer);
    buffer.to_vec()
}

fn user_details(session: &Session, user: &User) -> Reply {
    let permissions = user.permissions.as_ref().and_then(|bytes| Permissions::decode(bytes).ok());
    let mut reply = Reply::default();
    UserDetails { user: user_header(user), permissions }.encode(&mut reply.body, session.is_legacy());
    reply
}

/// Resolves a user reference to an id; the caller may always act on itself.
fn resolve_user(shard: &Shard, user: &whippet_protocol::types::Identifier) -> Result<u32, Denied> {
    shard.with_metadata(|m| m.user(&reference(user)).map(|u| u.id).map_err(|e| denied_code(e.iggy_code())))
}

pub fn get_user(shard: &Shard, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(UserRef::decode(body))?;
    let Ok(user_id) = resolve_user(shard, &request.user) else { return Ok(Reply::default()) };
    authorize(shard, session, Action::GetUser { own: session.user_id == Some(user_id) })?;
    Ok(shard.with_metadata(|m| m.user_by_id(user_id).map(|u| user_details(session, u)).unwrap_or_default()))
}

pub fn get_users(shard: &Shard, session: &mut Session) -> Outcome {
    authorize(shard, session, Action::GetUsers)?;
    let mut reply = Reply::default();
    shard.with_metadata(|m| {
        for user in m.users().values() {
            user_header(user).encode(&mut reply.body, session.is_legacy());
        }
    });
    Ok(reply)
}

pub async fn create_user(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(CreateUser::decode(body, session.is_legacy()))?;
    authorize(shard, session, Action::CreateUser)?;
    if !request.options.is_empty() {
        return Err(ErrorCode::UnsupportedOptionKey.into());
    }
    check_credentials_shape(&request.username, &request.password).map_err(LoginFailure::legacy)?;
    let hash = crate::auth::hash_password_off_shard(request.password.clone()).await.map_err(|error| {
        tracing::error!(%error, "cannot hash a password");
        Denied::Status(ErrorCode::Error)
    })?;
    let command = Command::CreateUser {
        username: request.username.clone(),
        password_hash: hash,
        status: request.status,
        permissions: request.permissions.as_ref().map(permission_bytes),
    };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    shard
        .with_metadata(|m| m.user_by_name(&request.username).map(|u| user_details(session, u)))
        .ok_or(ErrorCode::Error.into())
}

pub async fn delete_user(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(UserRef::decode(body))?;
    authorize(shard, session, Action::DeleteUser)?;
    let user_id = resolve_user(shard, &request.user)?;
    shard.change_metadata(Command::DeleteUser { user: Ref::Id(user_id) }).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn update_user(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(UpdateUser::decode(body, session.is_legacy()))?;
    authorize(shard, session, Action::UpdateUser)?;
    if !request.options.is_empty() {
        return Err(ErrorCode::UnsupportedOptionKey.into());
    }
    let user_id = resolve_user(shard, &request.user)?;
    let command = Command::UpdateUser { user: Ref::Id(user_id), username: request.username, status: request.status };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

pub async fn update_permissions(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(UpdatePermissions::decode(body))?;
    authorize(shard, session, Action::UpdatePermissions)?;
    let user_id = resolve_user(shard, &request.user)?;
    let command = Command::UpdatePermissions {
        user: Ref::Id(user_id),
        permissions: request.permissions.as_ref().map(permission_bytes),
    };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

/// Anyone may change their own password; changing another user's needs ChangePassword
/// rights. Either way the current password must match.
pub async fn change_password(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let request = decoded(ChangePassword::decode(body))?;
    let user_id = resolve_user(shard, &request.user)?;
    authorize(shard, session, Action::ChangePassword { own: session.user_id == Some(user_id) })?;
    if !PASSWORD_LENGTH.contains(&request.new_password.len()) {
        return Err(ErrorCode::InvalidPassword.into());
    }
    let current = shard.with_metadata(|m| m.user_by_id(user_id).map(|u| u.password_hash.clone()));
    if current.is_none() || !crate::auth::check_password(request.current_password.clone(), current).await {
        return Err(ErrorCode::InvalidCredentials.into());
    }
    let hash = crate::auth::hash_password_off_shard(request.new_password.clone())
        .await
        .map_err(|_| Denied::Status(ErrorCode::Error))?;
    let command = Command::ChangePassword { user: Ref::Id(user_id), password_hash: hash };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}

/// Tokens belong to the caller; no permission beyond being logged in is needed.
pub fn get_tokens(shard: &Shard, session: &mut Session) -> Outcome {
    let Some(user_id) = session.user_id else { return Err(ErrorCode::Unauthenticated.into()) };
    let mut reply = Reply::default();
    shard.with_metadata(|m| {
        if let Some(user) = m.user_by_id(user_id) {
            for token in user.personal_access_tokens.values() {
                PersonalAccessTokenInfo { name: token.name.clone(), expiry_at: token.expiry_at.unwrap_or(0) }
                    .encode(&mut reply.body);
            }
        }
    });
    Ok(reply)
}

pub async fn create_token(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let Some(user_id) = session.user_id else { return Err(ErrorCode::Unauthenticated.into()) };
    let request = decoded(CreatePersonalAccessToken::decode(body))?;
    // 0 = the server default (never) and u64::MAX = never (protocol.md §2.10).
    let expiry_at = match request.expiry {
        0 | u64::MAX => None,
        micros => Some(now_micros().saturating_add(micros)),
    };
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|_| Denied::Status(ErrorCode::Error))?;
    let token = format!("{TOKEN_PREFIX}{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let command = Command::CreatePersonalAccessToken {
        user_id,
        name: request.name,
        token_hash: crate::auth::hash_token(&token),
        expiry_at,
    };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    let mut reply = Reply::default();
    RawToken { token }.encode(&mut reply.body);
    Ok(reply)
}

pub async fn delete_token(shard: &Rc<Shard>, session: &mut Session, body: &[u8]) -> Outcome {
    let Some(user_id) = session.user_id else { return Err(ErrorCode::Unauthenticated.into()) };
    let request = decoded(DeletePersonalAccessToken::decode(body))?;
    let command = Command::DeletePersonalAccessToken { user_id, name: request.name };
    shard.change_metadata(command).await.map_err(metadata_denied)?;
    Ok(Reply::default())
}
