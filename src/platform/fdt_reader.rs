//! A validating, panic-free reader for flattened device trees (DTB, format v17).
//!
//! Why not the `fdt` crate? `fdt` 0.1.5 panics on malformed input (`expect`,
//! `unwrap`, `assert_eq!` and unchecked slicing in its node walker and property
//! parser), and it also panics on *valid* trees in which a node has been replaced by
//! `FDT_NOP` tokens between siblings, which is exactly what QEMU's `raspi4b` machine
//! does to the nodes it cannot emulate when given `-dtb`. A boot-time parser must
//! never panic on firmware input, so this reader validates the whole blob once in
//! [`FdtReader::new`] and then walks it with checked accessors only. It also tracks
//! parents, which address translation needs and `fdt` does not provide.
//!
//! Layout (devicetree specification v0.4, chapter 5): a 40-byte big-endian header,
//! then a memory reservation block of (address, size) u64 pairs ending in (0, 0), a
//! structure block of 4-byte-aligned tokens, and a strings block of NUL-terminated
//! property names.

use super::bounded::BoundedVec;
use super::dt_error::{Block, DtError};

/// `FDT_BEGIN_NODE`: followed by the node's NUL-terminated name, padded to 4 bytes.
const FDT_BEGIN_NODE: u32 = 0x1;
/// `FDT_END_NODE`: closes the innermost open node.
const FDT_END_NODE: u32 = 0x2;
/// `FDT_PROP`: followed by value length, name offset, and the padded value.
const FDT_PROP: u32 = 0x3;
/// `FDT_NOP`: ignored (left where a node or property was deleted in place).
const FDT_NOP: u32 = 0x4;
/// `FDT_END`: the end of the structure block.
const FDT_END: u32 = 0x9;

/// The magic number in the first header word.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the version-17 header.
const HEADER_SIZE: usize = 40;
/// The format version this reader understands (the only one in use since 2008).
const SUPPORTED_VERSION: u32 = 17;
/// Deepest node nesting accepted, root = depth 1. Real trees stay below 8; the bound
/// keeps parent stacks fixed-size.
pub const MAX_DEPTH: usize = 16;

/// A node in a validated tree: the offset of its `FDT_BEGIN_NODE` token.
///
/// Only [`FdtReader`] makes these, always pointing at a real node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Node {
    offset: usize,
}

impl Node {
    /// Offset of the node's token within the structure block (for error reports).
    pub fn offset(self) -> usize {
        self.offset
    }
}

/// The ancestors of a node, root first, parent last.
pub type Ancestors = BoundedVec<Node, MAX_DEPTH>;

/// The most children of the root that [`FdtReader::new`] records (QEMU's virt tree has
/// about 45, the Pi 4's about 30); a root with more has its children found by walking.
pub const MAX_TOP_LEVEL: usize = 128;

/// The root's children, in order.
type TopLevel = BoundedVec<Node, MAX_TOP_LEVEL>;

/// One property of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Property<'a> {
    /// The property name, from the strings block.
    pub name: &'a str,
    /// The raw value bytes.
    pub value: &'a [u8],
}

/// One token of the structure block.
#[derive(Clone, Copy)]
enum Token<'a> {
    BeginNode { name: &'a [u8] },
    EndNode,
    Prop { name_offset: u32, value: &'a [u8] },
    Nop,
    End,
}

/// Reads a big-endian u32 at `offset`, or `None` past the end.
fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word: [u8; 4] = bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Reads a big-endian u64 at `offset`, or `None` past the end.
fn be64(bytes: &[u8], offset: usize) -> Option<u64> {
    let word: [u8; 8] = bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_be_bytes(word))
}

/// `value` rounded up to a multiple of 4, or `None` on overflow.
fn align4(value: usize) -> Option<usize> {
    Some(value.checked_add(3)? & !3)
}

/// The bytes before the first NUL in `bytes`, or `None` if there is no NUL.
fn until_nul(bytes: &[u8]) -> Option<&[u8]> {
    let end = bytes.iter().position(|&b| b == 0)?;
    bytes.get(..end)
}

/// Reads a value of `cells` big-endian 32-bit cells (0, 1 or 2) from the start of
/// `bytes`. Zero cells read as 0 (a `#size-cells = <0>` bus has no sizes).
pub fn read_cells(bytes: &[u8], cells: u32) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => be32(bytes, 0).map(u64::from),
        2 => be64(bytes, 0),
        _ => None,
    }
}

/// Reads a 1- or 2-cell number property value (its length decides which).
pub fn read_number(value: &[u8]) -> Option<u64> {
    match value.len() {
        4 => read_cells(value, 1),
        8 => read_cells(value, 2),
        _ => None,
    }
}

/// A validated flattened device tree.
#[derive(Clone, Copy, Debug)]
pub struct FdtReader<'a> {
    structure: &'a [u8],
    strings: &'a [u8],
    reservations: &'a [u8],
    total_size: u32,
    boot_cpuid_phys: u32,
    root: Node,
    /// The root's children, recorded by the validating walk, or `None` when there are
    /// more than [`MAX_TOP_LEVEL`]. Boot enumerates them and looks up `/chosen`, `/cpus`,
    /// `/reserved-memory` and the console by path; without the list each of those walks
    /// every token of the tree (skipping a child's subtree means reading it).
    top_level: Option<TopLevel>,
}

