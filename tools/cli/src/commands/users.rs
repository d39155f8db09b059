//! `whippet user ...` and `whippet pat ...`: users, their permissions and passwords, and the
//! logged-in user's personal access tokens.

use clap::Subcommand;
use serde::Serialize;
use whippet_client::protocol::types::Identifier;
use whippet_client::protocol::users::{PersonalAccessTokenInfo, UserDetails, UserInfo};
use whippet_client::{USER_STATUS_ACTIVE, UserSpec};

use super::Ctx;
use super::permissions::{self, PermissionArgs, PermissionsJson};
use crate::exit::{CliError, Missing, Target};
use crate::output::{self, Table};
use crate::parse;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// List every user
    #[command(visible_alias = "ls")]
    List,
    /// Show one user and its permissions
    Get {
        /// User id or username
        #[arg(value_parser = parse::identifier)]
        user: Identifier,
    },
    /// Create a user
    Create {
        /// Username (3 to 50 characters)
        #[arg(value_parser = parse::name)]
        username: String,
        /// Password (3 to 100 characters)
        #[arg(value_parser = parse::secret)]
        password: String,
        /// Create the user inactive (it cannot log in until activated)
        #[arg(long)]
        inactive: bool,
        #[command(flatten)]
        permissions: PermissionArgs,
    },
    /// Rename a user or change its status
    Update {
        /// User id or username
        #[arg(value_parser = parse::identifier)]
        user: Identifier,
        /// New username
        #[arg(long, value_parser = parse::name)]
        name: Option<String>,
        /// Let the user log in again
        #[arg(long, conflicts_with = "inactive")]
        active: bool,
        /// Stop the user from logging in
        #[arg(long)]
        inactive: bool,
    },
    /// Delete a user
    #[command(visible_alias = "rm")]
    Delete {
        /// User id or username
        #[arg(value_parser = parse::identifier)]
        user: Identifier,
    },
    /// Change a user's password
    Password {
        /// User id or username
        #[arg(value_parser = parse::identifier)]
        user: Identifier,
        #[arg(value_parser = parse::secret)]
        current: String,
        #[arg(value_parser = parse::secret)]
        new: String,
    },
    /// Replace a user's permissions
    Permissions {
        /// User id or username
        #[arg(value_parser = parse::identifier)]
        user: Identifier,
        #[command(flatten)]
        permissions: PermissionArgs,
        /// Remove every permission
        #[arg(long, conflicts_with_all = ["permissions", "global", "stream"])]
        none: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PatCommand {
    /// List the logged-in user's personal access tokens
    #[command(visible_alias = "ls")]
    List,
    /// Create a token for the logged-in user and print it (the server shows it only once)
    Create {
        /// Name (1 to 255 bytes)
        #[arg(value_parser = parse::name)]
        name: String,
        /// How long the token lives: 30d, 1h, never, or default (the server's)
        #[arg(long, value_name = "DURATION", default_value = "default", value_parser = parse::expiry_micros)]
        expiry: u64,
    },
    /// Delete one of the logged-in user's tokens
    #[command(visible_alias = "rm")]
    Delete {
        /// Name (1 to 255 bytes)
        #[arg(value_parser = parse::name)]
        name: String,
    },
}

impl UserCommand {
    pub fn target(&self) -> Target {
        match self {
            UserCommand::List | UserCommand::Create { .. } => Target::default(),
            UserCommand::Get { user }
            | UserCommand::Update { user, .. }
            | UserCommand::Delete { user }
            | UserCommand::Password { user, .. }
            | UserCommand::Permissions { user, .. } => Target { user: Some(user.clone()), ..Target::default() },
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            UserCommand::List => {
                let users = ctx.client.users().await?;
                let views: Vec<UserView> = users.iter().map(|user| UserView::new(user, None)).collect();
                ctx.out.show(&views, || user_table(&users))
            }
            UserCommand::Get { user } => {
                let details = ctx.client.user(&user).await?;
                let details = details.ok_or(CliError::NotFound { missing: Missing::User, code: None })?;
                let view = UserView::new(&details.user, Some(&details));
                ctx.out.show(&view, || user_details(&details))
            }
            UserCommand::Create { username, password, inactive, permissions } => {
                let spec = UserSpec { username, password, active: !inactive, permissions: permissions.read()? };
                let details = ctx.client.create_user(&spec).await?;
                let message = format!("created user {:?} with id {}", details.user.username, details.user.id);
                ctx.out.show(&UserView::new(&details.user, Some(&details)), || message)
            }
            UserCommand::Update { user, name, active, inactive } => {
                let status = match (active, inactive) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                };
                if name.is_none() && status.is_none() {
                    return Err(CliError::usage("nothing to update: give --name, --active or --inactive"));
                }
                ctx.client.update_user(&user, name.as_deref(), status).await?;
                ctx.out.done(&format!("updated user {user}"))
            }
            UserCommand::Delete { user } => {
                ctx.client.delete_user(&user).await?;
                ctx.out.done(&format!("deleted user {user}"))
            }
            UserCommand::Password { user, current, new } => {
                ctx.client.change_password(&user, &current, &new).await?;
                ctx.out.done(&format!("changed the password of user {user}"))
            }
            UserCommand::Permissions { user, permissions, none } => {
                let permissions = match (none, permissions.read()?) {
                    (true, _) => None,
                    (false, Some(permissions)) => Some(permissions),
                    (false, None) => {
                        return Err(CliError::usage(
                            "give the permissions: --permissions FILE, --global, --stream or --none",
                        ));
                    }
                };
                ctx.client.update_permissions(&user, permissions).await?;
                ctx.out.done(&format!("replaced the permissions of user {user}"))
            }
        }
    }
}

