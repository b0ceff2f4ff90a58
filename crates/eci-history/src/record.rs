//! One blocked request as the history keeps it, and its wire form (JSON keys, time as RFC 3339 and
//! unix milliseconds).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use eci_policy::decide::BlockKind;

/// A point in time at millisecond precision, the precision the store keeps.
///
/// Serialises as `{"time": "2026-11-28T20:30:09.123Z", "unix_ms": 1795897809123}`; a record
/// flattens both keys into itself. Reads an RFC 3339 string, a number of unix milliseconds, or
/// that object (whose two values must agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from_datetime(Utc::now())
    }

    /// Truncates to the millisecond.
    pub fn from_datetime(at: DateTime<Utc>) -> Timestamp {
        Timestamp(at.timestamp_millis())
    }

    /// `None` outside the years chrono can represent.
    pub fn from_unix_ms(ms: i64) -> Option<Timestamp> {
        DateTime::from_timestamp_millis(ms).map(|_| Timestamp(ms))
    }

    pub fn unix_ms(self) -> i64 {
        self.0
    }

    pub fn datetime(self) -> DateTime<Utc> {
        // Every constructor checked the range.
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    pub fn rfc3339(self) -> String {
        self.datetime().to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Why a time given on the command line or by the app could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is neither an RFC 3339 time (2026-11-28T20:30:00Z) nor unix milliseconds")]
pub struct BadTimestamp(String);

impl FromStr for Timestamp {
    type Err = BadTimestamp;

    fn from_str(s: &str) -> Result<Timestamp, BadTimestamp> {
        let bad = || BadTimestamp(s.to_owned());
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse()
                .ok()
                .and_then(Timestamp::from_unix_ms)
                .ok_or_else(bad);
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Timestamp::from_datetime(t.with_timezone(&Utc)))
            .map_err(|_| bad())
    }
}

/// The wire form of a [`Timestamp`]. The timestamp serialises through it, so its TypeScript
/// declaration (the `ts` feature) is the JSON the app receives.
#[derive(Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
struct TimestampJson {
    /// RFC 3339 with milliseconds.
    time: String,
    unix_ms: i64,
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        TimestampJson {
            time: self.rfc3339(),
            unix_ms: self.0,
        }
        .serialize(s)
    }
}

/// Written by hand because ts-rs cannot flatten a type declared `#[ts(as = ..)]`, and records
/// flatten their time: the declaration is [`TimestampJson`]'s, inlined wherever it is used.
#[cfg(feature = "ts")]
impl ts_rs::TS for Timestamp {
    type WithoutGenerics = Timestamp;
    type OptionInnerType = Timestamp;

    fn name(cfg: &ts_rs::Config) -> String {
        <TimestampJson as ts_rs::TS>::inline(cfg)
    }

    fn inline(cfg: &ts_rs::Config) -> String {
        <TimestampJson as ts_rs::TS>::inline(cfg)
    }

    fn inline_flattened(cfg: &ts_rs::Config) -> String {
        <TimestampJson as ts_rs::TS>::inline_flattened(cfg)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        // `deserialize_any` so that a flattened record hands over its remaining keys as a map.
        d.deserialize_any(TimestampVisitor)
    }
}

#[derive(Clone, Copy)]
struct TimestampVisitor;

impl<'de> Visitor<'de> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 time, unix milliseconds, or {time, unix_ms}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        Timestamp::from_unix_ms(v).ok_or_else(|| E::custom(format!("unix ms {v} out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        let v = i64::try_from(v).map_err(|_| E::custom(format!("unix ms {v} out of range")))?;
        self.visit_i64(v)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Timestamp, A::Error> {
        let mut time: Option<String> = None;
        let mut unix_ms: Option<i64> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "time" => time = Some(map.next_value()?),
                "unix_ms" => unix_ms = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let from_ms = unix_ms
            .map(|ms| self.visit_i64::<A::Error>(ms))
            .transpose()?;
        let from_text = time.map(|t| self.visit_str::<A::Error>(&t)).transpose()?;
        match (from_text, from_ms) {
            (Some(a), Some(b)) if a != b => Err(de::Error::custom(format!(
                "time {a} and unix_ms {} disagree",
                b.unix_ms()
            ))),
            (Some(t), _) | (None, Some(t)) => Ok(t),
            (None, None) => Err(de::Error::missing_field("time")),
        }
    }
}

/// The listener a blocked request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum SocketKind {
    /// The enforcer's own socket (the one `DOCKER_HOST` points at).
    Main,
    /// A container's filtered socket, under the command list.
    Filtered,
}

impl SocketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SocketKind::Main => "main",
            SocketKind::Filtered => "filtered",
        }
    }

    pub fn parse(s: &str) -> Option<SocketKind> {
        match s {
            "main" => Some(SocketKind::Main),
            "filtered" => Some(SocketKind::Filtered),
            _ => None,
        }
    }
}

