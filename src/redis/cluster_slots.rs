//! Which Cluster node serves which keys: the slot of a key, and the slot ranges of each node as
//! `CLUSTER SLOTS` reports them. With these, per-user commands are grouped into one pipeline per
//! node. The grouping is only an optimisation: a stale map costs a retry, never a wrong answer,
//! because a node refuses (`MOVED`) a key it does not serve.

use redis::Value;

/// How many slots a Redis Cluster has.
const SLOTS: u16 = 16384;

/// The slot Redis Cluster assigns `key`: CRC16 (XMODEM) of its hash tag (the text between the
/// first `{` and the next `}`, when not empty), or of the whole key, modulo 16384.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    crc16_xmodem(hashed_part(key)) % SLOTS
}

/// The part of `key` Redis Cluster hashes.
pub(crate) fn hashed_part(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    match key[open + 1..].iter().position(|&b| b == b'}') {
        Some(0) | None => key,
        Some(len) => &key[open + 1..open + 1 + len],
    }
}

/// CRC16 (XMODEM: polynomial 0x1021, initial value 0), a byte at a time from a table.
fn crc16_xmodem(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &byte| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)]
    })
}

/// The CRC of each byte value, shifted into the top of the register.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

/// The primary node serving each slot, as numbered groups: slots with the same number are on the
/// same node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlotOwners {
    /// `(first slot, last slot, node number)`, sorted by first slot.
    ranges: Vec<(u16, u16, usize)>,
    nodes: usize,
}

impl SlotOwners {
    /// Reads a `CLUSTER SLOTS` reply: an array of `[first, last, [host, port, ...], replicas...]`.
    /// Returns `None` when the reply does not have that shape.
    pub(crate) fn from_cluster_slots(reply: &Value) -> Option<Self> {
        let Value::Array(entries) = reply else {
            return None;
        };
        let mut addresses: Vec<(Vec<u8>, i64)> = Vec::new();
        let mut ranges = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(fields) = entry else {
                return None;
            };
            let (Some(first), Some(last), Some(Value::Array(primary))) =
                (fields.first(), fields.get(1), fields.get(2))
            else {
                return None;
            };
            let (Value::Int(first), Value::Int(last)) = (first, last) else {
                return None;
            };
            let (first, last) = (u16::try_from(*first).ok()?, u16::try_from(*last).ok()?);
            let host = match primary.first()? {
                Value::BulkString(host) => host.clone(),
                Value::SimpleString(host) => host.clone().into_bytes(),
                _ => return None,
            };
            let Value::Int(port) = primary.get(1)? else {
                return None;
            };
            let address = (host, *port);
            let node = match addresses.iter().position(|known| *known == address) {
                Some(node) => node,
                None => {
                    addresses.push(address);
                    addresses.len() - 1
                }
            };
            ranges.push((first, last, node));
        }
        ranges.sort_unstable();
        Some(Self {
            ranges,
            nodes: addresses.len(),
        })
    }

    /// The number of the node serving `slot`, or `None` when no node serves it.
    pub(crate) fn node_of(&self, slot: u16) -> Option<usize> {
        let after = self.ranges.partition_point(|&(first, _, _)| first <= slot);
        let &(_, last, node) = self.ranges.get(after.checked_sub(1)?)?;
        (slot <= last).then_some(node)
    }

    /// How many distinct nodes serve slots.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes
    }
}

/// Every node a `CLUSTER SLOTS` reply names, primaries and replicas, each once, in the order named:
/// `(host, port)`. A node without a usable endpoint (an empty host, or `?`, which Redis sends for
/// an endpoint it does not know) is left out, as is anything not of the expected shape.
pub(crate) fn node_endpoints(reply: &Value) -> Vec<(String, u16)> {
    let mut endpoints: Vec<(String, u16)> = Vec::new();
    let Value::Array(entries) = reply else {
        return endpoints;
    };
    let nodes = entries.iter().filter_map(|entry| match entry {
        Value::Array(fields) => fields.get(2..),
        _ => None,
    });
    for node in nodes.flatten() {
        let Value::Array(node) = node else { continue };
        let host = match node.first() {
            Some(Value::BulkString(host)) => String::from_utf8(host.clone()).ok(),
            Some(Value::SimpleString(host)) => Some(host.clone()),
            _ => None,
        };
        let port = match node.get(1) {
            Some(Value::Int(port)) => u16::try_from(*port).ok(),
            _ => None,
        };
        if let (Some(host), Some(port)) = (host, port)
            && !host.is_empty()
            && host != "?"
            && !endpoints.iter().any(|(h, p)| *h == host && *p == port)
        {
            endpoints.push((host, port));
        }
    }
    endpoints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // The reference value from the Redis Cluster specification.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
        // Values `CLUSTER KEYSLOT` returns.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
    }

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn reads_cluster_slots() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("127.0.0.1", 7001),
            ]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 7000),
            ]),
            Value::Array(vec![
                Value::Int(10923),
                Value::Int(12000),
                node("127.0.0.1", 7002),
            ]),
            // A second range on the first node, with a replica after the primary.
            Value::Array(vec![
                Value::Int(12001),
                Value::Int(16383),
                node("127.0.0.1", 7001),
                node("127.0.0.1", 7101),
            ]),
        ]);
        let owners = SlotOwners::from_cluster_slots(&reply).unwrap();
        assert_eq!(owners.node_count(), 3);
        assert_eq!(owners.node_of(0), owners.node_of(5460));
        assert_eq!(owners.node_of(5461), owners.node_of(16383));
        assert_ne!(owners.node_of(0), owners.node_of(5461));
        assert_ne!(owners.node_of(11000), owners.node_of(5461));
        assert!(owners.node_of(11000).is_some());
        assert!(owners.node_of(16384).is_none());
    }

    #[test]
    fn lists_every_node_once_with_its_endpoint() {
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7000),
                node("10.0.0.4", 7000),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(10922),
                node("10.0.0.2", 7000),
                node("?", 7000),
                node("", 7001),
            ]),
            Value::Array(vec![
                Value::Int(10923),
                Value::Int(16383),
                node("10.0.0.1", 7000),
                node("10.0.0.3", 70000),
            ]),
            Value::Int(3),
        ]);
        let expected: Vec<(String, u16)> =
            [("10.0.0.1", 7000), ("10.0.0.4", 7000), ("10.0.0.2", 7000)]
                .iter()
                .map(|&(host, port)| (host.to_string(), port))
                .collect();
        assert_eq!(node_endpoints(&reply), expected);
        assert!(node_endpoints(&Value::Nil).is_empty());
    }

    #[test]
    fn unserved_slots_and_bad_replies() {
        let reply = Value::Array(vec![Value::Array(vec![
            Value::Int(100),
            Value::Int(200),
            node("h", 1),
        ])]);
        let owners = SlotOwners::from_cluster_slots(&reply).unwrap();
        assert_eq!(owners.node_of(99), None);
        assert_eq!(owners.node_of(150), Some(0));
        assert_eq!(owners.node_of(201), None);
        assert!(SlotOwners::from_cluster_slots(&Value::Nil).is_none());
        assert!(SlotOwners::from_cluster_slots(&Value::Array(vec![Value::Int(1)])).is_none());
    }
}