impl PatCommand {
    pub fn target(&self) -> Target {
        match self {
            PatCommand::Delete { name } => Target { token: Some(name.clone()), ..Target::default() },
            PatCommand::List | PatCommand::Create { .. } => Target::default(),
        }
    }

    pub async fn run(self, ctx: &mut Ctx) -> Result<(), CliError> {
        match self {
            PatCommand::List => {
                let tokens = ctx.client.personal_access_tokens().await?;
                let views: Vec<TokenView> = tokens.iter().map(TokenView::from).collect();
                ctx.out.show(&views, || token_table(&tokens))
            }
            PatCommand::Create { name, expiry } => {
                let token = ctx.client.create_personal_access_token(&name, expiry).await?;
                let view = serde_json::json!({ "name": name, "token": token });
                ctx.out.show(&view, || {
                    format!(
                        "created personal access token {name:?}; the server shows it only once:\n{token}\n\
                         log in with it: whippet --token TOKEN ... (or WHIPPET_TOKEN=TOKEN)"
                    )
                })
            }
            PatCommand::Delete { name } => {
                ctx.client.delete_personal_access_token(&name).await?;
                ctx.out.done(&format!("deleted personal access token {name:?}"))
            }
        }
    }
}

/// A user in JSON; `permissions` only from `get` and `create` (null = none).
#[derive(Serialize)]
struct UserView {
    id: u32,
    username: String,
    status: &'static str,
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Option<PermissionsJson>>,
}

impl UserView {
    fn new(user: &UserInfo, details: Option<&UserDetails>) -> UserView {
        UserView {
            id: user.id,
            username: user.username.clone(),
            status: status_name(user.status),
            created_at: output::time_json(user.created_at),
            permissions: details.map(|details| details.permissions.as_ref().map(PermissionsJson::from)),
        }
    }
}

#[derive(Serialize)]
struct TokenView {
    name: String,
    /// Null when the token never expires.
    expiry_at: Option<String>,
}

impl From<&PersonalAccessTokenInfo> for TokenView {
    fn from(token: &PersonalAccessTokenInfo) -> TokenView {
        TokenView { name: token.name.clone(), expiry_at: output::time_json(token.expiry_at) }
    }
}

fn status_name(status: u8) -> &'static str {
    if status == USER_STATUS_ACTIVE { "active" } else { "inactive" }
}

fn user_table(users: &[UserInfo]) -> String {
    let mut table = Table::new(&["ID", "USERNAME", "STATUS", "CREATED"]);
    for user in users {
        table.row(vec![
            user.id.to_string(),
            user.username.clone(),
            status_name(user.status).to_owned(),
            output::time(user.created_at),
        ]);
    }
    table.render_or("no users")
}

fn user_details(details: &UserDetails) -> String {
    let user = &details.user;
    let summary = output::details(&[
        ("ID", user.id.to_string()),
        ("Username", user.username.clone()),
        ("Status", status_name(user.status).to_owned()),
        ("Created", output::time(user.created_at)),
    ]);
    format!("{summary}\n\nPermissions:\n{}", permissions::describe(details.permissions.as_ref()))
}

fn token_table(tokens: &[PersonalAccessTokenInfo]) -> String {
    let mut table = Table::new(&["NAME", "EXPIRES"]);
    for token in tokens {
        let expires = if token.expiry_at == 0 { "never".to_owned() } else { output::time(token.expiry_at) };
        table.row(vec![token.name.clone(), expires]);
    }
    table.render_or("no personal access tokens")
}