/// What became of a recorded request: refused, or forwarded in audit mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Outcome {
    /// Refused: the client received the message.
    Blocked,
    /// Forwarded in audit mode: the policy would have refused it.
    Audited,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::Audited => "audited",
        }
    }
}

/// The storage and wire name of a block kind (the serde names of [`BlockKind`]).
pub fn kind_str(kind: BlockKind) -> &'static str {
    match kind {
        BlockKind::SocketMount => "socket_mount",
        BlockKind::Command => "command",
        BlockKind::InvalidRequest => "invalid_request",
        BlockKind::HostAccess => "host_access",
    }
}

/// A block kind name that is none of [`kind_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown block kind {0:?}; expected socket_mount, command, host_access or invalid_request")]
pub struct UnknownKind(pub String);

/// Reads a block kind by its storage and wire name.
pub fn parse_kind(s: &str) -> Result<BlockKind, UnknownKind> {
    match s {
        "socket_mount" => Ok(BlockKind::SocketMount),
        "command" => Ok(BlockKind::Command),
        "invalid_request" => Ok(BlockKind::InvalidRequest),
        "host_access" => Ok(BlockKind::HostAccess),
        _ => Err(UnknownKind(s.to_owned())),
    }
}

/// Who sent the request, as far as the enforcer could tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClientInfo {
    /// Peer credentials of the unix socket connection (`SO_PEERCRED`).
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// The `User-Agent` header (`Docker-Client/20.10.24 (linux)`).
    pub user_agent: Option<String>,
}

/// One refused request, or one the policy would refuse that was forwarded because its rule family
/// is in audit mode (`audited`). Fields the enforcer could not know are `None` or empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct BlockRecord {
    #[serde(flatten)]
    pub time: Timestamp,
    pub socket: SocketKind,
    /// The listening socket's path.
    pub socket_path: String,
    /// The container a filtered socket belongs to.
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    /// The image as the request or the container named it.
    pub image: Option<String>,
    /// The image id (config digest) the engine reported.
    pub image_id: Option<String>,
    pub kind: BlockKind,
    /// Forwarded in audit mode rather than refused: the policy would have refused it, with
    /// `message`. Absent in records written before audit mode existed, which were all refused.
    #[serde(default)]
    pub audited: bool,
    /// The `docker` commands the request was attributed to.
    pub commands: Vec<String>,
    pub method: String,
    /// The raw request target, as received.
    pub path: String,
    /// A short reason for the history view.
    pub reason: String,
    /// The exact message the client received.
    pub message: String,
    /// The version (fingerprint) of the policy that decided.
    pub policy_version: String,
    pub client: Option<ClientInfo>,
}

/// The longest text field the history keeps, in bytes. Paths, image names and user agents come
/// from the blocked client: without a cap a flood of long requests would make `max_rows` rows
/// arbitrarily large on disk.
pub const MAX_FIELD: usize = 4096;

/// The most commands one record keeps.
pub const MAX_COMMANDS: usize = 64;

impl BlockRecord {
    pub fn outcome(&self) -> Outcome {
        if self.audited {
            Outcome::Audited
        } else {
            Outcome::Blocked
        }
    }

    /// Cuts every text field to [`MAX_FIELD`] bytes (on a character boundary, ending in `…`) and
    /// the command list to [`MAX_COMMANDS`].
    pub(crate) fn clip(&mut self) {
        let opt = |v: &mut Option<String>| v.iter_mut().for_each(clip);
        clip(&mut self.socket_path);
        opt(&mut self.container_id);
        opt(&mut self.container_name);
        opt(&mut self.image);
        opt(&mut self.image_id);
        self.commands.truncate(MAX_COMMANDS);
        self.commands.iter_mut().for_each(clip);
        clip(&mut self.method);
        clip(&mut self.path);
        clip(&mut self.reason);
        clip(&mut self.message);
        clip(&mut self.policy_version);
        if let Some(client) = &mut self.client {
            opt(&mut client.user_agent);
        }
    }
}

