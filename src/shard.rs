//! Sharding accounts across replicas: `--shard=I/N` keeps the accounts whose stable hash of the
//! name is I modulo N, the same idea as Prometheus's `hashmod` relabelling. The hash is FNV-1a
//! (64-bit): fixed forever, so an account never moves between shards when the exporter is
//! upgraded.

/// FNV-1a, 64-bit.
pub fn stable_hash(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Whether `account` belongs to shard `index` of `count`.
pub fn owns(account: &str, index: u32, count: u32) -> bool {
    count <= 1 || stable_hash(account) % u64::from(count) == u64::from(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn every_account_lands_in_exactly_one_shard() {
        let accounts: Vec<String> = (0..1000).map(|i| format!("account-{i}")).collect();
        for count in 1..=7 {
            let mut per_shard = vec![0usize; count as usize];
            for account in &accounts {
                let owners: Vec<u32> = (0..count).filter(|i| owns(account, *i, count)).collect();
                assert_eq!(owners.len(), 1, "{account} in shards {owners:?} of {count}");
                per_shard[owners[0] as usize] += 1;
            }
            // Spread: no shard gets less than half or more than twice its fair share.
            let fair = accounts.len() / count as usize;
            assert!(
                per_shard.iter().all(|n| *n >= fair / 2 && *n <= fair * 2),
                "{per_shard:?}"
            );
        }
    }
}
