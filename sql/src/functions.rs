//! functions (being written)
