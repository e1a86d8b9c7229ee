//! Sets of CPU features, independent of the architecture.
//!
//! A [`FeatureSet`] is a fixed-size bitset: bit `i` stands for entry `i` of
//! an architecture's feature table (`crate::arch::x86_64::FEATURES`, ...).
//! What the bits mean is the table's business; this module only combines
//! them. `multiarch pack` writes each variant's required features as the two
//! words of a set ([`FeatureSet::from_words`]) into the generated crate root,
//! so the launcher never parses a feature name at start.

use core::fmt;

/// A set of features: bit `i` is entry `i` of an architecture's table.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FeatureSet {
    words: [u64; 2],
}

impl FeatureSet {
    /// How many features a set can hold: no table may be longer.
    pub const CAPACITY: usize = 128;

    /// The empty set.
    pub const EMPTY: FeatureSet = FeatureSet { words: [0; 2] };

    /// The set with these words (bit `i` of word `i / 64` is feature `i`).
    pub const fn from_words(words: [u64; 2]) -> FeatureSet {
        FeatureSet { words }
    }

    /// The set's words, as [`FeatureSet::from_words`] takes them.
    pub const fn words(self) -> [u64; 2] {
        self.words
    }

    /// This set plus feature `index`. Panics (at compile time in a const)
    /// when `index` is not below [`FeatureSet::CAPACITY`].
    pub const fn with(self, index: usize) -> FeatureSet {
        assert!(index < Self::CAPACITY, "feature index out of range");
        let mut words = self.words;
        words[index / 64] |= 1 << (index % 64);
        FeatureSet { words }
    }

    /// This set without feature `index`.
    pub const fn without(self, index: usize) -> FeatureSet {
        if index >= Self::CAPACITY {
            return self;
        }
        let mut words = self.words;
        words[index / 64] &= !(1 << (index % 64));
        FeatureSet { words }
    }

    /// Whether feature `index` is in the set.
    pub const fn contains(self, index: usize) -> bool {
        index < Self::CAPACITY && self.words[index / 64] & (1 << (index % 64)) != 0
    }

    /// Whether every feature of `required` is in this set.
    pub const fn contains_all(self, required: FeatureSet) -> bool {
        required.words[0] & !self.words[0] == 0 && required.words[1] & !self.words[1] == 0
    }

    /// The features of `required` that this set lacks.
    pub const fn missing(self, required: FeatureSet) -> FeatureSet {
        FeatureSet { words: [required.words[0] & !self.words[0], required.words[1] & !self.words[1]] }
    }

    /// The features in either set.
    pub const fn union(self, other: FeatureSet) -> FeatureSet {
        FeatureSet { words: [self.words[0] | other.words[0], self.words[1] | other.words[1]] }
    }

    /// The features in both sets.
    pub const fn intersection(self, other: FeatureSet) -> FeatureSet {
        FeatureSet { words: [self.words[0] & other.words[0], self.words[1] & other.words[1]] }
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.words[0] == 0 && self.words[1] == 0
    }

    /// How many features the set holds.
    pub const fn len(self) -> usize {
        (self.words[0].count_ones() + self.words[1].count_ones()) as usize
    }

    /// The indexes of the features in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = usize> + Clone {
        (0..Self::CAPACITY).filter(move |&i| self.contains(i))
    }

    /// The set shown as the names `name` gives its indexes, separated by
    /// `sep`; an index without a name shows as `#<index>`.
    pub fn names(self, name: fn(usize) -> Option<&'static str>, sep: &'static str) -> Names {
        Names { set: self, name, sep }
    }
}

impl fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A [`FeatureSet`] shown by name: see [`FeatureSet::names`].
#[derive(Clone, Copy)]
pub struct Names {
    set: FeatureSet,
    name: fn(usize) -> Option<&'static str>,
    sep: &'static str,
}

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, i) in self.set.iter().enumerate() {
            if n > 0 {
                f.write_str(self.sep)?;
            }
            match (self.name)(i) {
                Some(name) => f.write_str(name)?,
                None => write!(f, "#{i}")?,
            }
        }
        Ok(())
    }
}

/// Whether two strings are equal, in a `const fn`.
pub const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// FNV-1a (64-bit) over `names`, each followed by a NUL: identifies a
/// feature table, so that a bundle packed against one table cannot be
/// compiled with a launcher whose table differs.
pub const fn table_id(names: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < names.len() {
        let bytes = names[i].as_bytes();
        let mut j = 0;
        while j <= bytes.len() {
            let b = if j < bytes.len() { bytes[j] } else { 0 };
            hash ^= b as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            j += 1;
        }
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::vec::Vec;

    fn set(indexes: &[usize]) -> FeatureSet {
        indexes.iter().fold(FeatureSet::EMPTY, |s, &i| s.with(i))
    }

    #[test]
    fn both_words_and_the_edges() {
        let s = set(&[0, 63, 64, 127]);
        assert_eq!(s.words(), [1 | 1 << 63, 1 | 1 << 63]);
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 63, 64, 127]);
        assert_eq!(s.len(), 4);
        assert!(s.contains(64) && !s.contains(65) && !s.contains(128));
        assert_eq!(FeatureSet::from_words(s.words()), s);
        assert_eq!(s.without(63).without(200), set(&[0, 64, 127]));
    }

    #[test]
    fn containment_and_what_is_missing() {
        let cpu = set(&[1, 2, 3, 70]);
        assert!(cpu.contains_all(set(&[1, 70])));
        assert!(cpu.contains_all(FeatureSet::EMPTY));
        assert!(!cpu.contains_all(set(&[1, 71])));
        assert_eq!(cpu.missing(set(&[1, 4, 71])), set(&[4, 71]));
        assert!(cpu.missing(set(&[2, 3])).is_empty());
        assert_eq!(cpu.union(set(&[100])).len(), 5);
        assert_eq!(cpu.intersection(set(&[3, 70, 90])), set(&[3, 70]));
    }

    #[test]
    fn names_in_index_order() {
        fn name(i: usize) -> Option<&'static str> {
            ["a", "b", "c"].get(i).copied()
        }
        assert_eq!(format!("{}", set(&[2, 0, 99]).names(name, " ")), "a c #99");
        assert_eq!(format!("{}", FeatureSet::EMPTY.names(name, ",")), "");
    }

    #[test]
    fn table_ids_differ_with_names_and_order() {
        assert_ne!(table_id(&["a", "b"]), table_id(&["b", "a"]));
        assert_ne!(table_id(&["ab"]), table_id(&["a", "b"]));
        assert!(const_str_eq("avx2", "avx2") && !const_str_eq("avx2", "avx") && !const_str_eq("avx", "avx2"));
    }
}