impl<'a> FdtReader<'a> {
    /// Validates `blob` and returns a reader over it.
    ///
    /// Checks, in order:
    /// 1. the slice holds a 40-byte header;
    /// 2. the magic is 0xd00dfeed;
    /// 3. `totalsize` covers the header and fits in the slice (bytes past it are ignored);
    /// 4. `version` >= 17 and `last_comp_version` <= 17;
    /// 5. the structure and strings blocks lie inside `totalsize`, the structure block
    ///    4-byte aligned;
    /// 6. the memory reservation block is 8-byte aligned and its (0, 0) terminator lies
    ///    inside `totalsize`;
    /// 7. the structure block is a sequence of known tokens forming exactly one root
    ///    node, balanced, at most [`MAX_DEPTH`] deep, properties before child nodes,
    ///    every name a NUL-terminated UTF-8 string, ending in `FDT_END`.
    pub fn new(blob: &'a [u8]) -> Result<Self, DtError> {
        // 1. Header present.
        if blob.len() < HEADER_SIZE {
            return Err(DtError::TooShort { len: blob.len() });
        }
        let field = |index: usize| be32(blob, index * 4).unwrap_or(0);
        // 2. Magic.
        let magic = field(0);
        if magic != FDT_MAGIC {
            return Err(DtError::BadMagic { found: magic });
        }
        // 3. Total size.
        let total_size = field(1);
        let total = total_size as usize;
        if total < HEADER_SIZE || total > blob.len() {
            return Err(DtError::BadTotalSize { total_size, available: blob.len() });
        }
        let blob = blob.get(..total).ok_or(DtError::BadTotalSize { total_size, available: blob.len() })?;
        // 4. Version.
        let (version, last_compatible) = (field(5), field(6));
        if version < SUPPORTED_VERSION || last_compatible > SUPPORTED_VERSION {
            return Err(DtError::UnsupportedVersion { version, last_compatible });
        }
        // 5. Structure and strings blocks.
        let block = |offset: u32, size: u32, which: Block| {
            let start = offset as usize;
            let end = start.checked_add(size as usize);
            end.and_then(|end| blob.get(start..end)).ok_or(DtError::BlockOutOfBounds { block: which })
        };
        let off_structure = field(2);
        if !off_structure.is_multiple_of(4) {
            return Err(DtError::BlockOutOfBounds { block: Block::Structure });
        }
        let structure = block(off_structure, field(9), Block::Structure)?;
        let strings = block(field(3), field(8), Block::Strings)?;
        // 6. Memory reservation block.
        let off_reservations = field(4) as usize;
        let reservations = blob
            .get(off_reservations..)
            .filter(|_| off_reservations.is_multiple_of(8))
            .ok_or(DtError::BlockOutOfBounds { block: Block::MemReserve })?;
        if !reservations_terminated(reservations) {
            return Err(DtError::BlockOutOfBounds { block: Block::MemReserve });
        }
        // 7. Structure block.
        let (root, top_level) = validate_structure(structure, strings)?;
        Ok(FdtReader { structure, strings, reservations, total_size, boot_cpuid_phys: field(7), root, top_level })
    }

    /// The header's `totalsize`: the bytes to keep reserved while the tree is in use.
    pub fn total_size(&self) -> u32 {
        self.total_size
    }

    /// The header's `boot_cpuid_phys`: the `reg` of the CPU that booted.
    pub fn boot_cpuid_phys(&self) -> u32 {
        self.boot_cpuid_phys
    }

    /// The root node.
    pub fn root(&self) -> Node {
        self.root
    }

    /// The `/memreserve/` entries as (address, size) pairs, without the terminator.
    pub fn memory_reservations(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let block = self.reservations;
        (0..)
            .map(move |index: usize| {
                let offset = index.checked_mul(16)?;
                Some((be64(block, offset)?, be64(block, offset.checked_add(8)?)?))
            })
            .map_while(|entry| entry.filter(|&pair| pair != (0, 0)))
    }

    /// The token at `offset` and the offset of the one after it.
    fn token(&self, offset: usize) -> Option<(Token<'a>, usize)> {
        token_at(self.structure, offset)
    }