fn clip(s: &mut String) {
    if s.len() <= MAX_FIELD {
        return;
    }
    let mut end = MAX_FIELD - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

/// A record as stored, with the id the store gave it. Ids only grow, even across a clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct StoredBlock {
    pub id: i64,
    #[serde(flatten)]
    pub record: BlockRecord,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> BlockRecord {
        BlockRecord {
            time: Timestamp::from_unix_ms(1_795_897_809_123).unwrap(),
            socket: SocketKind::Filtered,
            socket_path: "/run/eci/c1.sock".into(),
            container_id: Some("c1".into()),
            container_name: Some("ci-agent".into()),
            image: Some("iechor.io/library/iechor".into()),
            image_id: Some("sha256:abc".into()),
            kind: BlockKind::Command,
            audited: false,
            commands: vec!["push".into(), "image push".into()],
            method: "POST".into(),
            path: "/v1.43/images/myimage/push?tag=latest".into(),
            reason: "command push denied".into(),
            message: "enhanced container isolation: …".into(),
            policy_version: "0123456789abcdef".into(),
            client: Some(ClientInfo {
                pid: Some(42),
                uid: Some(1000),
                gid: None,
                user_agent: Some("Docker-Client/20.10.24 (linux)".into()),
            }),
        }
    }

    #[test]
    fn json_has_flat_time_keys_and_round_trips() {
        let block = StoredBlock {
            id: 7,
            record: record(),
        };
        let v = serde_json::to_value(&block).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["time"], "2026-11-28T20:30:09.123Z");
        assert_eq!(v["unix_ms"], 1_795_897_809_123_i64);
        assert_eq!(v["kind"], "command");
        assert_eq!(v["socket"], "filtered");
        assert_eq!(v["client"]["gid"], serde_json::Value::Null);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[..4], ["id", "time", "unix_ms", "socket"]);
        let back: StoredBlock = serde_json::from_value(v).unwrap();
        assert_eq!(back, block);
    }

    #[test]
    fn audited_is_on_the_wire_and_absent_means_refused() {
        let mut r = record();
        r.audited = true;
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["audited"], true);
        assert_eq!(serde_json::from_value::<BlockRecord>(v).unwrap(), r);
        assert_eq!(r.outcome(), Outcome::Audited);

        // A record exported before audit mode existed has no `audited` key: it was refused.
        let mut old = serde_json::to_value(record()).unwrap();
        old.as_object_mut().unwrap().remove("audited");
        let read: BlockRecord = serde_json::from_value(old).unwrap();
        assert!(!read.audited);
        assert_eq!(read.outcome(), Outcome::Blocked);
    }

    #[test]
    fn timestamps_read_from_every_form_and_reject_disagreement() {
        let ms = 1_795_897_809_123_i64;
        let cases: &[(&str, Option<i64>)] = &[
            (r#""2026-11-28T20:30:09.123Z""#, Some(ms)),
            (r#""2026-11-28T21:30:09.123+01:00""#, Some(ms)),
            (r#""2026-11-28T20:30:09.123999Z""#, Some(ms)),
            ("1795897809123", Some(ms)),
            (
                r#"{"time":"2026-11-28T20:30:09.123Z","unix_ms":1795897809123}"#,
                Some(ms),
            ),
            (r#"{"unix_ms":1795897809123}"#, Some(ms)),
            // A record whose two time fields disagree would be shown at one time and filtered at
            // another.
            (
                r#"{"time":"2026-11-28T20:30:09.124Z","unix_ms":1795897809123}"#,
                None,
            ),
            (r#"{}"#, None),
            (r#""yesterday""#, None),
            ("99999999999999999999", None),
        ];
        for (json, want) in cases {
            let got = serde_json::from_str::<Timestamp>(json)
                .ok()
                .map(Timestamp::unix_ms);
            assert_eq!(got, *want, "{json}");
        }
    }

    #[test]
    fn command_line_times_parse() {
        let cases: &[(&str, Option<i64>)] = &[
            ("2026-11-28T20:30:09.123Z", Some(1_795_897_809_123)),
            ("1795897809123", Some(1_795_897_809_123)),
            ("2026-11-28", None),
            ("", None),
            ("-5", None),
        ];
        for (s, want) in cases {
            assert_eq!(
                s.parse::<Timestamp>().ok().map(Timestamp::unix_ms),
                *want,
                "{s:?}"
            );
        }
    }

    #[test]
    fn client_supplied_text_is_clipped() {
        let long = "é".repeat(MAX_FIELD); // two bytes each: the cut falls inside a character
        let mut r = record();
        r.path = format!("/v1.41/{long}");
        r.message = long.clone();
        r.image = Some(long.clone());
        r.client.as_mut().unwrap().user_agent = Some(long.clone());
        r.commands = vec!["ps".into(); 1000];
        let short = record();
        r.clip();
        for field in [
            &r.path,
            &r.message,
            r.image.as_ref().unwrap(),
            r.client.as_ref().unwrap().user_agent.as_ref().unwrap(),
        ] {
            assert!(field.len() <= MAX_FIELD, "{}", field.len());
            assert!(field.len() > MAX_FIELD - 8, "{}", field.len());
            assert!(field.ends_with("é…"), "{}", &field[field.len() - 8..]);
        }
        assert!(r.path.starts_with("/v1.41/éé"));
        assert_eq!(r.commands.len(), MAX_COMMANDS);
        let mut same = short.clone();
        same.clip();
        assert_eq!(same, short, "fields within the limit are kept as they are");
    }

    #[test]
    fn kind_names_are_the_serde_names() {
        for kind in [
            BlockKind::SocketMount,
            BlockKind::Command,
            BlockKind::InvalidRequest,
        ] {
            let serde_name = serde_json::to_value(kind).unwrap();
            assert_eq!(serde_name, kind_str(kind));
            assert_eq!(parse_kind(kind_str(kind)), Ok(kind));
        }
        assert!(parse_kind("Command").is_err());
    }
}
