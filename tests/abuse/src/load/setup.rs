//! Before the load: a fresh stream and topic, and (token login) a personal access token, so
//! that a thousand logins do not each pay the server's argon2 password check. After it: both
//! deleted again.

use whippet_client::protocol::types::Identifier;
use whippet_client::{Client, ClientError, Credentials, TopicSpec};

use super::{LoadConfig, LoadError, LoginMode};

/// Names of what one run creates.
#[derive(Debug, Clone)]
pub struct Names {
    pub stream: String,
    pub topic: String,
    pub token: String,
}

impl Names {
    /// Unique per run, so runs against a long-lived server do not collide.
    pub fn new() -> Names {
        let tag = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
        Names {
            stream: format!("whippet-abuse-{tag}"),
            topic: "load".to_string(),
            token: format!("whippet-abuse-{tag}"),
        }
    }
}

impl Default for Names {
    fn default() -> Self {
        Names::new()
    }
}

fn identifier(name: &str) -> Result<Identifier, LoadError> {
    Identifier::named(name).map_err(|error| LoadError::Config(format!("name `{name}`: {error}")))
}

fn failed(what: &'static str) -> impl FnOnce(ClientError) -> LoadError {
    move |source| LoadError::Setup { what, source }
}

fn password(config: &LoadConfig) -> Credentials {
    Credentials::Password { username: config.username.clone(), password: config.password.clone() }
}

/// Creates the stream, the topic and (token login) the token; returns what the load's
/// connections log in with.
pub async fn prepare(config: &LoadConfig, names: &Names) -> Result<Credentials, LoadError> {
    let mut client =
        Client::connect_and_login(config.address, config.dialect, &password(config)).await.map_err(failed("log in"))?;
    client.create_stream(&names.stream).await.map_err(failed("create the stream"))?;
    let spec = TopicSpec::new(names.topic.clone(), config.partitions);
    client.create_topic(&identifier(&names.stream)?, &spec).await.map_err(failed("create the topic"))?;
    match config.login {
        LoginMode::Password => Ok(password(config)),
        LoginMode::Token => {
            let token =
                client.create_personal_access_token(&names.token, 0).await.map_err(failed("create the token"))?;
            Ok(Credentials::PersonalAccessToken(token))
        }
    }
}

/// Deletes what [`prepare`] created, on a fresh connection (the first one has long been
/// dropped for silence).
pub async fn clean_up(config: &LoadConfig, names: &Names) -> Result<(), LoadError> {
    let mut client =
        Client::connect_and_login(config.address, config.dialect, &password(config)).await.map_err(failed("log in"))?;
    client.delete_stream(&identifier(&names.stream)?).await.map_err(failed("delete the stream"))?;
    if config.login == LoginMode::Token {
        client.delete_personal_access_token(&names.token).await.map_err(failed("delete the token"))?;
    }
    Ok(())
}
