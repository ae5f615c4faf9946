//! Fixed-capacity containers for the boot-time device-tree parse.
//!
//! [`super::machine::Machine::from_fdt`] runs before the kernel heap exists, so
//! everything it records lives in arrays whose capacity is fixed at compile time:
//! [`BoundedVec`] for lists and [`FixedStr`] for strings copied out of the blob (a
//! copy, not a borrow, so the result stays valid after the DTB mapping goes away).

/// A list of at most `N` `Copy` items stored inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundedVec<T: Copy, const N: usize> {
    items: [T; N],
    len: usize,
}

/// [`BoundedVec::push`] found the list full; the item was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityExceeded;

impl<T: Copy + Default, const N: usize> BoundedVec<T, N> {
    /// An empty list.
    pub fn new() -> Self {
        BoundedVec { items: [T::default(); N], len: 0 }
    }
}

impl<T: Copy + Default, const N: usize> Default for BoundedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy, const N: usize> BoundedVec<T, N> {
    /// The fixed capacity `N`.
    pub const CAPACITY: usize = N;

    /// Appends `item`, or reports that the list is already full.
    pub fn push(&mut self, item: T) -> Result<(), CapacityExceeded> {
        let slot = self.items.get_mut(self.len).ok_or(CapacityExceeded)?;
        *slot = item;
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last item.
    pub fn pop(&mut self) -> Option<T> {
        let last = self.len.checked_sub(1)?;
        let item = *self.items.get(last)?;
        self.len = last;
        Some(item)
    }

    /// The last item.
    pub fn last(&self) -> Option<&T> {
        self.as_slice().last()
    }

    /// The stored items, in insertion order.
    pub fn as_slice(&self) -> &[T] {
        // `len <= N` always holds (push is the only writer), so this never falls back.
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The stored items, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.items.get_mut(..self.len).unwrap_or(&mut [])
    }

    /// Number of stored items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when another push would fail.
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Iterates over the stored items.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.as_slice().iter()
    }
}

impl<'v, T: Copy, const N: usize> IntoIterator for &'v BoundedVec<T, N> {
    type Item = &'v T;
    type IntoIter = core::slice::Iter<'v, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A UTF-8 string of at most `N` bytes stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedStr<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> FixedStr<N> {
    /// The empty string.
    pub const fn new() -> Self {
        FixedStr { bytes: [0; N], len: 0 }
    }

    /// A copy of `text`, cut at the last character boundary that fits in `N` bytes.
    /// Returns the copy and whether anything was cut.
    pub fn truncated(text: &str) -> (Self, bool) {
        let mut end = text.len().min(N);
        while !text.is_char_boundary(end) {
            end -= 1; // terminates: index 0 is always a boundary
        }
        (Self::copy_prefix(text, end), end < text.len())
    }

    /// A copy of `text` if it fits whole; otherwise a copy of its longest prefix of
    /// whole whitespace-separated words that fits. Returns the copy and whether
    /// anything was cut. Used for command lines, where half a word would change
    /// its meaning.
    pub fn truncated_at_word(text: &str) -> (Self, bool) {
        if text.len() <= N {
            return (Self::copy_prefix(text, text.len()), false);
        }
        let (prefix, _) = Self::truncated(text);
        // The byte after the cut tells whether the cut fell between words.
        let cut_between_words = text.as_bytes().get(prefix.len).is_some_and(|b| b.is_ascii_whitespace());
        let end = if cut_between_words {
            prefix.len
        } else {
            prefix.as_str().rfind(|c: char| c.is_ascii_whitespace()).unwrap_or(0)
        };
        let kept = text.get(..end).unwrap_or("").trim_end();
        (Self::copy_prefix(kept, kept.len()), true)
    }

    /// Copies `text[..end]`; `end` must be a char boundary no larger than `N`.
    fn copy_prefix(text: &str, end: usize) -> Self {
        let mut out = Self::new();
        if let (Some(dst), Some(src)) = (out.bytes.get_mut(..end), text.as_bytes().get(..end)) {
            dst.copy_from_slice(src);
            out.len = end;
        }
        out
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so the bytes are valid UTF-8.
        core::str::from_utf8(self.bytes.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }

    /// True when the string is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> core::fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_stops_at_capacity() {
        let mut list: BoundedVec<u32, 2> = BoundedVec::new();
        assert_eq!(list.push(1), Ok(()));
        assert_eq!(list.push(2), Ok(()));
        assert!(list.is_full());
        assert_eq!(list.push(3), Err(CapacityExceeded));
        assert_eq!(list.as_slice(), &[1, 2]);
    }

    #[test]
    fn fixed_str_cuts_at_char_boundary() {
        let (s, cut) = FixedStr::<4>::truncated("abé!"); // 'é' is two bytes: a b é = 4
        assert_eq!((s.as_str(), cut), ("abé", true));
        let (s, cut) = FixedStr::<3>::truncated("abé");
        assert_eq!((s.as_str(), cut), ("ab", true));
        let (s, cut) = FixedStr::<8>::truncated("abc");
        assert_eq!((s.as_str(), cut), ("abc", false));
    }

    #[test]
    fn fixed_str_cuts_between_words() {
        let (s, cut) = FixedStr::<12>::truncated_at_word("quiet loglevel=7 root=x");
        assert_eq!((s.as_str(), cut), ("quiet", true));
        let (s, cut) = FixedStr::<16>::truncated_at_word("quiet loglevel=7 root=x");
        assert_eq!((s.as_str(), cut), ("quiet loglevel=7", true));
        let (s, cut) = FixedStr::<4>::truncated_at_word("abcdefgh");
        assert_eq!((s.as_str(), cut), ("", true));
        let (s, cut) = FixedStr::<23>::truncated_at_word("quiet loglevel=7 root=x");
        assert_eq!((s.as_str(), cut), ("quiet loglevel=7 root=x", false));
    }
}