    /// The string at `offset` in the strings block ("" if not valid, which a
    /// validated tree never has).
    fn string_at(&self, offset: u32) -> &'a str {
        self.strings
            .get(offset as usize..)
            .and_then(until_nul)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }

    /// The node's name, with its unit address (`serial@7e201000`); "" for the root.
    pub fn name(&self, node: Node) -> &'a str {
        match self.token(node.offset) {
            Some((Token::BeginNode { name }, _)) => core::str::from_utf8(name).unwrap_or(""),
            _ => "",
        }
    }

    /// Offset just past the node's `FDT_BEGIN_NODE` token and name.
    fn body(&self, node: Node) -> Option<usize> {
        self.token(node.offset).map(|(_, next)| next)
    }

    /// The node's properties, in order.
    pub fn properties(&self, node: Node) -> Properties<'_, 'a> {
        Properties { reader: self, offset: self.body(node) }
    }

    /// The value of the node's property `name`.
    ///
    /// Names are compared as bytes in the strings block: no UTF-8 check and no search
    /// for the terminator per property (boot looks up many properties of many nodes).
    pub fn property(&self, node: Node, name: &str) -> Option<&'a [u8]> {
        self.raw_properties(node).find(|&(name_offset, _)| self.name_is(name_offset, name)).map(|(_, value)| value)
    }

    /// The node's properties as (name offset in the strings block, value).
    fn raw_properties(&self, node: Node) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        let mut offset = self.body(node);
        core::iter::from_fn(move || {
            loop {
                let (token, next) = self.token(offset?)?;
                match token {
                    Token::Nop => offset = Some(next),
                    Token::Prop { name_offset, value } => {
                        offset = Some(next);
                        return Some((name_offset, value));
                    }
                    Token::BeginNode { .. } | Token::EndNode | Token::End => {
                        offset = None;
                        return None;
                    }
                }
            }
        })
    }

    /// True when the string at `offset` in the strings block is exactly `name` (its
    /// bytes, then a NUL).
    fn name_is(&self, offset: u32, name: &str) -> bool {
        let name = name.as_bytes();
        self.strings
            .get(offset as usize..)
            .and_then(|rest| rest.get(..name.len().checked_add(1)?))
            .is_some_and(|candidate| candidate.last() == Some(&0) && candidate[..name.len()] == *name)
    }

    /// The node's direct children, in order.
    pub fn children(&self, node: Node) -> Children<'_, 'a> {
        match &self.top_level {
            Some(listed) if node == self.root => {
                Children { reader: self, offset: None, listed: Some(listed.as_slice().iter()) }
            }
            _ => Children { reader: self, offset: self.body(node), listed: None },
        }
    }

    /// Every node, depth-first in blob order, the root first.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + '_ {
        let mut offset = Some(self.root.offset);
        core::iter::from_fn(move || {
            loop {
                let (token, next) = self.token(offset?)?;
                let here = offset?;
                offset = Some(next);
                match token {
                    Token::BeginNode { .. } => return Some(Node { offset: here }),
                    Token::End => {
                        offset = None;
                        return None;
                    }
                    Token::EndNode | Token::Prop { .. } | Token::Nop => {}
                }
            }
        })
    }

    /// The node's ancestors, root first and parent last (empty for the root).
    ///
    /// The blob has no parent links, so this walks from the root keeping a stack.
    pub fn ancestors(&self, node: Node) -> Option<Ancestors> {
        let mut stack = Ancestors::new();
        let mut offset = self.root.offset;
        // With the root's children recorded, the walk starts at the last of them at or
        // before `node` instead of at the root: the walk from the root would reach that
        // child with the root alone on its stack and match nothing before it.
        if let Some(listed) = &self.top_level {
            let listed = listed.as_slice();
            let after = listed.partition_point(|child| child.offset <= node.offset);
            if let Some(child) = after.checked_sub(1).and_then(|i| listed.get(i)) {
                stack.push(self.root).ok()?;
                offset = child.offset;
            }
        }
        loop {
            let (token, next) = self.token(offset)?;
            match token {
                Token::BeginNode { .. } => {
                    if offset == node.offset {
                        return Some(stack);
                    }
                    stack.push(Node { offset }).ok()?;
                }
                Token::EndNode => {
                    stack.pop()?;
                }
                Token::End => return None,
                Token::Prop { .. } | Token::Nop => {}
            }
            offset = next;
        }
    }

    /// The node's parent (`None` for the root).
    pub fn parent(&self, node: Node) -> Option<Node> {
        self.ancestors(node)?.last().copied()
    }

    /// The node at absolute `path` (`/soc/serial@7e201000`). A component without a
    /// unit address matches the first child whose name before `@` equals it.
    pub fn find_path(&self, path: &str) -> Option<Node> {
        let relative = path.strip_prefix('/')?;
        self.find_relative(self.root, relative)
    }

    /// The node at `path` below `start`.
    fn find_relative(&self, start: Node, path: &str) -> Option<Node> {
        path.split('/').filter(|component| !component.is_empty()).try_fold(start, |node, component| {
            self.children(node).find(|&child| name_matches(self.raw_name(child), component))
        })
    }

    /// The node's name as bytes: what [`Self::name`] returns, without its UTF-8 check
    /// (every node name of a validated tree is UTF-8).
    fn raw_name(&self, node: Node) -> &'a [u8] {
        match self.token(node.offset) {
            Some((Token::BeginNode { name }, _)) => name,
            _ => b"",
        }
    }

    /// Resolves a path that may start with an alias from `/aliases` (`serial0`, or
    /// `serial0/child`), as `stdout-path` and friends allow.
    pub fn resolve(&self, path: &str) -> Option<Node> {
        if path.starts_with('/') {
            return self.find_path(path);
        }
        let (alias, rest) = path.split_once('/').unwrap_or((path, ""));
        let aliases = self.find_path("/aliases")?;
        let target = self.property_str(aliases, alias)?;
        if !target.starts_with('/') {
            return None; // aliases must name absolute paths; no alias chains
        }
        let node = self.find_path(target)?;
        self.find_relative(node, rest)
    }

    /// The node whose `phandle` (or legacy `linux,phandle`) is `phandle`.
    ///
    /// One pass over the structure block's tokens; the value is compared before the
    /// name, because few values equal the phandle. As in [`Self::properties`], a node's
    /// properties are those between its `FDT_BEGIN_NODE` and its first child or end.
    pub fn find_phandle(&self, phandle: u32) -> Option<Node> {
        let wanted = Some(u64::from(phandle));
        let mut offset = self.root.offset;
        // The node whose properties are being read, if any.
        let mut current = None;
        loop {
            let (token, next) = self.token(offset)?;
            match token {
                Token::BeginNode { .. } => current = Some(Node { offset }),
                Token::EndNode => current = None,
                Token::Prop { name_offset, value } => {
                    if current.is_some()
                        && read_number(value) == wanted
                        && (self.name_is(name_offset, "phandle") || self.name_is(name_offset, "linux,phandle"))
                    {
                        return current;
                    }
                }
                Token::End => return None,
                Token::Nop => {}
            }
            offset = next;
        }
    }

    /// The property as a string: its bytes up to the first NUL, if valid UTF-8.
    pub fn property_str(&self, node: Node, name: &str) -> Option<&'a str> {
        let value = self.property(node, name)?;
        core::str::from_utf8(until_nul(value)?).ok()
    }

    /// The property as a list of NUL-separated strings (`compatible`); an invalid
    /// or unterminated list yields nothing.
    pub fn property_strings(&self, node: Node, name: &str) -> impl Iterator<Item = &'a str> {
        let value = self
            .property(node, name)
            .filter(|v| v.last() == Some(&0))
            .and_then(|v| core::str::from_utf8(v).ok())
            .unwrap_or("");
        value.split_terminator('\0')
    }

    /// The property as a single u32 (exactly 4 bytes).
    pub fn property_u32(&self, node: Node, name: &str) -> Option<u32> {
        let value = self.property(node, name)?;
        if value.len() == 4 { be32(value, 0) } else { None }
    }

    /// True when `compatible` lists `compatible`.
    pub fn is_compatible(&self, node: Node, compatible: &str) -> bool {
        self.property_strings(node, "compatible").any(|c| c == compatible)
    }

    /// True unless `status` says otherwise: absent, `okay` and `ok` mean enabled.
    pub fn is_enabled(&self, node: Node) -> bool {
        match self.property(node, "status") {
            None => true,
            Some(_) => matches!(self.property_str(node, "status"), Some("okay" | "ok")),
        }
    }

    /// The first enabled node, depth-first, compatible with any of `compatibles`.
    pub fn find_compatible(&self, compatibles: &[&str]) -> Option<Node> {
        let [found] = self.find_compatible_each([compatibles]);
        found
    }

    /// For each list of `wanted`, what [`Self::find_compatible`] returns for it, in one
    /// walk over the nodes instead of one per list (boot looks for five devices; each
    /// walk reads every token of the tree).
    pub fn find_compatible_each<const N: usize>(&self, wanted: [&[&str]; N]) -> [Option<Node>; N] {
        let mut found = [None; N];
        let mut missing = N;
        for node in self.nodes() {
            if missing == 0 {
                break;
            }
            // `compatible` first, as bytes (a cheap filter with no UTF-8 check); the
            // exact rule and `status` only run for the few nodes that pass it.
            let Some(value) = self.property(node, "compatible") else { continue };
            for (slot, compatibles) in found.iter_mut().zip(wanted) {
                if slot.is_none()
                    && value.split(|&byte| byte == 0).any(|entry| compatibles.iter().any(|c| c.as_bytes() == entry))
                    && self.property_strings(node, "compatible").any(|c| compatibles.contains(&c))
                    && self.is_enabled(node)
                {
                    *slot = Some(node);
                    missing -= 1;
                }
            }
        }
        found
    }

    /// `#address-cells` of `node` (the cells its children's addresses use); 2 if absent.
    pub fn address_cells(&self, node: Node) -> u32 {
        self.property_u32(node, "#address-cells").unwrap_or(2)
    }

    /// `#size-cells` of `node` (the cells its children's sizes use); 1 if absent.
    pub fn size_cells(&self, node: Node) -> u32 {
        self.property_u32(node, "#size-cells").unwrap_or(1)
    }
}

