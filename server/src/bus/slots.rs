//! Redis Cluster key slots: which shard a (shard) channel lives on, and the slot map read from
//! `CLUSTER SLOTS`.

use redis::Value;
use std::fmt;

/// Slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The slot of a key or shard channel: CRC16 (XMODEM) of its hash tag (the part between the
/// first `{` and the next `}`, when not empty) or of the whole name, modulo 16384.
pub fn slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(key)) % SLOTS
}

fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}') {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// A shard master's address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Which master serves each slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// `(first, last, master)`, sorted by `first`.
    ranges: Vec<(u16, u16, Addr)>,
}

impl SlotMap {
    /// Parses a `CLUSTER SLOTS` reply. `asked` is the host the reply came from: a master shown
    /// with an empty or `?` host is on it.
    pub fn from_cluster_slots(reply: &Value, asked: &str) -> Result<SlotMap, String> {
        let Value::Array(entries) = reply else {
            return Err(format!("CLUSTER SLOTS: not an array: {reply:?}"));
        };
        let mut ranges = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(parts) = entry else {
                return Err("CLUSTER SLOTS: an entry is not an array".into());
            };
            let (Some(first), Some(last), Some(Value::Array(master))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                return Err("CLUSTER SLOTS: an entry has no range or master".into());
            };
            let (first, last) = (int(first)?, int(last)?);
            if first > last || last >= i64::from(SLOTS) || first < 0 {
                return Err(format!("CLUSTER SLOTS: bad range {first}-{last}"));
            }
            let host = master.first().map(text).transpose()?.unwrap_or_default();
            let host = if host.is_empty() || host == "?" {
                asked.to_string()
            } else {
                host
            };
            let port = master
                .get(1)
                .map(int)
                .transpose()?
                .and_then(|p| u16::try_from(p).ok())
                .ok_or("CLUSTER SLOTS: a master has no port")?;
            ranges.push((first as u16, last as u16, Addr { host, port }));
        }
        ranges.sort_by_key(|r| r.0);
        Ok(SlotMap { ranges })
    }

    /// The master serving `slot`, if any does.
    pub fn owner(&self, slot: u16) -> Option<&Addr> {
        let i = self.ranges.partition_point(|r| r.0 <= slot);
        let (first, last, addr) = self.ranges.get(i.checked_sub(1)?)?;
        (*first <= slot && slot <= *last).then_some(addr)
    }

    /// Every master, once.
    pub fn masters(&self) -> Vec<Addr> {
        let mut m: Vec<Addr> = self.ranges.iter().map(|r| r.2.clone()).collect();
        m.sort();
        m.dedup();
        m
    }
}

fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => text(other)?
            .parse()
            .map_err(|_| format!("CLUSTER SLOTS: not a number: {other:?}")),
    }
}

fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::BulkString(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::VerbatimString { text, .. } => Ok(text.clone()),
        other => Err(format!("CLUSTER SLOTS: not text: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(slot(b"123456789"), 12739);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
        assert_eq!(slot(b"{yui}:control"), slot(b"yui"));
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_slot_map_is_read_from_cluster_slots() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7102), bulk("id2")]),
            ]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                Value::Array(vec![bulk(""), Value::Int(7101), bulk("id1")]),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7201), bulk("r1")]),
            ]),
            Value::Array(vec![
                Value::Int(10923),
                Value::Int(16383),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(7103), bulk("id3")]),
            ]),
        ]);
        let map = SlotMap::from_cluster_slots(&reply, "10.0.0.1").unwrap_or_else(|e| panic!("{e}"));
        let port = |s| map.owner(s).map(|a| a.port);
        assert_eq!(port(0), Some(7101));
        assert_eq!(port(5460), Some(7101));
        assert_eq!(port(5461), Some(7102));
        assert_eq!(port(16383), Some(7103));
        assert_eq!(map.owner(0).map(|a| a.host.as_str()), Some("10.0.0.1"));
        assert_eq!(map.masters().len(), 3);
        let partial = SlotMap::from_cluster_slots(
            &Value::Array(vec![Value::Array(vec![
                Value::Int(100),
                Value::Int(200),
                Value::Array(vec![bulk("h"), Value::Int(1)]),
            ])]),
            "x",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(partial.owner(99), None);
        assert_eq!(partial.owner(201), None);
        assert!(SlotMap::from_cluster_slots(&Value::Int(1), "x").is_err());
    }
}
