//! Newtype identifiers and sequence numbers. Never pass a bare `u64` across a crate boundary.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            pub const fn new(v: u64) -> Self {
                Self(v)
            }
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            pub const fn next(self) -> Self {
                Self(self.0 + 1)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// Identifies a table for its whole life; never reused.
    TableId
);
id_type!(
    /// Sequence number of a WAL segment file; segments are replayed in this order.
    SegmentId
);
id_type!(
    /// Sequence number of a Parquet file within a table.
    FileId
);