/// True when node `name` is what path `component` asks for.
/// (`name` as bytes: `@` is ASCII, so splitting the bytes at it splits the string.)
fn name_matches(name: &[u8], component: &str) -> bool {
    let component = component.as_bytes();
    if component.contains(&b'@') {
        name == component
    } else {
        name.split(|&byte| byte == b'@').next() == Some(component)
    }
}

/// Iterator over a node's properties; see [`FdtReader::properties`].
pub struct Properties<'r, 'a> {
    reader: &'r FdtReader<'a>,
    offset: Option<usize>,
}

impl<'a> Iterator for Properties<'_, 'a> {
    type Item = Property<'a>;
    fn next(&mut self) -> Option<Property<'a>> {
        loop {
            let (token, next) = self.reader.token(self.offset?)?;
            match token {
                Token::Nop => self.offset = Some(next),
                Token::Prop { name_offset, value } => {
                    self.offset = Some(next);
                    return Some(Property { name: self.reader.string_at(name_offset), value });
                }
                Token::BeginNode { .. } | Token::EndNode | Token::End => {
                    self.offset = None;
                    return None;
                }
            }
        }
    }
}

/// Iterator over a node's children; see [`FdtReader::children`].
pub struct Children<'r, 'a> {
    reader: &'r FdtReader<'a>,
    offset: Option<usize>,
    /// The root's children as [`FdtReader::new`] recorded them, when this is the root.
    listed: Option<core::slice::Iter<'r, Node>>,
}

