//! Which datasets of a jobs file a run takes: `--only NAME` and `--shard I/N`.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// One shard of N: the datasets whose position in the jobs file (counting from 0) modulo
/// `count` is `index`. Shards `0/N` to `N-1/N` together cover every dataset exactly once, with
/// no coordination between the machines that run them (a Kubernetes indexed Job passes its
/// `JOB_COMPLETION_INDEX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// True when the dataset at `position` belongs to this shard.
    pub fn contains(self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::usage(format!(
                "--shard takes I/N with 0 <= I < N (for example 0/3, 1/3, 2/3), not {s:?}"
            ))
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The positions of the datasets to run, in file order: those named by `only` (all when
/// empty) that belong to `shard` (all when `None`). A name in `only` that is not in `names` is
/// an error listing the names there are.
pub fn select(names: &[&str], only: &[String], shard: Option<Shard>) -> Result<Vec<usize>> {
    if let Some(unknown) = only.iter().find(|o| !names.contains(&o.as_str())) {
        return Err(Error::usage(format!(
            "--only {unknown:?}: no dataset has that name; the jobs file has {}",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(names
        .iter()
        .enumerate()
        .filter(|(i, name)| {
            (only.is_empty() || only.iter().any(|o| o == *name))
                && shard.is_none_or(|s| s.contains(*i))
        })
        .map(|(i, _)| i)
        .collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn shards_parse() {
        for (s, want) in [
            ("0/1", Some((0, 1))),
            ("2/3", Some((2, 3))),
            (" 1 / 4 ", Some((1, 4))),
            ("3/3", None),
            ("0/0", None),
            ("-1/3", None),
            ("1", None),
            ("a/b", None),
            ("1/3/5", None),
        ] {
            let got = s.parse::<Shard>().ok().map(|s| (s.index, s.count));
            assert_eq!(got, want, "{s:?}");
        }
        assert_eq!(Shard { index: 1, count: 3 }.to_string(), "1/3");
    }

    #[test]
    fn only_and_shard_select_in_file_order() {
        let names = ["a", "b", "c", "d", "e"];
        let sel = |only: &[&str], shard: Option<&str>| {
            let only: Vec<String> = only.iter().map(|s| (*s).to_owned()).collect();
            select(&names, &only, shard.map(|s| s.parse().unwrap())).unwrap()
        };
        assert_eq!(sel(&[], None), vec![0, 1, 2, 3, 4]);
        assert_eq!(sel(&["d", "b"], None), vec![1, 3]);
        assert_eq!(sel(&[], Some("0/2")), vec![0, 2, 4]);
        assert_eq!(sel(&[], Some("1/2")), vec![1, 3]);
        // Both apply: the shard by position in the file, then the names.
        assert_eq!(sel(&["a", "b", "c"], Some("0/2")), vec![0, 2]);
        let e = select(&names, &["z".to_owned()], None).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(e.to_string().contains("\"z\"") && e.to_string().contains("\"e\""));
    }

    proptest! {
        /// Every dataset is in exactly one of the N shards.
        #[test]
        fn shards_cover_every_dataset_once(len in 0usize..60, count in 1usize..12) {
            let names: Vec<String> = (0..len).map(|i| format!("d{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut seen = vec![0u32; len];
            for index in 0..count {
                for i in select(&refs, &[], Some(Shard { index, count })).unwrap() {
                    seen[i] += 1;
                }
            }
            prop_assert!(seen.iter().all(|&n| n == 1));
        }
    }
}
