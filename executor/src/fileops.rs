//! fileops