impl Iterator for Children<'_, '_> {
    type Item = Node;
    fn next(&mut self) -> Option<Node> {
        if let Some(listed) = &mut self.listed {
            return listed.next().copied();
        }
        loop {
            let here = self.offset?;
            let (token, next) = self.reader.token(here)?;
            match token {
                Token::Nop | Token::Prop { .. } => self.offset = Some(next),
                Token::BeginNode { .. } => {
                    self.offset = end_of_subtree(self.reader.structure, here);
                    return Some(Node { offset: here });
                }
                Token::EndNode | Token::End => {
                    self.offset = None;
                    return None;
                }
            }
        }
    }
}

/// The offset just past the `FDT_END_NODE` matching the node at `offset`.
fn end_of_subtree(structure: &[u8], offset: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut offset = offset;
    loop {
        let (token, next) = token_at(structure, offset)?;
        match token {
            Token::BeginNode { .. } => depth += 1,
            Token::EndNode => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(next);
                }
            }
            Token::End => return None,
            Token::Prop { .. } | Token::Nop => {}
        }
        offset = next;
    }
}

/// Decodes the token at `offset`; `None` if it is unknown or runs past the block.
/// The returned next offset is always greater than `offset`.
fn token_at(structure: &[u8], offset: usize) -> Option<(Token<'_>, usize)> {
    let after_tag = offset.checked_add(4)?;
    match be32(structure, offset)? {
        FDT_BEGIN_NODE => {
            let name = until_nul(structure.get(after_tag..)?)?;
            let next = align4(after_tag.checked_add(name.len())?.checked_add(1)?)?;
            Some((Token::BeginNode { name }, next))
        }
        FDT_END_NODE => Some((Token::EndNode, after_tag)),
        FDT_PROP => {
            let len = be32(structure, after_tag)? as usize;
            let name_offset = be32(structure, after_tag.checked_add(4)?)?;
            let value_start = after_tag.checked_add(8)?;
            let value_end = value_start.checked_add(len)?;
            let value = structure.get(value_start..value_end)?;
            Some((Token::Prop { name_offset, value }, align4(value_end)?))
        }
        FDT_NOP => Some((Token::Nop, after_tag)),
        FDT_END => Some((Token::End, after_tag)),
        _ => None,
    }
}

/// True when the reservation block has its (0, 0) terminator within bounds.
fn reservations_terminated(block: &[u8]) -> bool {
    block.chunks_exact(16).any(|entry| entry.iter().all(|&b| b == 0))
}

/// Check 7 of [`FdtReader::new`]; returns the root node.
fn validate_structure(structure: &[u8], strings: &[u8]) -> Result<(Node, Option<TopLevel>), DtError> {
    let mut offset = 0usize;
    let mut depth = 0usize;
    let mut root: Option<Node> = None;
    let mut top_level = Some(TopLevel::new());
    // has_children[d]: the open node at depth d already has a child node, so a
    // property after it would be out of order.
    let mut has_children = [false; MAX_DEPTH + 1];
    loop {
        let malformed = DtError::MalformedStructure { offset };
        let (token, next) = token_at(structure, offset).ok_or(malformed)?;
        match token {
            Token::Nop => {}
            Token::BeginNode { name } => {
                if depth == 0 {
                    if root.is_some() {
                        return Err(malformed); // a second top-level node
                    }
                    root = Some(Node { offset });
                }
                if depth >= MAX_DEPTH {
                    return Err(DtError::TooDeep { offset });
                }
                core::str::from_utf8(name).map_err(|_| DtError::BadName { offset })?;
                // A child of the root: recorded while there is room, else none are.
                if depth == 1
                    && let Some(list) = &mut top_level
                    && list.push(Node { offset }).is_err()
                {
                    top_level = None;
                }
                if let Some(flag) = has_children.get_mut(depth) {
                    *flag = true;
                }
                depth += 1;
                if let Some(flag) = has_children.get_mut(depth) {
                    *flag = false;
                }
            }
            Token::Prop { name_offset, .. } => {
                if depth == 0 || has_children.get(depth).copied().unwrap_or(true) {
                    return Err(malformed);
                }
                let name_ok = strings
                    .get(name_offset as usize..)
                    .and_then(until_nul)
                    .is_some_and(|bytes| core::str::from_utf8(bytes).is_ok());
                if !name_ok {
                    return Err(DtError::BadName { offset: name_offset as usize });
                }
            }
            Token::EndNode => {
                depth = depth.checked_sub(1).ok_or(malformed)?;
            }
            Token::End => {
                if depth != 0 {
                    return Err(malformed);
                }
                return root.map(|root| (root, top_level)).ok_or(DtError::NoRoot);
            }
        }
        offset = next;
    }
}

