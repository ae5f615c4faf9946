//! Virtual memory objects and address regions: the commit state of every VMO page,
//! the mappings of a VMAR and the tree of sub-VMARs, as pure data structures.

pub mod id_table;
pub mod page_list;
pub mod region;
pub mod vmar;
pub mod vmo;
