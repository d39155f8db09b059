//! [`Client`]: a logged-in (or not yet) connection with one typed method per command.
//! System and session commands live here; the others in `admin` and `messages`.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use whippet_protocol::codes;
use whippet_protocol::legacy::responses as legacy_responses;
use whippet_protocol::requests::{ClientVersionInfo, LoginRegister, LoginRegisterWithPat};
use whippet_protocol::responses::{ClientDetails, ClientInfo, ClusterMetadata, LoginReply, decode_clients};
use whippet_protocol::system::{GetClient, Stats};
use whippet_protocol::users::{LoginUser, LoginWithPersonalAccessToken};
use whippet_protocol::vsr::SERVER_PROTOCOL_VERSION;
use whippet_protocol::wire::DecodeError;

use crate::error::ClientError;
use crate::tls::Tls;
use crate::transport::{Dialect, Request, Transport};

/// Name this client reports at login.
pub const SDK_NAME: &str = "whippet-client";

/// How to log in.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Password { username: String, password: String },
    PersonalAccessToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Password { username, .. } => write!(formatter, "Password({username}, <redacted>)"),
            Credentials::PersonalAccessToken(_) => formatter.write_str("PersonalAccessToken(<redacted>)"),
        }
    }
}

/// What a login told us about the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: u32,
    /// `None` for the legacy dialect, whose login reply carries only the user id.
    pub server_version: Option<String>,
}

/// One connection to an Iggy-compatible server. Not `Send`: it lives on the monoio runtime
/// (thread) that created it.
pub struct Client {
    pub(crate) transport: Transport,
    session: Option<Session>,
}

impl Client {
    /// Connects without logging in (PING is the only command a server answers then).
    pub async fn connect(address: SocketAddr, dialect: Dialect) -> Result<Client, ClientError> {
        Client::connect_with(address, dialect, None).await
    }

    /// Connects over TLS when `tls` is given, else over plain TCP, without logging in.
    pub async fn connect_with(address: SocketAddr, dialect: Dialect, tls: Option<&Tls>) -> Result<Client, ClientError> {
        Ok(Client { transport: Transport::connect_with(address, dialect, tls).await?, session: None })
    }

    /// Connects and logs in.
    pub async fn connect_and_login(
        address: SocketAddr,
        dialect: Dialect,
        credentials: &Credentials,
    ) -> Result<Client, ClientError> {
        let mut client = Client::connect(address, dialect).await?;
        client.login(credentials).await?;
        Ok(client)
    }

    pub fn dialect(&self) -> Dialect {
        self.transport.dialect()
    }

    pub fn address(&self) -> SocketAddr {
        self.transport.address()
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// A request for `code` whose body `encode` writes.
    pub(crate) fn request(&self, code: u32, encode: impl FnOnce(&mut BytesMut)) -> Request {
        let mut request = Request::new(self.dialect(), code, 64);
        encode(request.body_mut().buffer());
        request
    }

    /// Sends a request built by `encode` and returns the reply payload.
    pub(crate) async fn call(&mut self, code: u32, encode: impl FnOnce(&mut BytesMut)) -> Result<Bytes, ClientError> {
        let request = self.request(code, encode);
        Ok(self.transport.call(request).await?.0)
    }

    /// Sends a prepared request and hands it back for reuse.
    pub async fn call_request(&mut self, request: Request) -> Result<(Bytes, Request), ClientError> {
        self.transport.call(request).await
    }

    pub async fn login(&mut self, credentials: &Credentials) -> Result<Session, ClientError> {
        let version = ClientVersionInfo {
            protocol_version: SERVER_PROTOCOL_VERSION,
            sdk_name: SDK_NAME.to_owned(),
            sdk_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let session = match (self.dialect(), credentials) {
            (Dialect::V011, Credentials::Password { username, password }) => {
                let login = LoginRegister {
                    version,
                    username: username.clone(),
                    password: password.clone(),
                    context: String::new(),
                };
                let body = self.call(codes::LOGIN_REGISTER, |b| login.encode(b)).await?;
                self.bind(LoginReply::decode(&body)?)
            }
            (Dialect::V011, Credentials::PersonalAccessToken(token)) => {
                let login = LoginRegisterWithPat { version, token: token.clone(), context: String::new() };
                let body = self.call(codes::LOGIN_REGISTER_WITH_PAT, |b| login.encode(b)).await?;
                self.bind(LoginReply::decode(&body)?)
            }
            (Dialect::Legacy, Credentials::Password { username, password }) => {
                let login = LoginUser {
                    username: username.clone(),
                    password: password.clone(),
                    version: Some(env!("CARGO_PKG_VERSION").to_owned()),
                    context: None,
                };
                let body = self.call(codes::LOGIN_USER, |b| login.encode(b)).await?;
                Session { user_id: legacy_responses::decode_login_reply(&body)?, server_version: None }
            }
            (Dialect::Legacy, Credentials::PersonalAccessToken(token)) => {
                let login = LoginWithPersonalAccessToken { token: token.clone() };
                let body = self.call(codes::LOGIN_WITH_PERSONAL_ACCESS_TOKEN, |b| login.encode(b)).await?;
                Session { user_id: legacy_responses::decode_login_reply(&body)?, server_version: None }
            }
        };
        self.session = Some(session.clone());
        Ok(session)
    }

    fn bind(&mut self, reply: LoginReply) -> Session {
        self.transport.bind_session(reply.session);
        Session { user_id: reply.user_id, server_version: Some(reply.server_version) }
    }

    pub async fn logout(&mut self) -> Result<(), ClientError> {
        self.call(codes::LOGOUT_USER, |_| {}).await?;
        self.session = None;
        self.transport.reset_session();
        Ok(())
    }

    pub async fn ping(&mut self) -> Result<(), ClientError> {
        self.call(codes::PING, |_| {}).await.map(drop)
    }

    pub async fn stats(&mut self) -> Result<Stats, ClientError> {
        let body = self.call(codes::GET_STATS, |_| {}).await?;
        Ok(Stats::decode(&body)?)
    }

    pub async fn me(&mut self) -> Result<ClientDetails, ClientError> {
        let body = self.call(codes::GET_ME, |_| {}).await?;
        Ok(ClientDetails::decode(&body)?)
    }

    pub async fn clients(&mut self) -> Result<Vec<ClientInfo>, ClientError> {
        let body = self.call(codes::GET_CLIENTS, |_| {}).await?;
        Ok(decode_clients(&body)?)
    }

    pub async fn client(&mut self, client_id: u32) -> Result<Option<ClientDetails>, ClientError> {
        let body = self.call(codes::GET_CLIENT, |b| GetClient { client_id }.encode(b)).await?;
        optional(&body, ClientDetails::decode)
    }

    pub async fn cluster_metadata(&mut self) -> Result<ClusterMetadata, ClientError> {
        let body = self.call(codes::GET_CLUSTER_METADATA, |_| {}).await?;
        Ok(ClusterMetadata::decode(&body)?)
    }

    /// The raw bytes of a snapshot ZIP (GET_SNAPSHOT_FILE).
    pub async fn snapshot(&mut self, request: &whippet_protocol::system::GetSnapshot) -> Result<Bytes, ClientError> {
        self.call(codes::GET_SNAPSHOT_FILE, |b| request.encode(b)).await
    }
}

/// Decodes a GET-style reply, where an empty body means "not found".
pub(crate) fn optional<T>(
    body: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, DecodeError>,
) -> Result<Option<T>, ClientError> {
    if body.is_empty() { Ok(None) } else { Ok(Some(decode(body)?)) }
}
