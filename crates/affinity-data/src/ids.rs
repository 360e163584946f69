//! Interning of external string ids into dense `u32` ids.

use std::collections::HashMap;

/// A reversible mapping between external string ids and dense ids `0..len`.
///
/// ```
/// use affinity_data::IdMap;
/// let mut ids = IdMap::default();
/// let milk = ids.intern("whole milk");
/// assert_eq!(ids.intern("whole milk"), milk);
/// assert_eq!(ids.name(milk), "whole milk");
/// assert_eq!(ids.get("bread"), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl IdMap {
    /// The dense id of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("more than 2^32 distinct ids");
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }

    /// The dense id of `name`, if known.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The external name of a dense id. Panics if `id` was not issued by this map.
    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// How many ids were issued.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no id was issued.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// All external names, indexed by dense id.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Keeps only the ids for which `keep` is true, renumbering densely in the old order.
    /// Returns the old-to-new mapping (`None` for dropped ids).
    pub fn retain(&mut self, keep: impl Fn(u32) -> bool) -> Vec<Option<u32>> {
        let mut remap = Vec::with_capacity(self.names.len());
        let mut names = Vec::new();
        for (old, name) in std::mem::take(&mut self.names).into_iter().enumerate() {
            if keep(old as u32) {
                remap.push(Some(names.len() as u32));
                names.push(name);
            } else {
                remap.push(None);
            }
        }
        self.index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        self.names = names;
        remap
    }
}

impl FromIterator<String> for IdMap {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        let mut map = IdMap::default();
        for name in iter {
            map.intern(&name);
        }
        map
    }
}
