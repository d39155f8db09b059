use super::*;
use crate::permissions::{GlobalPermissions, StreamPermissions, TopicPermissions};
use crate::test_support::{hex, strategies};
use crate::types::OptionValue;
use proptest::prelude::*;
use std::collections::BTreeMap;

const VECTORS: &str = include_str!("../admin_vectors_0.11.txt");

/// A vector of `admin_vectors_0.11.txt` by name.
fn vector(name: &str) -> Vec<u8> {
    let line = VECTORS.lines().find(|line| line.split(' ').next() == Some(name)).expect("vector exists");
    hex(&line[name.len() + 1..])
}

fn encoded(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    write(&mut buffer);
    buffer.to_vec()
}

/// Every strict prefix of `bytes` fails to decode, and so does `bytes` plus one byte.
fn assert_exact(bytes: &[u8], decode: impl Fn(&[u8]) -> Result<(), DecodeError>) {
    for end in 0..bytes.len() {
        assert!(decode(&bytes[..end]).is_err(), "prefix of {end} bytes decoded");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(decode(&longer).is_err(), "a trailing byte was accepted");
}

/// The permission set of the vectors file (the same as in permissions/tests.rs).
fn sample_permissions() -> Permissions {
    Permissions::decode(&hex(
        "0001000100010001010001010000000100010001000102000000000100010107000000010001000001090000000001000100010000",
    ))
    .unwrap()
}

fn future_options() -> Options {
    Options(vec![("future_key".into(), OptionValue::string("value"))])
}

#[test]
fn sample_permissions_are_the_documented_ones() {
    let permissions = sample_permissions();
    assert_eq!(
        permissions.global,
        GlobalPermissions {
            read_servers: true,
            read_users: true,
            read_streams: true,
            read_topics: true,
            poll_messages: true,
            ..GlobalPermissions::default()
        }
    );
    assert_eq!(
        permissions.streams[&1].topics[&7],
        TopicPermissions { manage_topic: true, poll_messages: true, ..TopicPermissions::default() }
    );
    assert_eq!(
        permissions.streams[&9],
        StreamPermissions {
            read_stream: true,
            read_topics: true,
            send_messages: true,
            topics: BTreeMap::new(),
            ..Default::default()
        }
    );
}

#[test]
fn user_refs() {
    let bytes = hex("010401000000");
    let user = UserRef::decode(&bytes).unwrap();
    assert_eq!(user.user, Identifier::Numeric(1));
    assert_eq!(encoded(|b| user.encode(b)), bytes);
    assert_exact(&bytes, |bytes| UserRef::decode(bytes).map(drop));
}

#[test]
fn create_user_matches_the_real_encoder() {
    let bytes = vector("create_user");
    let request = CreateUser::decode(&bytes, false).unwrap();
    let expected = CreateUser {
        username: "alice".into(),
        password: "secret1".into(),
        status: USER_STATUS_ACTIVE,
        permissions: Some(sample_permissions()),
        options: future_options(),
    };
    assert_eq!(request, expected);
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_eq!(request.validate(), Ok(()));
    assert!(!format!("{request:?}").contains("secret1"), "passwords stay out of logs");
    // The options block makes it a V body: L refuses the extra bytes.
    assert!(matches!(CreateUser::decode(&bytes, true), Err(DecodeError::TrailingBytes { .. })));
}

#[test]
fn create_user_without_permissions_is_the_same_in_both_generations() {
    let bytes = vector("create_user_no_perms");
    for legacy in [false, true] {
        let request = CreateUser::decode(&bytes, legacy).unwrap();
        assert_eq!((request.username.as_str(), request.status, &request.permissions), ("bob", 2, &None));
        assert!(request.options.is_empty());
        assert_eq!(encoded(|b| request.encode(b)), bytes);
    }
    // In L the layout is fixed; in V a cut inside the permissions or the fixed part fails.
    assert_exact(&bytes, |bytes| CreateUser::decode(bytes, true).map(drop));
    let v_bytes = vector("create_user");
    for end in 0..(v_bytes.len() - future_options().encoded_len()) {
        assert!(CreateUser::decode(&v_bytes[..end], false).is_err(), "prefix of {end} bytes decoded");
    }
}

#[test]
fn create_user_bounds() {
    let mut request = CreateUser::decode(&vector("create_user_no_perms"), true).unwrap();
    request.username = "ab".into();
    assert_eq!(request.validate(), Err(ErrorCode::InvalidUsername));
    request.username = "abc".into();
    request.password = "12".into();
    assert_eq!(request.validate(), Err(ErrorCode::InvalidPassword));
}

#[test]
fn a_permissions_length_that_disagrees_is_refused() {
    let mut bytes = vector("create_user");
    let length_at = 1 + 5 + 1 + 7 + 1 + 1;
    bytes[length_at] += 1;
    assert!(matches!(CreateUser::decode(&bytes, false), Err(DecodeError::InvalidLength { what: "permissions", .. })));
}

#[test]
fn update_user_matches_the_real_encoder() {
    let bytes = vector("update_user");
    let request = UpdateUser::decode(&bytes, true).unwrap();
    let expected = UpdateUser {
        user: Identifier::Numeric(3),
        username: Some("carol".into()),
        status: Some(2),
        options: Options::new(),
    };
    assert_eq!(request, expected);
    assert_eq!(UpdateUser::decode(&bytes, false), Ok(expected.clone()));
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_exact(&bytes, |bytes| UpdateUser::decode(bytes, true).map(drop));

    let bytes = vector("update_user_none");
    let request = UpdateUser::decode(&bytes, true).unwrap();
    assert_eq!((request.user, request.username, request.status), (Identifier::Name("dave".into()), None, None));
}

#[test]
fn update_user_options_ride_at_the_end_in_v() {
    let request =
        UpdateUser { user: Identifier::Numeric(1), username: None, status: Some(1), options: future_options() };
    let bytes = encoded(|b| request.encode(b));
    assert_eq!(UpdateUser::decode(&bytes, false), Ok(request));
    assert!(UpdateUser::decode(&bytes, true).is_err());
}

#[test]
fn update_permissions_matches_the_real_encoder() {
    let bytes = vector("update_permissions");
    let request = UpdatePermissions::decode(&bytes).unwrap();
    assert_eq!(request, UpdatePermissions { user: Identifier::Numeric(4), permissions: Some(sample_permissions()) });
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_exact(&bytes, |bytes| UpdatePermissions::decode(bytes).map(drop));

    let bytes = vector("update_permissions_none");
    let request = UpdatePermissions::decode(&bytes).unwrap();
    assert_eq!(request.permissions, None);
    assert_eq!(encoded(|b| request.encode(b)), bytes);
}

#[test]
fn change_password_matches_the_real_encoder() {
    let bytes = vector("change_password");
    let request = ChangePassword::decode(&bytes).unwrap();
    assert_eq!(request.user, Identifier::Numeric(5));
    assert_eq!((request.current_password.as_str(), request.new_password.as_str()), ("old-pass", "new-pass"));
    assert_eq!(request.validate(), Ok(()));
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert!(!format!("{request:?}").contains("pass\""));
    assert_exact(&bytes, |bytes| ChangePassword::decode(bytes).map(drop));
    let short = ChangePassword { new_password: "no".into(), ..request };
    assert_eq!(short.validate(), Err(ErrorCode::InvalidPassword));
}

#[test]
fn personal_access_token_requests() {
    let bytes = vector("create_pat");
    let request = CreatePersonalAccessToken::decode(&bytes).unwrap();
    assert_eq!(request, CreatePersonalAccessToken { name: "ci-token".into(), expiry: 3_600_000_000 });
    assert_eq!(encoded(|b| request.encode(b)), bytes);
    assert_exact(&bytes, |bytes| CreatePersonalAccessToken::decode(bytes).map(drop));

    let delete = DeletePersonalAccessToken { name: "ci-token".into() };
    let bytes = encoded(|b| delete.encode(b));
    assert_eq!(bytes, hex("0863692d746f6b656e"));
    assert_eq!(DeletePersonalAccessToken::decode(&bytes), Ok(delete));
    assert_exact(&bytes, |bytes| DeletePersonalAccessToken::decode(bytes).map(drop));
}

#[test]
fn legacy_login_matches_what_sdk_0_10_sends() {
    let bytes = vector("login_user");
    let login = LoginUser::decode(&bytes).unwrap();
    assert_eq!((login.username.as_str(), login.password.as_str()), ("iggy", "iggy"));
    assert_eq!((login.version.as_deref(), login.context.as_deref()), (Some("0.10.0"), None));
    assert_eq!(login.validate(), Ok(()));
    assert_eq!(encoded(|b| login.encode(b)), bytes);
    assert!(!format!("{login:?}").contains("password: \"iggy\""));
    assert_exact(&bytes, |bytes| LoginUser::decode(bytes).map(drop));
    // [P11]'s own layout test: no version, no context, both lengths still on the wire.
    let bare = hex("0175017000000000" /* "u" "p" len 0 */).into_iter().chain([0; 4]).collect::<Vec<u8>>();
    let login = LoginUser::decode(&bare).unwrap();
    assert_eq!((login.version, login.context), (None, None));
}

#[test]
fn legacy_token_login() {
    let login = LoginWithPersonalAccessToken { token: "iggypat-abc".into() };
    let bytes = encoded(|b| login.encode(b));
    assert_eq!(LoginWithPersonalAccessToken::decode(&bytes), Ok(login.clone()));
    assert!(!format!("{login:?}").contains("iggypat"));
    assert_exact(&bytes, |bytes| LoginWithPersonalAccessToken::decode(bytes).map(drop));
    assert_eq!(LoginWithPersonalAccessToken::decode(&[0]), Err(DecodeError::EmptyName));

    let identity = IdentityInfo { user_id: 7 };
    let bytes = encoded(|b| identity.encode(b));
    assert_eq!(IdentityInfo::decode(&bytes), Ok(identity));
    assert_exact(&bytes, |bytes| IdentityInfo::decode(bytes).map(drop));
}

fn alice() -> UserInfo {
    UserInfo {
        id: 1,
        created_at: 1_700_000_000_000_000,
        status: USER_STATUS_ACTIVE,
        username: "alice".into(),
        options: Options::new(),
    }
}

#[test]
fn user_details_match_the_real_encoder() {
    let bytes = vector("user_details_perms");
    let details = UserDetails::decode(&bytes, false).unwrap();
    assert_eq!(details, UserDetails { user: alice(), permissions: Some(sample_permissions()) });
    assert_eq!(encoded(|b| details.encode(b, false)), bytes);
    assert_exact(&bytes, |bytes| UserDetails::decode(bytes, false).map(drop));

    let bytes = vector("user_details_none");
    let details = UserDetails::decode(&bytes, false).unwrap();
    assert_eq!(details, UserDetails { user: alice(), permissions: None });
    assert_eq!(&bytes[bytes.len() - 8..], [0; 8], "empty Opts32, then four zero bytes for no permissions");
    assert_eq!(encoded(|b| details.encode(b, false)), bytes);
    assert_exact(&bytes, |bytes| UserDetails::decode(bytes, false).map(drop));
}

#[test]
fn legacy_user_details_have_no_options_block() {
    let v_bytes = vector("user_details_perms");
    let details = UserDetails::decode(&v_bytes, false).unwrap();
    let l_bytes = encoded(|b| details.encode(b, true));
    assert_eq!(l_bytes.len(), v_bytes.len() - 4);
    assert_eq!(UserDetails::decode(&l_bytes, true), Ok(details));
    assert!(UserDetails::decode(&l_bytes, false).is_err());
    assert_exact(&l_bytes, |bytes| UserDetails::decode(bytes, true).map(drop));
}

#[test]
fn the_no_permissions_padding_is_skipped_like_the_sdk_does() {
    let mut bytes = vector("user_details_none");
    let last = bytes.len() - 1;
    bytes[last] = 0xff;
    assert_eq!(UserDetails::decode(&bytes, false).map(|details| details.permissions), Ok(None));
}

#[test]
fn user_lists_match_the_real_encoder() {
    let bytes = vector("users");
    let users = decode_users(&bytes, false).unwrap();
    let iggy = UserInfo {
        id: 0,
        created_at: 5,
        status: USER_STATUS_INACTIVE,
        username: "iggy".into(),
        options: future_options(),
    };
    assert_eq!(users, vec![alice(), iggy.clone()]);
    assert_eq!(encoded(|b| encode_users(&users, b, false)), bytes);
    assert_eq!(decode_users(&[], false), Ok(vec![]));
    assert!(decode_users(&bytes[..bytes.len() - 1], false).is_err());

    let legacy = [alice(), UserInfo { options: Options::new(), ..iggy }];
    let bytes = encoded(|b| encode_users(&legacy, b, true));
    assert_eq!(decode_users(&bytes, true), Ok(legacy.to_vec()));
    assert!(decode_users(&bytes[..bytes.len() - 1], true).is_err());
}

#[test]
fn token_replies_match_the_real_encoder() {
    let bytes = vector("pats");
    let tokens = decode_personal_access_tokens(&bytes).unwrap();
    let expected = vec![
        PersonalAccessTokenInfo { name: "a-token".into(), expiry_at: 0 },
        PersonalAccessTokenInfo { name: "b-token".into(), expiry_at: 1_800_000_000_000_000 },
    ];
    assert_eq!(tokens, expected);
    assert_eq!(encoded(|b| encode_personal_access_tokens(&tokens, b)), bytes);
    assert_eq!(decode_personal_access_tokens(&[]), Ok(vec![]));
    assert!(decode_personal_access_tokens(&bytes[..bytes.len() - 1]).is_err());

    let bytes = vector("raw_token");
    let token = RawToken::decode(&bytes).unwrap();
    assert_eq!(token.token, "iggypat-0123456789abcdef");
    assert_eq!(encoded(|b| token.encode(b)), bytes);
    assert!(!format!("{token:?}").contains("iggypat"));
    assert_exact(&bytes, |bytes| RawToken::decode(bytes).map(drop));
}

fn permissions() -> impl Strategy<Value = Option<Permissions>> {
    prop::option::of(crate::permissions::tests::permissions())
}

proptest! {
    #[test]
    fn requests_round_trip(
        username in strategies::name(),
        password in strategies::short_text(),
        status in any::<u8>(),
        permissions in permissions(),
        options in strategies::options(),
        user in strategies::identifier(),
        legacy in any::<bool>(),
    ) {
        let options = if legacy { Options::new() } else { options };
        let create = CreateUser {
            username: username.clone(),
            password: password.clone(),
            status,
            permissions: permissions.clone(),
            options: options.clone(),
        };
        prop_assert_eq!(CreateUser::decode(&encoded(|b| create.encode(b)), legacy), Ok(create));
        let update = UpdateUser { user: user.clone(), username: Some(username.clone()), status: Some(status), options };
        prop_assert_eq!(UpdateUser::decode(&encoded(|b| update.encode(b)), legacy), Ok(update));
        let grant = UpdatePermissions { user: user.clone(), permissions };
        prop_assert_eq!(UpdatePermissions::decode(&encoded(|b| grant.encode(b))), Ok(grant));
        let change = ChangePassword { user, current_password: password.clone(), new_password: password.clone() };
        prop_assert_eq!(ChangePassword::decode(&encoded(|b| change.encode(b))), Ok(change));
        let login = LoginUser { username, password, version: Some("0.10.0".into()), context: None };
        prop_assert_eq!(LoginUser::decode(&encoded(|b| login.encode(b))), Ok(login));
    }

    #[test]
    fn replies_round_trip(
        id in any::<u32>(),
        created_at in any::<u64>(),
        status in any::<u8>(),
        username in strategies::name(),
        options in strategies::options(),
        permissions in permissions(),
        legacy in any::<bool>(),
    ) {
        let options = if legacy { Options::new() } else { options };
        let user = UserInfo { id, created_at, status, username, options };
        let details = UserDetails { user: user.clone(), permissions };
        prop_assert_eq!(UserDetails::decode(&encoded(|b| details.encode(b, legacy)), legacy), Ok(details));
        let users = vec![user.clone(), user];
        prop_assert_eq!(decode_users(&encoded(|b| encode_users(&users, b, legacy)), legacy), Ok(users));
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..96), legacy in any::<bool>()) {
        let _ = CreateUser::decode(&bytes, legacy);
        let _ = UpdateUser::decode(&bytes, legacy);
        let _ = UpdatePermissions::decode(&bytes);
        let _ = LoginUser::decode(&bytes);
        let _ = UserDetails::decode(&bytes, legacy);
        let _ = decode_users(&bytes, legacy);
        let _ = decode_personal_access_tokens(&bytes);
    }
}
