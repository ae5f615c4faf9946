//! Virtual memory objects and address regions: the commit state of every VMO page and
//! the mappings of a VMAR, as pure data structures.

pub mod page_list;
pub mod vmar;
pub mod vmo;