/// Builds small device trees in memory for tests, so edge cases need no fixture.
#[cfg(test)]
pub(crate) mod builder {
    extern crate std;
    use std::vec::Vec;

    /// A property value made of 32-bit cells.
    pub fn cells(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// A property value made of NUL-terminated strings.
    pub fn strs(values: &[&str]) -> Vec<u8> {
        values.iter().flat_map(|s| s.bytes().chain([0])).collect()
    }

    /// A device tree under construction: call `begin`/`prop`/`end` in tree order.
    #[derive(Default)]
    pub struct FdtBuilder {
        structure: Vec<u8>,
        strings: Vec<u8>,
        reservations: Vec<(u64, u64)>,
    }

    impl FdtBuilder {
        pub fn new() -> Self {
            Self::default()
        }

        fn word(&mut self, value: u32) {
            self.structure.extend_from_slice(&value.to_be_bytes());
        }

        fn pad(&mut self) {
            while !self.structure.len().is_multiple_of(4) {
                self.structure.push(0);
            }
        }

        pub fn begin(&mut self, name: &str) -> &mut Self {
            self.word(super::FDT_BEGIN_NODE);
            self.structure.extend_from_slice(name.as_bytes());
            self.structure.push(0);
            self.pad();
            self
        }

        pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
            let name_offset = self.string_offset(name);
            self.word(super::FDT_PROP);
            self.word(value.len() as u32);
            self.word(name_offset);
            self.structure.extend_from_slice(value);
            self.pad();
            self
        }

        pub fn nop(&mut self) -> &mut Self {
            self.word(super::FDT_NOP);
            self
        }

        pub fn end(&mut self) -> &mut Self {
            self.word(super::FDT_END_NODE);
            self
        }

        pub fn reserve(&mut self, address: u64, size: u64) -> &mut Self {
            self.reservations.push((address, size));
            self
        }

        fn string_offset(&mut self, name: &str) -> u32 {
            let offset = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            offset
        }

        /// The finished blob: header, reservations, structure, strings.
        pub fn build(&self) -> Vec<u8> {
            let mut structure = self.structure.clone();
            structure.extend_from_slice(&super::FDT_END.to_be_bytes());
            let off_reservations = 40u32;
            let reservation_bytes = (self.reservations.len() as u32 + 1) * 16;
            let off_structure = off_reservations + reservation_bytes;
            let off_strings = off_structure + structure.len() as u32;
            let total = off_strings + self.strings.len() as u32;
            let header = [
                super::FDT_MAGIC,
                total,
                off_structure,
                off_strings,
                off_reservations,
                17,
                16,
                0,
                self.strings.len() as u32,
                structure.len() as u32,
            ];
            let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
            for &(address, size) in self.reservations.iter().chain([(0, 0)].iter()) {
                blob.extend_from_slice(&address.to_be_bytes());
                blob.extend_from_slice(&size.to_be_bytes());
            }
            blob.extend_from_slice(&structure);
            blob.extend_from_slice(&self.strings);
            blob
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::builder::{FdtBuilder, cells, strs};
    use super::*;
    use std::vec::Vec;

    static VIRT: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-default.dtb");
    static RPI4: &[u8] = include_bytes!("../../tests/fixtures/dtb/bcm2711-rpi-4-b.dtb");

    /// The root's children found by walking the tokens, as for any other node.
    fn walked_top_level(fdt: &FdtReader<'_>) -> Vec<Node> {
        fdt.nodes().filter(|&node| fdt.ancestors(node).is_some_and(|a| a.len() == 1)).collect()
    }

    #[test]
    fn recorded_top_level_is_what_a_walk_finds() {
        for blob in [VIRT, RPI4, &sample()[..]] {
            let fdt = FdtReader::new(blob).unwrap();
            assert!(fdt.top_level.is_some());
            let listed: Vec<Node> = fdt.children(fdt.root()).collect();
            assert_eq!(listed, walked_top_level(&fdt));
            assert!(!listed.is_empty());
        }
    }

    /// The ancestors by the walk from the root (the rule before the recorded children).
    fn walked_ancestors(fdt: &FdtReader<'_>, node: Node) -> Option<Vec<Node>> {
        let mut stack = Vec::new();
        let mut offset = fdt.root.offset;
        loop {
            let (token, next) = token_at(fdt.structure, offset)?;
            match token {
                Token::BeginNode { .. } if offset == node.offset => return Some(stack),
                Token::BeginNode { .. } => stack.push(Node { offset }),
                Token::EndNode => {
                    stack.pop()?;
                }
                Token::End => return None,
                Token::Prop { .. } | Token::Nop => {}
            }
            offset = next;
        }
    }

    #[test]
    fn ancestors_from_the_recorded_children_are_those_from_the_root() {
        for blob in [VIRT, RPI4, &sample()[..]] {
            let fdt = FdtReader::new(blob).unwrap();
            let mut deep = 0;
            for node in fdt.nodes() {
                let ancestors = fdt.ancestors(node).map(|a| a.as_slice().to_vec());
                assert_eq!(ancestors, walked_ancestors(&fdt, node));
                deep += usize::from(ancestors.is_some_and(|a| a.len() > 1));
            }
            assert!(deep > 0);
            // Offsets that are not nodes (a property, past the end) find nothing either way.
            for offset in [4, 8, fdt.structure.len(), fdt.structure.len() + 4] {
                let node = Node { offset };
                assert_eq!(fdt.ancestors(node).map(|a| a.as_slice().to_vec()), walked_ancestors(&fdt, node));
            }
        }
    }

    #[test]
    fn a_root_with_more_children_than_recorded_is_walked() {
        let names: Vec<std::string::String> = (0..=MAX_TOP_LEVEL).map(|i| std::format!("n@{i}")).collect();
        let mut builder = FdtBuilder::new();
        builder.begin("");
        for name in &names {
            builder.begin(name).nop().begin("child").end().end();
        }
        let blob = builder.end().build();
        let fdt = FdtReader::new(&blob).unwrap();
        assert!(fdt.top_level.is_none());
        let children: Vec<Node> = fdt.children(fdt.root()).collect();
        assert_eq!(children.len(), MAX_TOP_LEVEL + 1);
        assert_eq!(children, walked_top_level(&fdt));
        let last = fdt.find_path(&std::format!("/n@{MAX_TOP_LEVEL}/child")).unwrap();
        assert_eq!(fdt.name(last), "child");
        // Exactly MAX_TOP_LEVEL children still fit.
        let mut builder = FdtBuilder::new();
        builder.begin("");
        for name in &names[..MAX_TOP_LEVEL] {
            builder.begin(name).end();
        }
        let blob = builder.end().build();
        let fdt = FdtReader::new(&blob).unwrap();
        assert_eq!(fdt.top_level.map(|list| list.len()), Some(MAX_TOP_LEVEL));
        assert_eq!(fdt.children(fdt.root()).count(), MAX_TOP_LEVEL);
    }

    fn sample() -> Vec<u8> {
        FdtBuilder::new()
            .reserve(0x1000, 0x2000)
            .begin("")
            .prop("#address-cells", &cells(&[1]))
            .prop("#size-cells", &cells(&[1]))
            .begin("aliases")
            .prop("uart", &strs(&["/bus@1000/uart@20"]))
            .end()
            .nop()
            .begin("bus@1000")
            .nop()
            .prop("compatible", &strs(&["simple-bus", "other"]))
            .prop("phandle", &cells(&[7]))
            .begin("uart@20")
            .prop("status", &strs(&["okay"]))
            .end()
            .nop()
            .begin("uart@40")
            .prop("status", &strs(&["disabled"]))
            .end()
            .end()
            .end()
            .build()
    }

    #[test]
    fn phandles_and_property_names_match_exactly() {
        let blob = FdtBuilder::new()
            .begin("")
            .begin("a")
            // A value equal to the phandle under another name is not a phandle.
            .prop("phandlex", &cells(&[5]))
            .prop("phandl", &cells(&[5]))
            .begin("child")
            .prop("linux,phandle", &cells(&[6]))
            .end()
            .end()
            .begin("b")
            .nop()
            .prop("phandle", &[0, 0, 0, 0, 0, 0, 0, 5])
            .end()
            .end()
            .build();
        let fdt = FdtReader::new(&blob).unwrap();
        let a = fdt.find_path("/a").unwrap();
        let b = fdt.find_path("/b").unwrap();
        let child = fdt.find_path("/a/child").unwrap();
        assert_eq!(fdt.find_phandle(5), Some(b));
        assert_eq!(fdt.find_phandle(6), Some(child));
        assert_eq!(fdt.find_phandle(7), None);
        assert_eq!(fdt.property(a, "phandle"), None);
        assert_eq!(fdt.property(a, "phandl"), Some(&cells(&[5])[..]));
        assert_eq!(fdt.property(a, "phand"), None);
        assert_eq!(fdt.property_u32(child, "linux,phandle"), Some(6));
    }

    #[test]
    fn walks_a_built_tree() {
        let blob = sample();
        let fdt = FdtReader::new(&blob).unwrap();
        let names: Vec<&str> = fdt.nodes().map(|n| fdt.name(n)).collect();
        assert_eq!(names, ["", "aliases", "bus@1000", "uart@20", "uart@40"]);
        let bus = fdt.find_path("/bus").unwrap();
        assert_eq!(fdt.name(bus), "bus@1000");
        let children: Vec<&str> = fdt.children(bus).map(|n| fdt.name(n)).collect();
        assert_eq!(children, ["uart@20", "uart@40"]);
        assert_eq!(fdt.find_phandle(7), Some(bus));
        assert!(fdt.is_compatible(bus, "other"));
        let uart = fdt.resolve("uart").unwrap();
        assert_eq!(fdt.name(uart), "uart@20");
        assert!(fdt.is_enabled(uart));
        assert!(!fdt.is_enabled(fdt.find_path("/bus@1000/uart@40").unwrap()));
        let ancestors = fdt.ancestors(uart).unwrap();
        assert_eq!(ancestors.as_slice(), &[fdt.root(), bus]);
        assert_eq!(fdt.parent(fdt.root()), None);
        assert_eq!(fdt.memory_reservations().collect::<Vec<_>>(), [(0x1000, 0x2000)]);
        assert_eq!(fdt.address_cells(fdt.root()), 1);
        assert_eq!(fdt.address_cells(bus), 2); // default
    }

    #[test]
    fn reads_qemu_and_pi_fixtures() {
        let virt = FdtReader::new(VIRT).unwrap();
        assert_eq!(virt.total_size(), 0x10_0000);
        assert!(virt.find_path("/pl011@9000000").is_some());
        assert!(virt.find_path("/memory").is_some());
        let pi = FdtReader::new(RPI4).unwrap();
        assert_eq!(pi.memory_reservations().collect::<Vec<_>>(), [(0, 0x1000)]);
        let mini = pi.resolve("serial1").unwrap();
        assert_eq!(pi.name(mini), "serial@7e215040");
        assert_eq!(pi.name(pi.parent(mini).unwrap()), "soc");
    }

    #[test]
    fn header_checks_in_order() {
        let blob = sample();
        assert_eq!(FdtReader::new(&blob[..39]).unwrap_err(), DtError::TooShort { len: 39 });
        let mut bad = blob.clone();
        bad[0] = 0;
        assert_eq!(FdtReader::new(&bad).unwrap_err(), DtError::BadMagic { found: 0x000d_feed });
        let short = &blob[..blob.len() - 1];
        assert!(matches!(FdtReader::new(short), Err(DtError::BadTotalSize { .. })));
        let mut old = blob.clone();
        old[23] = 16; // version 16
        assert!(matches!(FdtReader::new(&old), Err(DtError::UnsupportedVersion { .. })));
        let mut outside = blob.clone();
        outside[36..40].copy_from_slice(&0x10_0000u32.to_be_bytes()); // size_dt_struct
        assert_eq!(FdtReader::new(&outside).unwrap_err(), DtError::BlockOutOfBounds { block: Block::Structure });
    }

    #[test]
    fn rejects_malformed_structures() {
        // Property after a child node.
        let blob = FdtBuilder::new().begin("").begin("a").end().prop("x", &[]).end().build();
        assert!(matches!(FdtReader::new(&blob), Err(DtError::MalformedStructure { .. })));
        // Unbalanced: missing END_NODE.
        let blob = FdtBuilder::new().begin("").begin("a").end().build();
        assert!(matches!(FdtReader::new(&blob), Err(DtError::MalformedStructure { .. })));
        // Two roots.
        let blob = FdtBuilder::new().begin("").end().begin("").end().build();
        assert!(matches!(FdtReader::new(&blob), Err(DtError::MalformedStructure { .. })));
        // No root at all.
        let blob = FdtBuilder::new().build();
        assert_eq!(FdtReader::new(&blob).unwrap_err(), DtError::NoRoot);
        // Too deep.
        let mut builder = FdtBuilder::new();
        for _ in 0..=MAX_DEPTH {
            builder.begin("n");
        }
        for _ in 0..=MAX_DEPTH {
            builder.end();
        }
        assert!(matches!(FdtReader::new(&builder.build()), Err(DtError::TooDeep { .. })));
        // Non-UTF-8 node name.
        let mut blob = FdtBuilder::new().begin("").begin("ab").end().end().build();
        let at = blob.windows(2).position(|w| w == b"ab").unwrap();
        blob[at] = 0xff;
        assert!(matches!(FdtReader::new(&blob), Err(DtError::BadName { .. })));
    }

    #[test]
    fn cells_and_numbers() {
        assert_eq!(read_cells(&[0, 0, 0, 5], 1), Some(5));
        assert_eq!(read_cells(&[0, 0, 0, 1, 0, 0, 0, 2], 2), Some(0x1_0000_0002));
        assert_eq!(read_cells(&[0, 0, 0], 1), None);
        assert_eq!(read_cells(&[], 0), Some(0));
        assert_eq!(read_cells(&[0; 12], 3), None);
        assert_eq!(read_number(&[0, 0, 0, 0xd8]), Some(0xd8));
        assert_eq!(read_number(&[0, 0, 0, 0, 0, 0, 0, 0xe0]), Some(0xe0));
        assert_eq!(read_number(&[0; 6]), None);
    }
}
